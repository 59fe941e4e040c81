"""`/readyz`: whether this process can serve, dependency by dependency (API.md, Health).

`/healthz` (alive, touches nothing) is answered by `core.server.edge` before Django.
Each check runs in a worker thread of its own with a fresh connection, so that a
database or Redis that does not answer costs the probe 2 seconds, not a request thread,
and a broken connection is never kept.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

CHECK_TIMEOUT = 2.0
RETRY_AFTER = 5
# A stalled dependency may hold a thread until its own timeout: a few spare ones.
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _database() -> None:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _redis() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()


def _run(check: Any) -> str:
    try:
        _checks.submit(check).result(timeout=CHECK_TIMEOUT)
    except FutureTimeout:
        return f"timed out after {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _run(_database),
        "redis": _run(_redis) if settings.REDIS_URL else "not configured",
    }
    ready = all(value in {"ok", "not configured"} for value in checks.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
    if not ready:
        response["Retry-After"] = str(RETRY_AFTER)
    return response
