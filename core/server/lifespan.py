"""The server's startup and shutdown (ASGI lifespan), for every part it is made of.

At startup each part's `startup()` runs (a mounted route starting a background task,
say); at shutdown each part's `aclose()` (Django's handler closing the database
connections its idle request threads keep, which would otherwise outlive the server
in this process and keep, say, a PostgreSQL test database from being dropped).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def run_lifespan(receive: Receive, send: Send, parts: Iterable[object]) -> None:
    """Answer the lifespan protocol: start `parts` at boot, close them at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            for part in parts:
                startup = getattr(part, "startup", None)
                if startup is not None:
                    await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for part in parts:
                aclose = getattr(part, "aclose", None)
                if aclose is not None:
                    await aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
