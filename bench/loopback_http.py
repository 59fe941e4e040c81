"""Just enough HTTP/1.1 and Server-Sent Events over asyncio streams for the bench scripts.

No client library, so that the client's own parsing adds as little as possible to the
latencies measured (the client runs on the other CPU, see liveserver.py). Loopback only:
every connection goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

perf = time.perf_counter


class Connection:
    """One keep-alive connection for requests, reopened when the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None)."""
        for attempt in (1, 2):
            if self.writer is None or self.writer.is_closing():
                await self._open()
            try:
                return await self._request(method, path, token, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.writer = None  # uvicorn closes idle keep-alive connections after 5 s
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _request(
        self, method: str, path: str, token: str | None, body: Any
    ) -> tuple[int, Any]:
        assert self.reader is not None and self.writer is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class EventStream:
    """An open SSE stream; `on_event(event, id, data, arrival_time)` for each event."""

    def __init__(self, port: int, path: str, token: str, last_event_id: str | None = None):
        self.port, self.path, self.token, self.last_event_id = port, path, token, last_event_id
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None
        self.opened = asyncio.Event()  # the first bytes (padding, stream-open) arrived
        # When the server ended the stream (perf() time; None while open or closed by us),
        # and the `stream-error` data it sent before, if any: why a stream went away.
        self.ended_at: float | None = None
        self.error: str | None = None

    async def open(self, on_event: Callable[[str, str | None, str, float], None]) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = [
            f"GET {self.path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Accept: text/event-stream",
            f"Authorization: Bearer {self.token}",
        ]
        if self.last_event_id:
            head.append(f"Last-Event-ID: {self.last_event_id}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        status_line = await reader.readline()
        if b" 200 " not in status_line:
            raise RuntimeError(f"{self.path} -> {status_line!r}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        self.task = asyncio.ensure_future(self._read(reader, chunked, on_event))

    async def _read(
        self,
        reader: asyncio.StreamReader,
        chunked: bool,
        on_event: Callable[[str, str | None, str, float], None],
    ) -> None:
        buf = b""
        try:
            while True:
                if chunked:
                    size = int((await reader.readline()).strip() or b"0", 16)
                    if size == 0:
                        break
                    chunk = await reader.readexactly(size)
                    await reader.readexactly(2)
                else:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                now = perf()
                self.opened.set()
                buf += chunk
                while (end := buf.find(b"\n\n")) >= 0:
                    block, buf = buf[:end], buf[end + 2 :]
                    event, event_id, data, fields = "message", None, [], 0
                    for line in block.split(b"\n"):
                        if not line or line.startswith(b":"):
                            continue  # a comment (the opening padding)
                        fields += 1
                        name, _, value = line.partition(b":")
                        value = value[1:] if value.startswith(b" ") else value
                        if name == b"event":
                            event = value.decode()
                        elif name == b"id":
                            event_id = value.decode()
                        elif name == b"data":
                            data.append(value.decode())
                    if event == "stream-error":
                        self.error = "\n".join(data)
                    if fields:
                        on_event(event, event_id, "\n".join(data), now)
        except asyncio.CancelledError:
            return
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.error = self.error or repr(exc)
        self.ended_at = perf()

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()
