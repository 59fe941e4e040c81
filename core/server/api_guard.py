"""What every `/api/` request must get right before and after its view (API.md, Conventions).

Before: a body whose type is not JSON answers 415 (so that no cross-site form, which can
only send `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`,
can post to the API; the two upload endpoints also take `multipart/form-data`); more
than `DATA_UPLOAD_MAX_NUMBER_FIELDS` query parameters, a NUL character anywhere in the
query or in a text field (PostgreSQL cannot store one), or a multipart body without a
boundary answer 400/422 JSON instead of reaching the view.

After: an `/api/` answer is always JSON. The few that Django or the router produce as
HTML or empty (a 404 of the URL resolver, a 405 of a path that has no such method, a
400 of Django's own checks) become `{"detail": ...}` with the same status and headers.
A database or Redis that cannot be reached answers 503 with `Retry-After` (the pages
get the same status), never 500.

It also hands the authenticated user's id to the access log (`core.server.edge`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.functional import empty

from core.errors import error_response
from core.server.edge import USER_ID_KEY

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Endpoints that take uploads: multipart/form-data is accepted there besides JSON.
MULTIPART_PATHS = re.compile(r"^/api/(properties/[^/]+/image|chat/[^/]+/messages)/*$")
JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json$")
DEPENDENCY_RETRY_AFTER = 5

try:  # Redis is optional: only when REDIS_URL is set is it a dependency
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    UNAVAILABLE: tuple[type[BaseException], ...] = (
        OperationalError,
        InterfaceError,
        RedisConnectionError,
        RedisTimeoutError,
    )
except ImportError:  # pragma: no cover
    UNAVAILABLE = (OperationalError, InterfaceError)


# SQLite primary result codes of a database that cannot be used now (not a bug):
# BUSY, LOCKED, IOERR, FULL, CANTOPEN.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 13, 14})
# PostgreSQL SQLSTATEs of the same kind: connection exceptions (class 08), too many
# connections, shutting down or starting up, and a transaction to simply run again.
_PG_UNAVAILABLE_PREFIXES = ("08", "53", "57P", "40001", "40P01")


def is_unavailable(exc: BaseException) -> bool:
    """A dependency that cannot serve right now, as opposed to a bug (a missing table).

    psycopg's connection failures carry no SQLSTATE at all (nothing answered).
    """
    if not isinstance(exc, UNAVAILABLE):
        return False
    if not isinstance(exc, OperationalError):
        return True  # InterfaceError (connection gone), Redis connection or timeout
    cause = exc.__cause__
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_UNAVAILABLE
    if type(cause).__module__.startswith("psycopg"):
        sqlstate = getattr(cause, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(_PG_UNAVAILABLE_PREFIXES)
    return False


def detail(status: int, message: Any, **headers: str) -> JsonResponse:
    """`core.errors.error_response`, with extra headers (`Retry_After=...`)."""
    response = error_response(status, message)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def unavailable_response(exc: BaseException) -> JsonResponse:
    """503 for a dependency that failed; the log says which, the client when to retry."""
    logger.error("dependency unavailable: %s: %s", type(exc).__name__, str(exc).strip()[:300])
    return detail(
        503,
        "A service this request needs is unavailable; retry later.",
        Retry_After=str(DEPENDENCY_RETRY_AFTER),
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _media_type(request: HttpRequest) -> str:
    return request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()


def _has_body(request: HttpRequest) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    return (length.isdigit() and int(length) > 0) or "HTTP_TRANSFER_ENCODING" in request.META


def refuse(request: HttpRequest) -> HttpResponse | None:
    """The answer for an API request that must not reach its view, or None."""
    if request.method in WRITE_METHODS and _has_body(request):
        media_type = _media_type(request)
        multipart_ok = media_type == "multipart/form-data" and MULTIPART_PATHS.match(
            request.path_info
        )
        if not JSON_TYPE.match(media_type) and not multipart_ok:
            return detail(415, "Send the body as JSON (Content-Type: application/json).")
    try:
        query = request.GET  # raises past DATA_UPLOAD_MAX_NUMBER_FIELDS
        if _has_nul(dict(query.lists())):
            return detail(422, "NUL characters are not allowed in the query.")
        if request.method in WRITE_METHODS and _has_body(request):
            if JSON_TYPE.match(_media_type(request)):
                if b"\\u0000" in request.body:
                    try:
                        parsed = json.loads(request.body)
                    except ValueError:
                        return None  # the view answers 400 for malformed JSON
                    if _has_nul(parsed):
                        return detail(422, "NUL characters are not allowed in text fields.")
            elif _has_nul(dict(request.POST.lists())):
                return detail(422, "NUL characters are not allowed in text fields.")
    except MultiPartParserError as exc:
        return detail(400, f"Malformed multipart body: {exc}")
    except SuspiciousOperation as exc:
        return detail(400, str(exc) or "Bad request.")
    return None


def _refuse_page(request: HttpRequest) -> HttpResponse | None:
    """A page's query string with a NUL (its filters reach the database): 400."""
    try:
        if _has_nul(dict(request.GET.lists())):
            return HttpResponseBadRequest("NUL characters are not allowed in the query.")
    except SuspiciousOperation:
        return HttpResponseBadRequest("Too many query parameters.")
    return None


def as_json(response: HttpResponse) -> HttpResponse:
    """An error answer that is not JSON, made `{"detail": ...}` with the same status."""
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "Error"
    replacement = detail(response.status_code, f"{phrase}.")
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if response.has_header(name):
            replacement[name] = response[name]
    replacement.cookies = response.cookies
    return replacement


def _user_id(request: HttpRequest) -> str | None:
    for attribute in ("auth", "page_user"):
        user = getattr(request, attribute, None)
        if getattr(user, "pk", None) is not None:
            return str(user.pk)
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is not empty and getattr(wrapped, "is_authenticated", False):
        return str(wrapped.pk)
    return None


class ApiGuardMiddleware:
    """See the module docstring. First in MIDDLEWARE, so that it sees every answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith(API_PREFIX)
        response = refuse(request) if is_api else _refuse_page(request)
        if response is None:
            response = self.get_response(request)
        if is_api and response.status_code >= 400 and not _is_json(response):
            response = as_json(response)
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict):
            scope[USER_ID_KEY] = _user_id(request)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if is_unavailable(exc):
            return unavailable_response(exc)
        return None


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return bool(JSON_TYPE.match(content_type)) or content_type == "text/event-stream"
