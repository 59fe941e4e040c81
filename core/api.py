"""The one NinjaAPI: error mapping in one place, and the accounts endpoints.

App routers (listings, messaging) are mounted on it in `config.urls`, so that
`core` never imports the apps that build on it.
"""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Router, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.errors import Throttled as NinjaThrottled
from ninja.openapi.schema import OpenAPISchema

from core import services
from core.auth import JWTAuth, bearer_token, clear_auth_cookies, set_auth_cookies
from core.errors import ServiceError, error_response
from core.models import User
from core.schemas import (
    AuthOut,
    LoginIn,
    MeOut,
    MeUpdateIn,
    RefreshIn,
    SignupIn,
    TokensOut,
    UserOut,
    error_responses,
)
from core.selectors import user_get
from core.server.api_guard import UNAVAILABLE, is_unavailable, unavailable_response
from core.throttling import PerAddressThrottle
from core.tokens import TokenPair, spend_refresh, token_subject, tokens_revoke

# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
BUSY_RETRY_AFTER = 1
WRITING_METHODS = frozenset({"post", "put", "patch", "delete"})


def _error_doc(description: str, retry_after: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    if retry_after:
        doc["headers"] = {
            "Retry-After": {
                "schema": {"type": "integer"},
                "required": True,
                "description": "Seconds to wait before sending it again.",
            }
        }
    return doc


class StayhubSchema(OpenAPISchema):
    """An operation whose auth lets anonymous callers through (`JWTAuth(optional=True)`)
    says so: its security requirement list holds the empty one too (OpenAPI's "optional")."""

    def operation_security(self, operation: Any) -> list[dict[str, Any]] | None:
        security = super().operation_security(operation)
        if security and any(getattr(a, "optional", False) for a in operation.auth_callbacks):
            security = [{}, *security]
        return security


class StayhubAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also lists the answers any operation may give.

    Some answers come from the plumbing, not the route (`core.server.api_guard`, the
    error handlers below), whatever the endpoint: a dependency that is down or busy
    (503 + `Retry-After`), a query string with too many parameters (400), a body too
    large (413) or not JSON (415). They are documented here in one place, so that
    the schema that clients (and the fuzzer) read declares every status and body.
    """

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        schema = StayhubSchema(api=self, path_prefix=path_prefix)
        unavailable = _error_doc(
            "A dependency (the database, Redis) is unavailable or busy: nothing was "
            "written; send it again after `Retry-After` seconds.",
            retry_after=True,
        )
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                responses = {str(code): answer for code, answer in operation["responses"].items()}
                operation["responses"] = responses
                responses.setdefault("503", unavailable)
                responses.setdefault(
                    "400", _error_doc("A malformed request (too many query parameters).")
                )
                responses.setdefault(
                    "422", _error_doc("Failed validation (NUL characters, out-of-range values).")
                )
                if "429" in responses:
                    responses["429"] = _error_doc("Rate limited.", retry_after=True)
                if method in WRITING_METHODS:
                    responses.setdefault("413", _error_doc("Request body too large."))
                    responses.setdefault(
                        "415", _error_doc("The body is not JSON (Content-Type: application/json).")
                    )
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
    return error_response(status, detail)


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
    response = _error(request, 429, "Too many requests; retry later.")
    response["Retry-After"] = str(max(1, math.ceil(exc.wait or 60)))
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc.message))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "Request body too large.")


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return _error(request, 400, f"Malformed multipart body: {exc}")


def on_database_busy(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A dependency failed: 503 + Retry-After, not 500 (API.md, Conventions).

    SQLite that waited its whole busy timeout for the write lock is overloaded, not
    broken: retry in a second. A database (or Redis) that cannot be reached or broke
    the connection: retry a little later. Either way nothing was written (the
    transaction never started or was rolled back), so the request can be sent again.
    Any other database error (a missing table: a bug) stays a 500.
    """
    if not is_unavailable(exc):
        raise exc
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        response = _error(request, 503, "The service is busy; retry in a moment.")
        response["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
    return unavailable_response(exc)


for _unavailable in UNAVAILABLE:
    api.add_exception_handler(_unavailable, on_database_busy)


auth_router = Router(tags=["accounts"])
_auth_throttle = [PerAddressThrottle("AUTH_RATE", scope="auth")]


def _auth_answer(response: HttpResponse, user: User, pair: TokenPair) -> dict:
    set_auth_cookies(response, pair)
    response["Cache-Control"] = "no-store"  # tokens: no cache may keep this answer
    return {"user": user, "access": pair.access, "refresh": pair.refresh}


def is_cross_site(request: HttpRequest) -> bool:
    """A request another site's page made the browser send (its form, its script).

    Browsers name the requesting page's origin (`Origin`, sent with every POST) and
    say where the request comes from (`Sec-Fetch-Site`); an origin of our own or one
    that CORS_ALLOWED_ORIGINS lets in is not cross-site.
    """
    origin = request.headers.get("Origin")
    if origin:
        own = f"{request.scheme}://{request.get_host()}"
        return origin != own and origin not in settings.CORS_ALLOWED_ORIGINS
    return request.headers.get("Sec-Fetch-Site") in {"cross-site", "same-site"}


@auth_router.post(
    "/signup",
    response={201: AuthOut, **error_responses(409, 413, 422, 429)},
    throttle=_auth_throttle,
    summary="Create an account",
)
def signup(request: HttpRequest, response: HttpResponse, payload: SignupIn) -> Status:
    user, pair = services.user_sign_up(
        email=payload.email, password=payload.password, name=payload.name
    )
    return Status(201, _auth_answer(response, user, pair))


@auth_router.post(
    "/login",
    response={200: AuthOut, **error_responses(401, 413, 422, 429)},
    throttle=_auth_throttle,
    summary="Log in with email and password",
)
def login(request: HttpRequest, response: HttpResponse, payload: LoginIn) -> dict:
    user, pair = services.user_log_in(email=payload.email, password=payload.password)
    return _auth_answer(response, user, pair)


@auth_router.post(
    "/refresh",
    response={200: TokensOut, **error_responses(401, 413, 422, 429)},
    throttle=_auth_throttle,
    summary="Exchange a refresh token for a new pair (the old one is spent; reusing a "
    "spent one revokes every token rotated from it since)",
)
def refresh(request: HttpRequest, response: HttpResponse, payload: RefreshIn) -> dict:
    token = payload.refresh or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    _, pair = services.token_refresh(token=token)
    set_auth_cookies(response, pair)
    response["Cache-Control"] = "no-store"
    return {"access": pair.access, "refresh": pair.refresh}


@auth_router.post(
    "/logout",
    response={204: None, **error_responses(403)},
    summary="Log out: every token of the caller is refused from now on, open streams end",
    description=(
        "The caller is named by the browser's refresh cookie, else a Bearer access token. "
        "Their refresh token is spent, every access and refresh token issued to them so far "
        "is refused from now on (API calls 401; open event streams end with "
        "`stream-error` `unauthorized`), and the browser's auth cookies are cleared. "
        "403 for a request another site's page sent."
    ),
)
def logout(request: HttpRequest, response: HttpResponse) -> Status:
    if is_cross_site(request):
        return Status(403, {"detail": "A logout must come from this site's own pages."})
    refresh_token = request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    user_id = token_subject(refresh_token, "refresh")
    if user_id is None:
        try:
            user_id = token_subject(bearer_token(request), "access")
        except ServiceError:  # a malformed Authorization header: nobody to log out
            user_id = None
    if refresh_token:
        spend_refresh(refresh_token)
    if user_id is not None:
        tokens_revoke(user_id)
    clear_auth_cookies(response)
    response["Cache-Control"] = "no-store"
    return Status(204, None)


@auth_router.get(
    "/me", response={200: MeOut, **error_responses(401)}, auth=JWTAuth(), summary="Who am I"
)
def me(request: HttpRequest) -> User:
    return request.auth


@auth_router.patch(
    "/me",
    response={200: MeOut, **error_responses(401, 413, 415, 422)},
    auth=JWTAuth(),
    summary="Change one's name or email notifications (JSON; only the fields sent change)",
)
def me_update(request: HttpRequest, payload: MeUpdateIn) -> User:
    sent = payload.model_fields_set
    return services.user_update(
        user=request.auth,
        name=payload.name if "name" in sent else None,
        notify_email=payload.notify_email if "notify_email" in sent else None,
    )


users_router = Router(tags=["accounts"])


@users_router.get("/{user_id}", response={200: UserOut, **error_responses(404, 422)})
def user_detail(request: HttpRequest, user_id: UUID) -> User:
    return user_get(user_id)


api.add_router("/auth", auth_router)
api.add_router("/users", users_router)
