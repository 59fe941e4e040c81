"""One Redis connection pool per process for the cache, whatever the request.

Django keeps cache backends per context, and under ASGI every request runs in a
context of its own: each request built a new `RedisCache`, whose client made a new
pool and so a new connection (a TCP connect and redis-py's handshake) for the rate
limit, and left it to the garbage collector. `CACHES` names this class as the pool
class, so those backends all draw on one pool per URL and settings, which is
thread-safe and reconnects a connection the server dropped.
"""

from __future__ import annotations

import threading
from typing import Any

from redis import ConnectionPool


class SharedConnectionPool(ConnectionPool):
    _pools: dict[tuple[str, str], ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> ConnectionPool:
        key = (url, repr(sorted(kwargs.items())))
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = super().from_url(url, **kwargs)
            return pool
