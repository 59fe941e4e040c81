"""Plumbing for the server-rendered pages: who is signed in, and the page session.

Pages know the visitor from the HttpOnly access cookie (`PageVisitorMiddleware`); a
page for signed-in people is Django's `login_required`.
A signed-in page also hands its scripts the very access token the cookie holds, in a
JSON script tag, so they can send the `Authorization: Bearer` header that API writes
demand (the cookie alone never authorizes a write). Such pages are never cached.

Why the token is rendered into the page instead of fetched by a refresh on every page
load: rotation spends a refresh token on each use, and two tabs loading at once would
race on the same cookie, one of them losing (401) and looking logged out. Rendering the
token costs nothing; a refresh happens only when the token has expired, and then the
page scripts serialise it across tabs (see `core/static/core/js/session.js`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from core.auth import user_from_request
from core.errors import NotAuthenticated
from core.models import User

View = Callable[..., HttpResponse]


def page_user(request: HttpRequest) -> User | None:
    """The signed-in user of a page request, or None (an expired cookie is no one)."""
    try:
        return user_from_request(request)
    except NotAuthenticated:
        return None


def page_session(request: HttpRequest, user: User | None) -> dict[str, Any] | None:
    """What the page scripts need about the visitor: who, and the access token."""
    if user is None:
        return None
    return {
        "user": {"id": str(user.pk), "name": user.name},
        "access": request.COOKIES.get(settings.ACCESS_COOKIE_NAME, ""),
    }


def safe_next(request: HttpRequest, candidate: str | None, default: str = "/") -> str:
    """`candidate` if it points back into this site, else `default` (no open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


class PageVisitorMiddleware:
    """The cookie-JWT visitor of the pages: `request.user`, `request.page_user`, no caching.

    On page paths (not the API, which reads its Bearer header, nor the admin, which keeps
    Django's session) the visitor is whoever the access cookie names, so that Django's own
    `login_required` and the `user` of templates work. The same URL renders differently
    for each cookie (`Vary: Cookie`), and a page shown to a signed-in visitor carries
    their access token, so no shared or browser cache may keep it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.skip = (
            "/api/",
            "/admin/",
            "/healthz",
            "/readyz",
            settings.MEDIA_URL,
            settings.STATIC_URL,
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(self.skip):
            return self.get_response(request)
        user = page_user(request)
        request.page_user = user
        # Rendered by the base layout as JSON for the page scripts (None: signed out).
        request.page_session = page_session(request, user)
        request.user = user if user is not None else AnonymousUser()
        response = self.get_response(request)
        patch_vary_headers(response, ["Cookie"])
        if user is not None:
            add_never_cache_headers(response)
        return response


def page_paths(route: str, view: View, name: str) -> list[URLPattern]:
    """A page's route with and without its trailing slash, both answering, no redirect."""
    return [path(route, view, name=name), path(f"{route}/", view)]
