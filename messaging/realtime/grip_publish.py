"""How items reach Pushpin: its ZeroMQ PULL socket when `GRIP_PUSH_SPEC` is set, else
django-grip's HTTP publish to `GRIP_URL`.

Pushpin's HTTP publish endpoint answers every request with `Connection: close`, so each
publish made by pubcontrol's thread was a new TCP connection and a `requests` round of
Python on the worker, and an HTTP request and a log line in Pushpin's handler
(bench/README.md has the figures). A PUSH socket sends one frame per item, Pushpin's
JSON form (`J` + the item), in call order, from whichever thread publishes.

A PUSH socket queues up to `SNDHWM` items while Pushpin is away (it reconnects by
itself); past that an item is dropped and logged, as a failed HTTP publish is: the
event is stored, and Pushpin recovers a held stream whose ids no longer chain.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

import zmq
from django.conf import settings
from django_grip import publish as http_publish
from gripcontrol import HttpStreamFormat
from pubcontrol import Item

logger = logging.getLogger(__name__)

SEND_QUEUE = 10_000  # items kept for Pushpin while it is away (SNDHWM)

_lock = threading.Lock()
_socket: Any = None
_socket_pid = 0


def publish(
    channel: str,
    content: HttpStreamFormat,
    *,
    id: str | None = None,
    prev_id: str | None = None,
) -> None:
    """Publish one item on a Pushpin channel; `id`/`prev_id` chain it (GRIP)."""
    spec = settings.GRIP_PUSH_SPEC
    if not spec:
        http_publish(channel, content, id=id, prev_id=prev_id)
        return
    item = Item(content, id=id, prev_id=prev_id).export()  # as pubcontrol's own clients
    item["channel"] = channel
    frame = b"J" + json.dumps(item, separators=(",", ":")).encode()
    with _lock:
        try:
            _push_socket(spec).send(frame, zmq.NOBLOCK)
        except zmq.Again:
            logger.warning("Pushpin's queue is full (%s): item on %s dropped", spec, channel)


def _push_socket(spec: str) -> Any:
    """This process's PUSH socket, made on first use (again in a forked child)."""
    global _socket, _socket_pid
    if _socket is None or _socket_pid != os.getpid():
        sock = zmq.Context.instance().socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, SEND_QUEUE)
        sock.connect(spec)
        _socket, _socket_pid = sock, os.getpid()
    return _socket
