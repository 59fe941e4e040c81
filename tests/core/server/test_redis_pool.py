"""core.server.redis_pool: a worker's requests share its Redis connections.

A real uvicorn on a Redis of the test's own; the rate limit (`AUTH_RATE`) takes one
round trip to Redis per login attempt. Redis counts every connection it accepts.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
import requests

from tests.support.services import RedisServer

pytestmark = pytest.mark.services


def test_requests_share_the_workers_redis_connections(
    live_server_factory: Any, redis_server: RedisServer
) -> None:
    server = live_server_factory(REDIS_URL=redis_server.url, AUTH_RATE="1000")
    counter = redis.Redis.from_url(redis_server.url)

    def accepted() -> int:
        return int(counter.info("stats")["total_connections_received"])

    def attempt(n: int) -> int:
        answer = requests.post(
            f"{server.url}/api/auth/login",
            json={"email": f"nobody{n}@example.com", "password": "not-the-password"},
            timeout=10,
        )
        return answer.status_code

    assert attempt(0) == 401  # the pool's first connection is opened here
    before = accepted()
    statuses = [attempt(n) for n in range(1, 41)]
    opened = accepted() - before
    assert statuses == [401] * 40
    window = [k for k in counter.scan_iter("*") if b"throttle" in k or b"auth" in k]
    assert window, "the rate limit did not use this Redis"
    assert opened <= 2, f"{opened} new Redis connections for 40 requests"
