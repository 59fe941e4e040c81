"""Operating the real server (uvicorn subprocess): health, request ids, logs, proxies.

API.md, "Health and request ids" and "Operating"; issue 10. Everything is observed from
outside: HTTP answers and the server's own log output.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from core.models import User
from tests.conftest import PASSWORD, free_port, make_user

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
# Generous: a busy CI machine makes a fresh server's first answers slow.
TIMEOUT = 30


def _get(url: str, **kw) -> httpx.Response:
    return httpx.get(url, timeout=TIMEOUT, **kw)


def _request(method: str, url: str, **kw) -> httpx.Response:
    return httpx.request(method, url, timeout=TIMEOUT, **kw)


def _options(url: str, **kw) -> httpx.Response:
    return httpx.options(url, timeout=TIMEOUT, **kw)


def _log_lines(server) -> list[str]:
    return Path(server.log_path).read_text(errors="replace").splitlines()


def _wait_for_line(server, request_id: str) -> None:
    """Until the line of the request with this id is in the log: lines are written by
    a thread of their own (core.server.log_writer), after the answer has gone."""
    deadline = time.monotonic() + 10
    while request_id not in "".join(_log_lines(server)):
        assert time.monotonic() < deadline, f"no log line for {request_id}"
        time.sleep(0.05)


def _access_lines(server) -> list[dict]:
    out = []
    for line in _log_lines(server):
        if line.startswith("{") and '"event": "request"' in line:
            out.append(json.loads(line))
    return out


def test_healthz_answers_without_touching_the_database(live_server):
    r = _get(f"{live_server.url}/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["X-Request-ID"]
    assert _get(f"{live_server.url}/healthz/").status_code == 200


def test_readyz_names_every_check(live_server):
    r = _get(f"{live_server.url}/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}


def test_readyz_checks_redis_when_it_is_configured(live_server_factory, redis_url):
    server = live_server_factory(REDIS_URL=redis_url)
    r = _get(f"{server.url}/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_answers_503_naming_an_unreachable_redis(live_server_factory):
    # Redis on a port where nothing listens: the fan-out cannot work, the process can
    # still start and answer.
    server = live_server_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    r = _get(f"{server.url}/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["redis"] != "ok"
    assert int(r.headers["Retry-After"]) > 0


def test_request_ids_are_echoed_when_sane_and_made_otherwise(live_server):
    url = f"{live_server.url}/api/properties"
    sane = "abc-DEF_123.x"
    assert _get(url, headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane
    for insane in ("x" * 129, "a b", "<script>", ""):
        given = _get(url, headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert given != insane
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", given)
    # errors, the docs, pages and static files carry one too
    for path in ("/api/nope", "/api/docs", "/", "/no-such-page", "/static/core/stayhub.css"):
        assert _get(f"{live_server.url}{path}").headers.get("X-Request-ID"), path
    two = {_get(url).headers["X-Request-ID"] for _ in range(2)}
    assert len(two) == 2


def test_one_log_line_per_request_with_the_same_id_and_no_secret(live_server):
    user = make_user(email=f"logs-{uuid.uuid4().hex[:8]}@example.com")
    base = live_server.url
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        login = client.post(
            "/api/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"X-Request-ID": "login-1"},
        )
        assert login.status_code == 200
        tokens = login.json()
        me = client.get(
            "/api/auth/me",
            headers={"Authorization": f"Bearer {tokens['access']}", "X-Request-ID": "me-1"},
        )
        assert me.status_code == 200
        refreshed = client.post("/api/auth/refresh", json={"refresh": tokens["refresh"]})
        assert refreshed.status_code == 200
        wrong = client.post(
            "/api/auth/login", json={"email": user.email, "password": "Wr0ng-but-secret-pw"}
        )
        assert wrong.status_code == 401
        signed_up = client.post(
            "/api/auth/signup",
            json={"email": "new-logs@example.com", "password": "Zq7!signup-pw", "name": "N"},
        )
        assert signed_up.status_code == 201
        # a page with the cookies (the jar holds them since login)
        assert client.get("/").status_code == 200
        # a failing request and a token in a URL-ish place
        client.get(
            f"/api/chat/{uuid.uuid4()}",
            headers={"Authorization": f"Bearer {tokens['access']}", "X-Request-ID": "missing-1"},
        )
        client.get(f"/unsubscribe/{tokens['access']}", headers={"X-Request-ID": "last-1"})
    _wait_for_line(live_server, "last-1")
    secrets = [
        PASSWORD,
        "Wr0ng-but-secret-pw",
        "Zq7!signup-pw",
        tokens["access"],
        tokens["refresh"],
        refreshed.json()["access"],
        refreshed.json()["refresh"],
        signed_up.json()["refresh"],
        *[c.value for c in client.cookies.jar],
    ]
    text = "\n".join(_log_lines(live_server))
    for secret in secrets:
        assert secret not in text
    lines = _access_lines(live_server)
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["login-1"]["method"] == "POST"
    assert by_id["login-1"]["path"] == "/api/auth/login"
    assert by_id["login-1"]["status"] == 200
    assert by_id["me-1"]["user_id"] == str(user.pk)
    assert by_id["me-1"]["duration_ms"] >= 0
    assert by_id["missing-1"]["status"] == 404
    assert len([line for line in lines if line["path"] == "/api/auth/login"]) == 2
    assert {"method", "path", "status", "duration_ms", "user_id", "request_id"} <= set(lines[0])


def _login_statuses(base: str, user: User, count: int, forwarded_for) -> list[int]:
    out = []
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        for i in range(count):
            r = client.post(
                "/api/auth/login",
                json={"email": user.email, "password": "wrong-password"},
                headers={"X-Forwarded-For": forwarded_for(i)},
            )
            out.append(r.status_code)
    return out


def test_a_rotating_x_forwarded_for_does_not_escape_auth_rate(live_server):
    """The server is plain `uvicorn config.asgi:application` (which believes the header
    from 127.0.0.1 by default): still one client address."""
    user = make_user()
    statuses = _login_statuses(live_server.url, user, 25, lambda i: f"203.0.113.{i}")
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


def test_a_trusted_proxy_names_the_client(live_server_factory):
    server = live_server_factory(TRUSTED_PROXIES="127.0.0.1,::1")
    user = make_user()
    # each forwarded client has its own budget ...
    statuses = _login_statuses(server.url, user, 25, lambda i: f"203.0.113.{i}")
    assert set(statuses) == {401}
    # ... and one client behind the proxy is limited, whatever it writes to the left
    statuses = _login_statuses(server.url, user, 25, lambda i: f"10.9.9.{i}, 198.51.100.7")
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


def test_a_dependency_that_is_down_answers_503_json_and_health_still_works(
    live_server_factory,
):
    """PostgreSQL unreachable: a real server process pointed at a port nobody listens on."""
    port = free_port()
    server = live_server_factory(DATABASE_URL=f"postgres://stayhub:stayhub@127.0.0.1:{port}/x")
    base = server.url
    assert _get(f"{base}/healthz").status_code == 200
    ready = _get(f"{base}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok"
    assert ready.json()["status"] != "ok"
    for method, path, body in [
        ("GET", "/api/properties", None),
        ("POST", "/api/auth/login", {"email": "a@example.com", "password": "x"}),
        ("POST", "/api/auth/signup", {"email": "b@example.com", "password": "x", "name": "b"}),
        ("GET", f"/api/properties/{uuid.uuid4()}", None),
    ]:
        r = _request(method, f"{base}{path}", json=body)
        assert r.status_code == 503, (path, r.status_code, r.text[:300])
        assert r.json()["detail"]
        assert int(r.headers["Retry-After"]) > 0


def test_cors_allows_the_configured_origins_only_streams_included(live_server_factory):
    from core.tokens import issue_pair
    from messaging.services import conversation_start

    server = live_server_factory(CORS_ALLOWED_ORIGINS="https://app.example")
    user, other = make_user(), make_user()
    conversation, _ = conversation_start(user=user, other_user_id=other.pk)
    token = issue_pair(user).access
    base = server.url
    allowed = {"Origin": "https://app.example"}
    r = _get(f"{base}/api/properties", headers=allowed)
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = _get(f"{base}/api/properties", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    preflight = _options(
        f"{base}/api/chat/{conversation.pk}/messages",
        headers={
            **allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert "idempotency-key" in preflight.headers["Access-Control-Allow-Headers"]
    for path in (f"/api/chat/{conversation.pk}/events", "/api/chat/events"):
        with httpx.stream(
            "GET",
            f"{base}{path}",
            headers={**allowed, "Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert stream.headers["X-Request-ID"]
        with httpx.stream(
            "GET",
            f"{base}{path}",
            headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        ) as stream:
            assert "Access-Control-Allow-Origin" not in stream.headers


def test_no_log_line_while_streams_open_one_per_stream_when_it_ends(live_server):
    from messaging.services import conversation_start

    user, other = make_user(), make_user()
    conversation, _ = conversation_start(user=user, other_user_id=other.pk)
    from core.tokens import issue_pair

    headers = {"Authorization": f"Bearer {issue_pair(user).access}"}
    marker = _get(f"{live_server.url}/healthz")
    assert marker.status_code == 200
    _wait_for_line(live_server, marker.headers["X-Request-ID"])
    before = len(_log_lines(live_server))
    paths = [f"/api/chat/{conversation.pk}/events", "/api/chat/events"] * 2
    with httpx.Client(base_url=live_server.url, timeout=TIMEOUT) as client:
        streams = [client.stream("GET", path, headers=headers) for path in paths]
        opened = [stream.__enter__() for stream in streams]
        readers = [response.iter_bytes() for response in opened]  # kept: dropped, they close
        for response, reader in zip(opened, readers, strict=True):
            assert response.status_code == 200
            next(reader)  # the stream has started
        time.sleep(0.5)
        while_open = _log_lines(live_server)[before:]
        for stream in streams:
            stream.__exit__(None, None, None)
    assert while_open == []  # nothing logged at INFO (or any level) per stream opened
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ended = [line for line in _access_lines(live_server) if line["path"].endswith("/events")]
        if len(ended) == len(paths):
            break
        time.sleep(0.2)
    assert len(ended) == len(paths)
    assert {line["user_id"] for line in ended} == {str(user.pk)}
