"""The ASGI application as uvicorn serves it: mounted routes in front of Django's handler.

A route (named in `SERVER_ROUTES`, looked up here so that core imports no app) answers
the requests it `handles()` on the event loop, without Django's handler: the message
streams are one, because a stream held by Django's handler would hold a thread each.
Every other request, and the lifespan, are the server's (`core.server.handler`,
`core.server.lifespan`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.utils.module_loading import import_string

from core.server import gc_tuning, handler
from core.server.edge import Edge
from core.server.lifespan import run_lifespan

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Route(Protocol):
    """An ASGI app for some requests; it may also have `startup()` and `aclose()`."""

    def handles(self, scope: Scope) -> bool: ...

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]: ...


class Server:
    """ASGI app: each HTTP request to the first route that handles it, else to Django.

    It hands the request over (returns the route's awaitable) rather than awaiting it:
    a coroutine frame less for as long as the request lives, which for an open stream
    is its whole life (bench/README.md, memory per stream). `__call__` is marked a
    coroutine function, so that ASGI servers and test clients see an ASGI 3 app.
    """

    def __init__(self, django: handler.OneThreadASGIHandler, routes: Sequence[Route]) -> None:
        self.django = django
        self.routes = tuple(routes)

    @markcoroutinefunction
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            for route in self.routes:
                if route.handles(scope):
                    return route(scope, receive, send)
        elif scope["type"] == "lifespan":
            return run_lifespan(receive, send, (*self.routes, self.django))
        return self.django(scope, receive, send)


def get_asgi_application() -> Edge:
    """The whole server: GC settings, Django set up, and the routes of `SERVER_ROUTES`,
    behind the edge (client address, request id, access log, /healthz) for every request."""
    gc_tuning.configure()
    django = handler.get_asgi_application()
    routes = [import_string(path) for path in getattr(settings, "SERVER_ROUTES", ())]
    return Edge(Server(django, routes))
