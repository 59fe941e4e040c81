"""core.server.handler: one thread per request, reused with its connection, never shared.

Driven in-process through the real handler (asgiref's ApplicationCommunicator speaks
ASGI to it), with small views of this module's own URLconf that report the thread they
ran in, so the tests see exactly what a request's sync code saw.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished
from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path

from core.models import User
from core.server.handler import OneThreadASGIHandler
from core.server.threads import Lane, request_threads
from tests.support.asgi import http_scope

release = threading.Event()
entered = threading.Event()
inside: list[int] = []  # threads currently in `slow`


def where(request: HttpRequest) -> JsonResponse:
    User.objects.exists()  # touch the database, so the thread has a connection
    return JsonResponse({"thread": threading.get_ident()})


def slow(request: HttpRequest) -> JsonResponse:
    inside.append(threading.get_ident())
    entered.set()
    assert release.wait(10), "never released"
    return JsonResponse({"thread": threading.get_ident()})


def chunks(request: HttpRequest) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        for n in range(3):
            trail.append(f"chunk {n}")
            yield f"{n};".encode()

    return StreamingHttpResponse(body())


trail: list[str] = []  # what happened, in order, across threads
kept: list[Any] = []  # objects the `litter` view leaves behind, to be collected after


def litter(request: HttpRequest) -> JsonResponse:
    """Leave 3 x IDLE_YOUNG GC-tracked objects alive, and say what the GC saw meanwhile."""
    from core.server import gc_tuning

    kept.extend([] for _ in range(3 * gc_tuning.IDLE_YOUNG))
    return JsonResponse({"young": gc.get_count()[0]})


urlpatterns = [
    path("where", where),
    path("slow", slow),
    path("chunks", chunks),
    path("litter", litter),
]


def scope(path: str) -> dict[str, Any]:
    return http_scope(f"/{path}")


async def fetch(handler: OneThreadASGIHandler, path: str) -> tuple[int, bytes]:
    app = ApplicationCommunicator(handler, scope(path))
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(10)
    body = b""
    while True:
        message = await app.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await app.wait(10)
    return start["status"], body


async def get(handler: OneThreadASGIHandler, path: str) -> dict[str, Any]:
    status, body = await fetch(handler, path)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def handler(transactional_db: None, settings: Any, monkeypatch: Any) -> Iterator[Any]:
    settings.ROOT_URLCONF = __name__
    # Kept connections, as in production (tests may run with DB_CONN_MAX_AGE=0).
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    release.clear()
    entered.clear()
    inside.clear()
    trail.clear()
    made = OneThreadASGIHandler()
    yield made
    release.set()
    asyncio.run(made.aclose())


def test_requests_one_after_another_reuse_one_thread_and_its_database_connection(
    handler: OneThreadASGIHandler,
) -> None:
    seen: list[tuple[int, int | None]] = []

    def record(**_: Any) -> None:  # after the view and close_old_connections, same thread
        seen.append((threading.get_ident(), id(connection.connection)))

    request_finished.connect(record)
    try:

        async def three() -> list[int]:
            return [(await get(handler, "where"))["thread"] for _ in range(3)]

        threads = asyncio.run(three())
    finally:
        request_finished.disconnect(record)
    assert len(set(threads)) == 1, "a new thread per request"
    assert threads[0] != threading.get_ident()
    assert [t for t, _ in seen] == threads  # middleware, view and signals: one thread
    assert len({c for _, c in seen}) == 1, "the connection was not kept"


def test_a_slow_request_holds_up_no_other(handler: OneThreadASGIHandler) -> None:
    async def scenario() -> tuple[int, int]:
        slow_app = ApplicationCommunicator(handler, scope("slow"))
        await slow_app.send_input({"type": "http.request", "body": b""})
        while not entered.is_set():
            await asyncio.sleep(0.01)
        other = (await get(handler, "where"))["thread"]  # served while `slow` waits
        release.set()
        await slow_app.receive_output(10)
        return other, inside[0]

    other, slow_thread = asyncio.run(scenario())
    assert other != slow_thread


def test_a_thread_still_busy_when_its_request_is_cancelled_is_retired_not_lent_out(
    handler: OneThreadASGIHandler,
) -> None:
    async def scenario() -> tuple[int, list[Any]]:
        slow_app = ApplicationCommunicator(handler, scope("slow"))
        await slow_app.send_input({"type": "http.request", "body": b""})
        while not entered.is_set():
            await asyncio.sleep(0.01)
        slow_app.future.cancel()  # e.g. the server shutting down mid-request
        with pytest.raises(asyncio.CancelledError):
            await slow_app.future
        after = (await get(handler, "where"))["thread"]  # must not queue behind `slow`
        idle = list(request_threads._idle)
        release.set()
        return after, idle

    after, idle = asyncio.run(scenario())
    assert after != inside[0]
    assert len(idle) == 1  # the busy thread was not pooled


def test_at_most_request_threads_run_at_once_and_as_many_threads_are_kept(
    handler: OneThreadASGIHandler, settings: Any
) -> None:
    settings.REQUEST_THREADS = 3
    wanted = 7

    async def many() -> tuple[list[int], int, int]:
        pending = asyncio.gather(*(get(handler, "slow") for _ in range(wanted)))
        while len(inside) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the others wait on the loop, outside the view
        at_once = len(inside)
        release.set()
        answers = await pending
        return [a["thread"] for a in answers], len(request_threads._idle), at_once

    threads, idle, at_once = asyncio.run(many())
    assert at_once == 3
    assert len(threads) == wanted
    assert idle == 3  # as many idle threads kept as may run at once


def test_an_answer_slow_to_send_gives_its_thread_back_first(
    handler: OneThreadASGIHandler, settings: Any
) -> None:
    """Pushpin or a slow client may take a while to read an answer; the thread and its
    database connection go back to the pool as soon as the view has answered."""
    settings.REQUEST_THREADS = 3
    wanted = 8

    def request_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("django-request")}

    async def scenario() -> tuple[int, int, list[int]]:
        before = request_threads()
        gate = asyncio.Event()
        stuck: list[int] = []
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            if message["type"] == "http.response.body":
                stuck.append(1)
                await gate.wait()  # the client does not read yet

        requests = [
            asyncio.ensure_future(handler(scope("where"), receive, send)) for _ in range(wanted)
        ]
        for _ in range(1000):
            if len(stuck) == wanted:
                break
            await asyncio.sleep(0.01)
        held = len(request_threads() - before)
        gate.set()
        await asyncio.wait_for(asyncio.gather(*requests), 10)
        return len(stuck), held, statuses

    stuck, held, statuses = asyncio.run(scenario())
    assert stuck == 8  # every answer was being sent at once
    assert statuses == [200] * 8
    assert held <= 3, f"{held} threads held by answers waiting to be read"


def test_request_finished_comes_once_and_after_a_streamed_body_was_sent(
    handler: OneThreadASGIHandler,
) -> None:
    def finished(**_: Any) -> None:
        trail.append("finished")

    request_finished.connect(finished)
    try:

        async def both() -> tuple[tuple[int, bytes], dict[str, Any]]:
            return await fetch(handler, "chunks"), await get(handler, "where")

        streamed, _ = asyncio.run(both())
    finally:
        request_finished.disconnect(finished)
    assert streamed == (200, b"0;1;2;")
    assert trail == ["chunk 0", "chunk 1", "chunk 2", "finished", "finished"]


def test_the_server_entry_point_tunes_the_cyclic_gc() -> None:
    import config.asgi  # noqa: F401  (what uvicorn imports)
    from core.server import gc_tuning

    assert gc.get_threshold() == gc_tuning.THRESHOLDS


@pytest.fixture
def server_gc() -> Iterator[None]:
    """The server's GC thresholds for one test, then this process's own again."""
    from core.server import gc_tuning

    before = gc.get_threshold()
    gc.collect()
    gc_tuning.configure()
    yield
    gc.set_threshold(*before)
    kept.clear()


def test_the_garbage_of_a_request_is_collected_after_it_is_answered_not_during_it(
    handler: OneThreadASGIHandler, server_gc: None
) -> None:
    from core.server import gc_tuning

    answer = asyncio.run(get(handler, "litter"))
    # The view saw all its objects still uncollected: no collection inside the request.
    assert answer["young"] >= 3 * gc_tuning.IDLE_YOUNG
    # Once it was answered, with nothing else in flight, the young generation was.
    assert gc.get_count()[0] < gc_tuning.IDLE_YOUNG


def test_no_collection_while_another_request_is_in_flight(
    handler: OneThreadASGIHandler, server_gc: None
) -> None:
    from core.server import gc_tuning

    async def litter_while_slow() -> int:
        slow_one = asyncio.ensure_future(fetch(handler, "slow"))
        await asyncio.to_thread(entered.wait, 10)
        await get(handler, "litter")
        young_while_busy = gc.get_count()[0]
        release.set()
        await slow_one
        return young_while_busy

    young_while_busy = asyncio.run(litter_while_slow())
    assert young_while_busy >= 3 * gc_tuning.IDLE_YOUNG  # the slow request was in flight
    assert gc.get_count()[0] < gc_tuning.IDLE_YOUNG  # collected once it was answered


def test_collect_when_idle_runs_the_generation_cpython_would(monkeypatch: Any) -> None:
    from core.server import gc_tuning

    monkeypatch.setattr(gc_tuning, "_stream_opened", False)  # no stream has just opened
    before = gc.get_threshold()
    gc.disable()
    try:
        gc.collect()
        gc.set_threshold(*gc_tuning.THRESHOLDS)
        assert gc_tuning.collect_when_idle() is None  # nothing has accumulated
        young = [[] for _ in range(gc_tuning.IDLE_YOUNG + 100)]
        assert gc_tuning.collect_when_idle() == 0
        assert gc.get_count()[:2] == (0, 1)
        for _ in range(gc_tuning.THRESHOLDS[1]):
            gc.collect(0)  # the middle generation is now past its threshold
        young += [[] for _ in range(gc_tuning.IDLE_YOUNG + 100)]
        assert gc_tuning.collect_when_idle() == 1
        assert gc.get_count()[:2] == (0, 0)
    finally:
        gc.enable()
        gc.set_threshold(*before)


def test_a_lane_holds_at_most_its_share_and_leaves_the_rest_to_requests(
    handler: OneThreadASGIHandler, settings: Any
) -> None:
    """Stream reads go through a lane (`messaging.realtime.replay.reads`): however many
    wait, they hold at most their share of the request threads, and requests still run."""
    settings.REQUEST_THREADS = 4
    lane = Lane(request_threads, share=0.5)

    def held() -> int:
        inside.append(threading.get_ident())
        assert release.wait(10), "never released"
        return threading.get_ident()

    async def crowd() -> tuple[int, int, list[int]]:
        waiting = asyncio.gather(*(lane.run(held) for _ in range(6)))
        while len(inside) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        at_once = len(inside)
        answered = (await get(handler, "where"))["thread"]  # not queued behind the crowd
        release.set()
        return at_once, answered, await waiting

    at_once, answered, ran_on = asyncio.run(crowd())
    assert at_once == 2
    assert answered not in ran_on
    assert len(set(ran_on)) <= 2  # the crowd reused its two threads
