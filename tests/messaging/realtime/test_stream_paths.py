"""The ASGI stream route answers exactly the paths config.urls routes to the stream views.

Were the two to part (the API mounted elsewhere, the route's paths written out again),
streams would silently fall through to Django's view, which holds a thread each.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import resolve, reverse

from messaging.realtime import grip
from messaging.realtime.route import build_stream_path, stream_route
from tests.support.asgi import http_scope

CONVERSATION = "6f9f2a52-3c1e-4d2b-9a57-0b8e7f1c2d3e"


def stream_urls() -> list[tuple[str, str]]:
    """(path, URL name) of both streams, as Django's URLconf gives them."""
    return [
        (reverse(f"api:{grip.INBOX_STREAM}"), grip.INBOX_STREAM),
        (
            reverse(f"api:{grip.CONVERSATION_STREAM}", kwargs={"conversation_id": CONVERSATION}),
            grip.CONVERSATION_STREAM,
        ),
    ]


@pytest.mark.parametrize("slash", ["", "/"], ids=["bare", "slash"])
def test_the_route_takes_every_stream_path_django_routes_to_the_stream_views(slash: str) -> None:
    for path, name in stream_urls():
        assert resolve(path).url_name == name  # Django's side: the GRIP views
        assert stream_route.handles(http_scope(path + slash)), path + slash


@pytest.mark.parametrize(
    "path",
    [
        "/api/chat",
        f"/api/chat/{CONVERSATION}",
        f"/api/chat/{CONVERSATION}/messages",
        f"/api/chat/{CONVERSATION}/read",
        f"/api/chat/{CONVERSATION}/events/more",
        "/inbox",
        "/api/properties/events",
    ],
)
def test_the_route_leaves_every_other_path_to_django(path: str) -> None:
    assert not stream_route.handles(http_scope(path))


def test_a_post_to_a_stream_path_is_left_to_django() -> None:
    scope = http_scope(stream_urls()[0][0])
    scope["method"] = "POST"
    assert not stream_route.handles(scope)


urlpatterns: list = []  # filled below: the API mounted at another prefix


@override_settings(ROOT_URLCONF=__name__)
def test_the_route_follows_the_urlconf_when_the_api_moves() -> None:
    from django.urls import path

    from core.api import api

    urlpatterns[:] = [path("v2/", api.urls)]
    try:
        moved = build_stream_path()
        assert moved.match("/v2/chat/events")
        assert moved.match(f"/v2/chat/{CONVERSATION}/events/")["conversation"] == CONVERSATION
        assert not moved.match("/api/chat/events")
        # and the route as served follows a change of URLconf too
        assert stream_route.handles(http_scope("/v2/chat/events"))
    finally:
        urlpatterns.clear()
