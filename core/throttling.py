"""Rate limits whose rates are settings (API.md, Limits), on django-ninja's throttles.

The rate is read from settings on every request, so that an operator's setting and
a test's override both take effect without re-importing the API.
"""

from __future__ import annotations

from django.conf import settings
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
        return super().allow_request(request)

    def get_ident(self, request: HttpRequest) -> str | None:
        # The socket's peer, or the client a TRUSTED_PROXIES peer named: settled by
        # core.server.edge before Django sees the request. Never the raw header.
        return request.META.get("REMOTE_ADDR")

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
