"""A stream's opening counts as a request for the server's idle-time GC (core.server.gc_tuning)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from core.server import gc_tuning
from core.server.app import Server
from core.server.handler import OneThreadASGIHandler
from core.tokens import issue_pair
from messaging.realtime.route import stream_route
from tests.conftest import make_user
from tests.support.asgi import http_scope


@pytest.fixture
def server_gc() -> Iterator[list[Any]]:
    """The server's GC thresholds for one test; a list to keep objects alive in."""
    before = gc.get_threshold()
    gc.collect()
    gc_tuning.configure()
    kept: list[Any] = []
    yield kept
    gc.set_threshold(*before)
    kept.clear()


def inbox_scope(token: str) -> dict[str, Any]:
    return http_scope("/api/chat/events", [(b"authorization", f"Bearer {token}".encode())])


def test_the_young_generation_is_collected_once_a_stream_is_open(
    transactional_db: None, server_gc: list[Any]
) -> None:
    token = issue_pair(make_user()).access
    app = Server(OneThreadASGIHandler(), [stream_route])

    async def open_then_leave() -> tuple[int, int, tuple[int, int, int]]:
        # A first stream imports what streams need (tens of thousands of objects);
        # then, from zero, the opening and the burst below stay under the automatic
        # collector's threshold.
        warm = ApplicationCommunicator(app, inbox_scope(token))
        await warm.send_input({"type": "http.request", "body": b""})
        await warm.receive_output(10)
        await warm.receive_output(10)
        await warm.send_input({"type": "http.disconnect"})
        await warm.wait(10)
        gc.collect()
        stream = ApplicationCommunicator(app, inbox_scope(token))
        await stream.send_input({"type": "http.request", "body": b""})
        # what a burst of streams leaves behind, alive, before this one has opened
        server_gc.extend([] for _ in range(3 * gc_tuning.IDLE_YOUNG))
        young_before = gc.get_count()[0]
        start = await stream.receive_output(10)
        await stream.receive_output(10)  # its first bytes: the stream is open
        after = gc.get_count()
        await stream.send_input({"type": "http.disconnect"})
        await stream.wait(10)
        return start["status"], young_before, after

    status, young_before, (young, middle, old) = asyncio.run(open_then_leave())
    assert status == 200
    assert young_before >= 3 * gc_tuning.IDLE_YOUNG
    # collected when it opened, with no request in progress (not in the next message),
    # and as a middle collection: what lives on went to the old generation in one sweep
    assert young < gc_tuning.IDLE_YOUNG
    assert (middle, old) == (0, 1)
