"""The one django-ninja auth class, and the browser cookies for EventSource.

`JWTAuth()` requires a Bearer access token; `JWTAuth(optional=True)` lets anonymous
callers through (as `AnonymousUser`) but still refuses a token that is present and bad.
Writing endpoints only ever trust the Authorization header: the HttpOnly cookie is
read by the stream endpoints and the server-rendered pages alone, so a cross-site
form cannot act with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from ninja.security import HttpBearer

from core.errors import NotAuthenticated
from core.models import User
from core.tokens import TokenPair, decode, user_for_token


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Use 'Authorization: Bearer <access token>'.")
    return token.strip()


@dataclass(frozen=True)
class TokenUser:
    """The caller as a verified access token names them, not yet read from the database.

    What `JWTAuth(load_user=False)` gives: for an endpoint whose own query reads the
    caller's row anyway (sending a message reads both participants while it locks the
    conversation), so that the auth class need not read it first. Such an endpoint
    refuses, as `JWTAuth` would with a 401, a caller who is gone or inactive.
    """

    pk: uuid.UUID
    is_authenticated: ClassVar[bool] = True


class JWTAuth(HttpBearer):
    """Bearer access tokens. `optional`: anonymous callers pass (as `AnonymousUser`).

    `load_user=False` checks the token alone (signature, expiry, type) and gives a
    `TokenUser`, one query less, for endpoints that read the caller themselves.
    `cookie=True` also takes the HttpOnly access cookie when there is no header: for
    reads a browser makes by itself (an `<img>` of a message photo), never for writes.
    """

    def __init__(
        self, optional: bool = False, load_user: bool = True, cookie: bool = False
    ) -> None:
        self.optional = optional
        self.load_user = load_user
        self.cookie = cookie
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        token = bearer_token(request)
        if token is None and self.cookie:
            token = request.COOKIES.get(settings.ACCESS_COOKIE_NAME) or None
        if token is None:
            if self.optional:
                request.user = AnonymousUser()
                return request.user
            raise NotAuthenticated("Authentication credentials were not provided.")
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> User | TokenUser:
        if not self.load_user:
            return TokenUser(uuid.UUID(decode(token, "access")["sub"]))
        user = user_for_token(token, "access")
        request.user = user
        return user


def request_token(request: HttpRequest) -> str:
    """The access token of a stream or page request: the Bearer header, else the cookie.

    The one reader of that credential (the stream route checks its signature on the
    event loop; `user_from_request` also reads the user).
    """
    token = bearer_token(request) or request.COOKIES.get(settings.ACCESS_COOKIE_NAME)
    if not token:
        raise NotAuthenticated("Authentication credentials were not provided.")
    return token


def user_from_request(request: HttpRequest) -> User:
    """The active user `request_token` names: for streams and pages only."""
    return user_for_token(request_token(request), "access")


def set_auth_cookies(response: HttpResponse, pair: TokenPair) -> None:
    """The browser's copies of the tokens, never readable by page scripts.

    The access cookie lets `EventSource` (which cannot set headers) open streams; the
    refresh cookie is scoped to the refresh and logout paths so it travels nowhere else.
    """
    # An answer that carries tokens is never kept by any cache (API.md, Accounts).
    response["Cache-Control"] = "no-store"
    common = {"httponly": True, "secure": settings.AUTH_COOKIE_SECURE}
    response.set_cookie(
        settings.ACCESS_COOKIE_NAME,
        pair.access,
        max_age=int(settings.JWT_ACCESS_TTL.total_seconds()),
        samesite="Lax",
        path="/",
        **common,
    )
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        pair.refresh,
        max_age=int(settings.JWT_REFRESH_TTL.total_seconds()),
        samesite="Strict",
        path="/api/auth/",
        **common,
    )


def clear_auth_cookies(response: HttpResponse) -> None:
    response.delete_cookie(settings.ACCESS_COOKIE_NAME, path="/", samesite="Lax")
    response.delete_cookie(settings.REFRESH_COOKIE_NAME, path="/api/auth/", samesite="Strict")
