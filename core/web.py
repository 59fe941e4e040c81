"""Plumbing for the server-rendered pages: who is signed in, and the page session.

Pages know the visitor from the HttpOnly access cookie (`core.auth.user_from_request`).
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
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
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


def login_url(next_path: str) -> str:
    return f"{reverse('login')}?{urlencode({'next': next_path})}"


def safe_next(request: HttpRequest, candidate: str | None, default: str = "/") -> str:
    """`candidate` if it points back into this site, else `default` (no open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _attach(request: HttpRequest, user: User | None) -> None:
    request.page_user = user
    # Rendered by the base layout as JSON for the page scripts (None: signed out).
    request.page_session = page_session(request, user)
    # The token decides, not Django's session (an admin session is no page visitor);
    # templates read `user` through the auth context processor.
    request.user = user if user is not None else AnonymousUser()


def _finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    # The same URL renders differently for each visitor's cookie.
    patch_vary_headers(response, ["Cookie"])
    if getattr(request, "page_user", None) is not None:
        # The page carries an access token: no shared or browser cache may keep it.
        add_never_cache_headers(response)
        response["Cache-Control"] += ", private"
    return response


def any_visitor(view: View) -> View:
    """A page for everyone; the signed-in visitor, if any, is `request.page_user`."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _attach(request, page_user(request))
        return _finish(request, view(request, *args, **kwargs))

    return wrapper


def signed_in(view: View) -> View:
    """A page for signed-in people: anyone else goes to the login page and comes back."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = page_user(request)
        if user is None:
            return HttpResponseRedirect(login_url(request.get_full_path()))
        _attach(request, user)
        return _finish(request, view(request, *args, **kwargs))

    return wrapper


def page_paths(route: str, view: View, name: str) -> list[URLPattern]:
    """A page's route with and without its trailing slash, both answering, no redirect."""
    return [path(route, view, name=name), path(f"{route}/", view)]
