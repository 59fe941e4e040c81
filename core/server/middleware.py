"""Request plumbing the contract asks of every path."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse

from core.errors import error_response

API_PREFIX = "/api/"
# Pages whose forms upload a picture (the settings page's avatar): the image limit.
UPLOAD_PAGES = frozenset({"/settings", "/settings/"})
# Sending a message: the one API path that takes multipart bodies larger than 1 MiB.
MESSAGE_SEND_PATH = re.compile(r"^/api/chat/[^/]+/messages$")


# Pages whose forms carry an image (the admin; the host's listing form, /my/properties/...).
IMAGE_FORMS = ("/admin/", "/my/properties/")


class TrailingSlashMiddleware:
    """Every API path answers with and without its trailing slash, with no redirect.

    A redirected POST loses its body in many clients, so instead of APPEND_SLASH the
    API's routes are declared without the slash and a trailing one is dropped here,
    before URL resolution. Over-long bodies are refused here too, before anything
    reads them (413; image uploads get the larger limit).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(API_PREFIX) and len(path) > len(API_PREFIX) and path.endswith("/"):
            request.path_info = path.rstrip("/")
        too_big = self._too_big(request)
        if too_big is not None:
            return too_big
        return self.get_response(request)

    @staticmethod
    def _too_big(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Invalid Content-Length.")
        limit = settings.MAX_REQUEST_BODY
        path = request.path_info
        if path.endswith("/image") or path.startswith(IMAGE_FORMS) or path in UPLOAD_PAGES:
            # the multipart envelope around a 5 MiB image needs a little room
            limit = settings.MAX_IMAGE_UPLOAD + 64 * 1024
        elif (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and MESSAGE_SEND_PATH.match(request.path_info)
        ):
            limit = settings.MAX_MESSAGE_UPLOAD  # a message with up to 4 photos
        if length > limit:
            return error_response(413, f"Request body too large (at most {limit} bytes).")
        return None


class PagesOnly:
    """Mixin for middleware that serves the cookie-session site and nothing of the API.

    The pages and the admin need sessions, `request.user` and flash messages; the API
    (Bearer tokens, no session) needs none of them, so on `/api/` paths these pass the
    request straight on. The subclasses keep their place in MIDDLEWARE, where the
    admin's checks look for them. CSRF's middleware is left as Django ships it:
    `check --deploy` looks for it by name.
    """

    get_response: Callable[[HttpRequest], HttpResponse]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(PagesOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(PagesOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(PagesOnly, messages.MessageMiddleware):
    pass
