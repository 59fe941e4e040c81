"""Rate limits whose rates are settings (API.md, Limits), on django-ninja's throttles.

The rate is read from settings on every request, so that an operator's setting and
a test's override both take effect without re-importing the API.

On Redis (the cache with `REDIS_URL`, shared by every worker) a check is one round
trip: the window is a sorted set of request times, trimmed, added to, counted and read
in one MULTI/EXEC, instead of django-ninja's read of the pickled history and its write
back (two round trips in every message's request, and a race between workers). A
refused request is taken out again, so it does not count.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from ninja.throttling import SimpleRateThrottle


class SettingRateThrottle(SimpleRateThrottle):
    """At most `settings.<setting>` requests a minute per key."""

    per_user = True

    def __init__(self, setting: str, scope: str) -> None:
        self.setting = setting
        self.scope = scope
        super().__init__(rate=self._current_rate())

    def _current_rate(self) -> str:
        return f"{getattr(settings, self.setting)}/min"

    def allow_request(self, request: HttpRequest) -> bool:
        self.rate = self._current_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            return self._allow_on_redis(request, backend)
        return super().allow_request(request)

    def get_ident(self, request: HttpRequest) -> str | None:
        # The socket's peer, or the client a TRUSTED_PROXIES peer named: settled by
        # core.server.edge before Django sees the request. Never the raw header.
        return request.META.get("REMOTE_ADDR")

    def _allow_on_redis(self, request: HttpRequest, backend: RedisCache) -> bool:
        self.key = self.get_cache_key(request)
        if self.key is None:
            return True
        key = backend.make_and_validate_key(self.key)
        client = backend._cache.get_client(key, write=True)
        self.now = self.timer()
        member = f"{self.now:.6f}:{secrets.token_hex(4)}"
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", self.now - self.duration)
        pipe.zadd(key, {member: self.now})
        pipe.zrange(key, 0, -1, withscores=True)
        pipe.expire(key, self.duration + 1)
        window = pipe.execute()[2]
        if len(window) <= self.num_requests:
            return True
        client.zrem(key, member)
        # Newest first, as django-ninja keeps it, for `wait()` (Retry-After).
        self.history = sorted((score for m, score in window if m != member.encode()), reverse=True)
        return False

    def get_cache_key(self, request: HttpRequest) -> str | None:
        user = getattr(request, "auth", None)
        ident = (
            str(user.pk) if self.per_user and getattr(user, "pk", None) else self.get_ident(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerUserThrottle(SettingRateThrottle):
    """Keyed by the authenticated user (falls back to the client address)."""


class PerAddressThrottle(SettingRateThrottle):
    """Keyed by the client address, for endpoints used before anyone is signed in."""

    per_user = False
