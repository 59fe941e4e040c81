"""Log lines written to stderr by a thread of their own, never by the event loop.

`logging.StreamHandler` writes each record where it is logged. The edge logs every
request on the event loop, and a write to stderr waits for whatever stderr is (a file
on a slow disk, a pipe to a slow reader): for that long no stream and no request of
the worker moves (a 42 ms stall inside the handler's `emit`, caught while measuring:
bench/README.md). The handlers of `LOGGING` are `queued_stderr` handlers instead: a
record is formatted where it is logged, queued, and written by the standard library's
`QueueListener` thread; what is queued is written out when the process exits.
"""

from __future__ import annotations

import atexit
import logging
import queue
from logging.handlers import QueueHandler, QueueListener


def queued_stderr() -> QueueHandler:
    """A handler for `LOGGING` (`"()": "core.server.log_writer.queued_stderr"`): its
    formatter formats the record, a thread writes the line to stderr."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(records, logging.StreamHandler())
    listener.start()
    atexit.register(listener.stop)
    return QueueHandler(records)
