"""A real SMTP server on loopback for the email tests: aiosmtpd, started by the test.

`MailServer` keeps every email it accepted (parsed, headers and parts), can be
stopped and started again on the same port (a mail server that is down, then back),
and can be told to answer 451 (busy) to every email for a while.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.services import free_port


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.busy:
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.server.lock:
            self.server.received.append(message)
        return "250 OK"


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.busy = False
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def emails(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """The emails once `count` have arrived (or all there are when the time is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(emails := self.emails()) >= count:
                return emails
            time.sleep(0.05)
        return self.emails()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_server_down() -> Iterator[MailServer]:
    """A mail server's address with nothing listening yet: the test starts it."""
    server = MailServer()
    yield server
    server.stop()


def parts(message: EmailMessage) -> dict[str, str]:
    """`{content type: text}` of an email's parts."""
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }
