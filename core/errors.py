"""Domain errors raised by services and selectors, mapped to HTTP in `core.api`.

Services never build HTTP responses; they raise one of these and the single set
of exception handlers turns it into `{"detail": ...}` with the contract's code,
written by `error_response`, the one writer of that shape (the API's handlers, the
request middleware and the stream route all answer through it).
"""

from __future__ import annotations

from django.http import JsonResponse
from ninja.renderers import NinjaJSONEncoder


def error_response(status: int, detail: object) -> JsonResponse:
    """The API's error answer: `{"detail": ...}`, with `WWW-Authenticate` on a 401."""
    response = JsonResponse(
        {"detail": detail},
        status=status,
        encoder=NinjaJSONEncoder,
        content_type="application/json; charset=utf-8",
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="stayhub"'
    return response


class ServiceError(Exception):
    status_code = 400
    default_detail = "Bad request."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class BadRequest(ServiceError):
    status_code = 400
    default_detail = "Bad request."


class NotAuthenticated(ServiceError):
    status_code = 401
    default_detail = "Authentication credentials were not provided or are invalid."


class Forbidden(ServiceError):
    status_code = 403
    default_detail = "You are not allowed to do this."


class NotFound(ServiceError):
    status_code = 404
    default_detail = "Not found."


class Conflict(ServiceError):
    status_code = 409
    default_detail = "Conflict."


class PayloadTooLarge(ServiceError):
    status_code = 413
    default_detail = "Request body too large."


class UnsupportedMediaType(ServiceError):
    status_code = 415
    default_detail = "Send JSON (Content-Type: application/json)."


class Invalid(ServiceError):
    """Input that parses but breaks a rule (weak password, dates the wrong way round)."""

    status_code = 422
    default_detail = "Invalid input."
