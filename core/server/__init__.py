"""The server runtime: the ASGI application uvicorn serves and everything under it.

- `app`: the application (`get_asgi_application`): the routes named by `SERVER_ROUTES`
  mounted in front of Django's handler, and the lifespan;
- `lifespan`: the whole server's startup and shutdown;
- `handler`: Django's ASGI handler, one thread hop per request on a reused thread;
- `gc_tuning`: Python's cyclic GC run between requests;
- `edge`: the outermost layer: client address (`TRUSTED_PROXIES`), `X-Request-ID`, the
  access log line, `/healthz`;
- `middleware`: request plumbing every path owes its callers;
- `api_guard`: what every `/api/` request must get right (415, NUL, JSON errors, 503);
- `health`: `/readyz`;
- `log_writer`: log lines written to stderr by a thread, never by the event loop;
- `redis_pool`: one Redis connection pool per process for the cache;
- `run`: what `make serve` runs (uvicorn and the worker, a quiet Ctrl-C);
- `db_backends.sqlite3`: the SQLite backend whose writers queue on a lock.

Nothing here imports an app: routes are looked up from settings.
"""
