"""The outermost ASGI layer: who the client is, the request id, the access log, /healthz.

It wraps everything uvicorn serves (streams included), so that every answer carries
`X-Request-ID` and gives one log line, and so that the client address and scheme that
the rest of the app sees are the ones `TRUSTED_PROXIES` allows (API.md, Operating):

- A peer listed in `TRUSTED_PROXIES` may name the client (`X-Forwarded-For`, read from
  the right, skipping other trusted proxies) and the scheme (`X-Forwarded-Proto`).
  Any other peer's headers are ignored.
- uvicorn itself believes those headers from 127.0.0.1 unless started with
  `--no-proxy-headers` (as `make serve` does), and then replaces the peer address with
  one taken from the header. That is recognised here (the "peer" is one of the
  header's own entries) and undone as far as it can be: the real peer was a local
  proxy that uvicorn trusts, so unless `TRUSTED_PROXIES` lets it speak, all such
  requests count as that one unknown peer and a rotating header buys nothing.
  The same goes for the scheme: a request from an untrusted peer that says
  `X-Forwarded-Proto: https` is taken as plain HTTP (so `HTTPS_ONLY` redirects it).
- `/healthz` is answered here, before Django: it must work while the database is down.

The log line is JSON (method, path, status, duration, user id, request id). It never
holds a query string, a header or a body, and a path segment that looks like a token
(a JWT, a signed value) is replaced by `[redacted]`, so no credential reaches the log.
The user id is the one the request's Django code authenticated (`scope`'s
`stayhub.user_id`, set by `core.server.api_guard`).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from django.conf import settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("stayhub.access")

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A JWT (three base64url parts), or a value signed by django.core.signing (has a colon).
_SECRET_SEGMENT = re.compile(r"^(eyJ[\w-]*\.[\w-]*\.[\w-]*|[^/]*:[^/]*)$")
UNKNOWN_LOCAL_PROXY = "unknown-local-proxy"
USER_ID_KEY = "stayhub.user_id"
HEALTHZ_PATHS = frozenset({"/healthz", "/healthz/"})


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


class TrustedProxies:
    """The `TRUSTED_PROXIES` setting: addresses or networks (CIDR)."""

    def __init__(self, entries: list[str]) -> None:
        self.networks = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                continue

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str | None) -> bool:
        ip = _ip(address) if address else None
        return ip is not None and any(ip in net for net in self.networks)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v.decode("latin1") for k, v in scope.get("headers", ()) if k == name]
    return ", ".join(values) if values else None


def resolve_client(scope: Scope, trusted: TrustedProxies) -> tuple[str, str | None]:
    """(client address, scheme or None to keep) for a request, by `TRUSTED_PROXIES`."""
    client = scope.get("client") or ("", 0)
    peer = str(client[0] or "")
    forwarded_for = _header(scope, b"x-forwarded-for")
    hops = [h.strip() for h in forwarded_for.split(",")] if forwarded_for else []
    if peer and peer in hops:
        # uvicorn's proxy-headers middleware put a header value in the peer's place.
        peer = UNKNOWN_LOCAL_PROXY
    peer_trusted = peer in trusted or (peer == UNKNOWN_LOCAL_PROXY and bool(trusted))
    if not peer_trusted:
        proto = _header(scope, b"x-forwarded-proto")
        if proto is not None and scope.get("scheme") == "https":
            # uvicorn may have taken an untrusted peer's word for it: not believed.
            return peer, "http"
        return peer, None
    address = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break
        address = str(ip)
        if address not in trusted:
            break
    proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[-1].strip().lower()
    return address, proto if proto in {"http", "https"} else None


def request_id_for(scope: Scope) -> str:
    sent = _header(scope, b"x-request-id")
    if sent is not None and SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def cors_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """django-cors-headers' answer headers, for the streams that bypass Django's middleware."""
    if not settings.CORS_ALLOWED_ORIGINS or _header(scope, b"origin") is None:
        return []
    from corsheaders.middleware import CorsMiddleware
    from django.core.handlers.asgi import ASGIRequest
    from django.http import HttpResponse

    request = ASGIRequest(dict(scope), io.BytesIO())
    if request.method == "OPTIONS":
        return []  # preflights are Django's (CorsMiddleware answers them there)
    response = HttpResponse()
    cors = CorsMiddleware(lambda _: response)
    if not cors.is_enabled(request):
        return []
    cors.add_response_headers(request, response)
    return [
        (name.lower().encode("latin1"), value.encode("latin1"))
        for name, value in response.items()
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    ]


def loggable_path(path: str) -> str:
    return "/".join(
        "[redacted]" if _SECRET_SEGMENT.match(part) else part for part in path.split("/")
    )


class Edge:
    """ASGI middleware: client address, scheme, request id, access log, /healthz."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.trusted = TrustedProxies(list(getattr(settings, "TRUSTED_PROXIES", [])))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        address, scheme = resolve_client(scope, self.trusted)
        # Changed in place (the server made it for this request alone): a copy would be
        # held as long as the request, an open stream's too.
        scope["client"] = (address, (scope.get("client") or ("", 0))[1])
        if scheme:
            scope["scheme"] = scheme
        request_id = request_id_for(scope)
        scope["stayhub.request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                scope["stayhub.status"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                headers.append(header)
                if not any(h[0].lower() == b"access-control-allow-origin" for h in headers):
                    headers.extend(cors_headers(scope))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if scope.get("path") in HEALTHZ_PATHS and scope.get("method") in {"GET", "HEAD"}:
                await _healthz(send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            self._log(scope, scope.get("stayhub.status") or 500, started, request_id)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        access_log.info(
            json.dumps(
                {
                    "event": "request",
                    "method": scope.get("method"),
                    "path": loggable_path(scope.get("path", "")),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": scope.get(USER_ID_KEY) or _token_user_id(scope),
                    "request_id": request_id,
                    "client": scope["client"][0],
                }
            )
        )


def _token_user_id(scope: Scope) -> str | None:
    """The user a valid access token names, for requests Django did not authenticate
    (the streams are served before Django): the signature is checked, no query runs."""
    from core.errors import NotAuthenticated
    from core.tokens import decode

    header = _header(scope, b"authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        cookies = SimpleCookie()
        with contextlib.suppress(Exception):
            cookies.load(_header(scope, b"cookie") or "")
        morsel = cookies.get(settings.ACCESS_COOKIE_NAME)
        token = morsel.value if morsel is not None else ""
    if not token.strip():
        return None
    try:
        return str(decode(token.strip(), "access")["sub"])
    except NotAuthenticated:
        return None


async def _healthz(send: Send) -> None:
    body = b'{"status": "ok"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
