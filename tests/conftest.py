"""Shared fixtures: users and tokens, an API client, and a real uvicorn server.

The live server is uvicorn in a subprocess on a free port, on a file-based SQLite
database (or the PostgreSQL database named by DATABASE_URL) that the test process
also sees, so tests can arrange data directly and then talk HTTP to the real thing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client

from core.models import User
from core.tokens import issue_pair
from tests.support.services import (  # noqa: F401 (fixtures)
    pushpin_factory,
    redis_server,
    redis_url,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Corr3ct-Horse-Battery"


@dataclass
class ApiClient:
    """Django's test client speaking JSON, with an optional Bearer token."""

    token: str | None = None
    client: Client = field(default_factory=Client)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token and "Authorization" not in out:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        fn = getattr(self.client, method.lower())
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if method.upper() == "GET":
            return fn(path, data=kw.pop("params", None), headers=headers, **kw)
        content_type = kw.pop("content_type", "application/json")
        return fn(path, data=body, content_type=content_type, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def make_user(email: str | None = None, name: str = "Test User", **extra: Any) -> User:
    make_user.counter += 1  # type: ignore[attr-defined]
    email = email or f"user{make_user.counter}-{os.getpid()}@example.com"  # type: ignore[attr-defined]
    return User.objects.create_user(email=email, password=PASSWORD, name=name, **extra)


make_user.counter = 0  # type: ignore[attr-defined]


@pytest.fixture
def user_factory(db: None):
    return make_user


@pytest.fixture
def user(db: None) -> User:
    return make_user(name="Alice Owner")


@pytest.fixture
def other_user(db: None) -> User:
    return make_user(name="Bob Stranger")


@pytest.fixture
def anon() -> ApiClient:
    return ApiClient()


def client_for(user: User) -> ApiClient:
    return ApiClient(token=issue_pair(user).access)


@pytest.fixture
def api(user: User) -> ApiClient:
    return client_for(user)


@pytest.fixture
def other_api(other_user: User) -> ApiClient:
    return client_for(other_user)


# ---------------------------------------------------------------- live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "2",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # Generous: on a loaded shared machine a start has taken more than 30 s.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited early; see {self.log_path}")
            try:
                # /healthz answers once the app is loaded, and costs nothing; then one
                # request through Django and the API warms them up, so that a test's
                # first request (with a 2-second token, say) does not pay for it.
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    httpx.get(f"{self.url}/api/openapi.json", timeout=60)
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # not left running behind a failed test
        raise RuntimeError("uvicorn did not start within 90 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def server_env(db_settings: dict[str, Any], **extra: str) -> dict[str, str]:
    """The environment for a uvicorn subprocess that shares the test database."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    engine = db_settings["ENGINE"]
    if engine.endswith("sqlite3"):
        url = f"sqlite:///{db_settings['NAME']}"
    else:
        host = db_settings["HOST"] or "localhost"
        port = db_settings["PORT"] or 5432
        url = (
            f"postgres://{db_settings['USER']}:{db_settings['PASSWORD']}@"
            f"{host}:{port}/{db_settings['NAME']}"
        )
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=url,
        DEBUG="0",
        STAYHUB_ALLOW_DEV_SECRET="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        AUTH_COOKIE_SECURE="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def live_server_factory(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[Any]:
    """Start real uvicorn servers on the test database: `live_server_factory(**env)`."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    in_memory = not name or "memory" in str(name)
    if connection.vendor == "sqlite" and in_memory:
        pytest.fail("live server tests need a file-based SQLite test database (see pytest.ini)")
    servers: list[LiveServer] = []

    def start(**extra: str) -> LiveServer:
        port = free_port()
        env = server_env(connection.settings_dict, MEDIA_ROOT=str(tmp_path / "media"), **extra)
        server = LiveServer(
            url=f"http://127.0.0.1:{port}",
            port=port,
            env=env,
            log_path=tmp_path / f"uvicorn-{port}.log",
        )
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(live_server_factory: Any) -> LiveServer:
    return live_server_factory()


@pytest.fixture(autouse=True)
def _live_server_helper() -> None:
    """Replaces pytest-django's autouse helper of the same name.

    That helper assumes any fixture called `live_server` is pytest-django's own
    (threaded, in-process) server and crashes on ours, the uvicorn subprocess above.
    """


@pytest.fixture(autouse=True)
def _request_threads_retired() -> Iterator[None]:
    """In-process servers share the process's request threads (`core.server.threads`):
    after each test the idle ones close their database connections and end, as at a
    server's shutdown, so that none outlives the test's database."""
    yield
    from core.server.threads import request_threads

    for closed in request_threads.retire_idle():
        closed.result(10)
