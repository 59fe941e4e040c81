"""The rate limit on Redis (the cache every worker shares with `REDIS_URL`), for real.

One round trip per check (a sorted set of request times in MULTI/EXEC); a refused
request does not count; concurrent checks from several workers admit exactly the limit.
"""

from __future__ import annotations

import secrets
import threading
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from core.throttling import PerUserThrottle
from messaging.models import ConversationMessage
from tests.conftest import client_for

pytestmark = pytest.mark.services


@pytest.fixture
def as_alice(alice):
    return client_for(alice)


@pytest.fixture
def as_bob(bob):
    return client_for(bob)


@pytest.fixture
def redis_cache(settings: Any, redis_url: str) -> str:
    prefix = f"throttle-test-{secrets.token_hex(4)}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_send_is_rate_limited_per_user_on_redis(
    redis_cache, redis_url, settings, as_alice, as_bob, chat
):
    settings.MESSAGE_RATE = 3
    for n in range(3):
        assert as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": f"m{n}"}).status_code == 201
    refused = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "one too many"})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "detail" in refused.json()
    assert not ConversationMessage.objects.filter(body="one too many").exists()
    assert as_bob.post(f"/api/chat/{chat.pk}/messages", {"body": "bob"}).status_code == 201
    # the window lives in Redis: three requests of Alice's, the refused one not counted
    client = redis.Redis.from_url(redis_url)
    keys = [
        k
        for k in client.scan_iter(f"{redis_cache}*")
        if str(chat.user_low_id).encode() in k or str(chat.user_high_id).encode() in k
    ]
    sizes = sorted(client.zcard(k) for k in keys)
    assert sizes == [1, 3]


def test_concurrent_checks_admit_exactly_the_limit(redis_cache, settings):
    settings.MESSAGE_RATE = 5
    request = SimpleNamespace(auth=SimpleNamespace(pk="someone"), META={})
    start = threading.Barrier(12)
    results: list[bool] = []

    def check() -> None:
        throttle = PerUserThrottle("MESSAGE_RATE", scope="messages")
        start.wait()
        results.append(throttle.allow_request(request))

    threads = [threading.Thread(target=check) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5
    refused = PerUserThrottle("MESSAGE_RATE", scope="messages")
    assert refused.allow_request(request) is False
    assert 0 < refused.wait() <= 60
