"""The one NinjaAPI: error mapping in one place, and the accounts endpoints.

App routers (listings, messaging) are mounted on it in `config.urls`, so that
`core` never imports the apps that build on it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Router, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.errors import Throttled as NinjaThrottled
from ninja.openapi.schema import OpenAPISchema

from core import services
from core.auth import JWTAuth, clear_auth_cookies, set_auth_cookies
from core.errors import ServiceError
from core.models import User
from core.schemas import (
    AuthOut,
    LoginIn,
    MeOut,
    RefreshIn,
    SignupIn,
    TokensOut,
    UserOut,
    error_responses,
)
from core.selectors import get_user
from core.throttling import PerAddressThrottle
from core.tokens import TokenPair, spend_refresh

# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
BUSY_RETRY_AFTER = 1
WRITING_METHODS = frozenset({"post", "put", "patch", "delete"})


class StayhubAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also lists the answer any writing operation may give.

    A write can find SQLite's lock still held after its busy timeout whatever the
    endpoint (`on_database_busy` below): every POST, PUT, PATCH and DELETE documents
    that 503 with its `Retry-After`, here in one place rather than on each route.
    """

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        busy = {
            "description": "The database stayed busy: nothing was written, send it again "
            "after `Retry-After` seconds.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                if method in WRITING_METHODS:
                    operation["responses"].setdefault("503", busy)
        return schema


api = StayhubAPI(
    title="stayhub API",
    version="1.0",
    description=(
        "Listings, favorites and live guest-host messaging. Authenticate with "
        "`Authorization: Bearer <access token>` from `/api/auth/login`. "
        "Every path answers with and without its trailing slash."
    ),
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, detail: object) -> HttpResponse:
    response = api.create_response(request, {"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="stayhub"'
    return response


@api.exception_handler(ServiceError)
def on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return _error(request, exc.status_code, exc.detail)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Authentication credentials were not provided or are invalid.")


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, 422, exc.errors)


@api.exception_handler(NinjaThrottled)
def on_throttled(request: HttpRequest, exc: NinjaThrottled) -> HttpResponse:
    return _error(request, 429, "Too many requests; retry later.")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc.message))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "Request body too large.")


@api.exception_handler(OperationalError)
def on_database_busy(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """SQLite waited its whole busy timeout for the write lock: 503 + Retry-After, not 500.

    Nothing was written (the transaction never started or was rolled back), the
    request can simply be sent again, and the server is overloaded rather than
    broken. Any other database error stays a 500.
    """
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in (_SQLITE_BUSY, _SQLITE_LOCKED):
        raise exc
    response = _error(request, 503, "The service is busy; retry in a moment.")
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


auth_router = Router(tags=["accounts"])
_auth_throttle = [PerAddressThrottle("AUTH_RATE", scope="auth")]


def _auth_answer(response: HttpResponse, user: User, pair: TokenPair) -> dict:
    set_auth_cookies(response, pair)
    return {"user": user, "access": pair.access, "refresh": pair.refresh}


@auth_router.post(
    "/signup",
    response={201: AuthOut, **error_responses(409, 413, 422, 429)},
    throttle=_auth_throttle,
    summary="Create an account",
)
def signup(request: HttpRequest, response: HttpResponse, payload: SignupIn) -> Status:
    user, pair = services.signup(email=payload.email, password=payload.password, name=payload.name)
    return Status(201, _auth_answer(response, user, pair))


@auth_router.post(
    "/login",
    response={200: AuthOut, **error_responses(401, 413, 422, 429)},
    throttle=_auth_throttle,
    summary="Log in with email and password",
)
def login(request: HttpRequest, response: HttpResponse, payload: LoginIn) -> dict:
    user, pair = services.login(email=payload.email, password=payload.password)
    return _auth_answer(response, user, pair)


@auth_router.post(
    "/refresh",
    response={200: TokensOut, **error_responses(401, 413, 422)},
    summary="Exchange a refresh token for a new pair (the old one is spent)",
)
def refresh(request: HttpRequest, response: HttpResponse, payload: RefreshIn) -> dict:
    token = payload.refresh or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    _, pair = services.refresh(token=token)
    set_auth_cookies(response, pair)
    return {"access": pair.access, "refresh": pair.refresh}


@auth_router.post(
    "/logout",
    response={204: None},
    summary="Forget the browser's auth cookies and spend its refresh token",
)
def logout(request: HttpRequest, response: HttpResponse) -> Status:
    token = request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    if token:
        spend_refresh(token)
    clear_auth_cookies(response)
    return Status(204, None)


@auth_router.get(
    "/me", response={200: MeOut, **error_responses(401)}, auth=JWTAuth(), summary="Who am I"
)
def me(request: HttpRequest) -> User:
    return request.auth


users_router = Router(tags=["accounts"])


@users_router.get("/{user_id}", response={200: UserOut, **error_responses(404, 422)})
def user_detail(request: HttpRequest, user_id: UUID) -> User:
    return get_user(user_id)


api.add_router("/auth", auth_router)
api.add_router("/users", users_router)
