"""Production settings (API.md, Operating): `check --deploy` is clean, HTTPS_ONLY works.

`manage.py check --deploy` runs in a subprocess with the environment an operator
would set; HTTPS_ONLY is observed on a real server: plain HTTP is redirected, HSTS and
secure cookies come with HTTPS, and `X-Forwarded-Proto` counts only from a peer in
`TRUSTED_PROXIES`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, make_user

ROOT = Path(__file__).resolve().parent.parent.parent
TIMEOUT = 30


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "STAYHUB_ALLOW_DEV_SECRET", "SECRET_KEY"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "HTTPS_ONLY": "1",
    "ALLOWED_HOSTS": "stayhub.example",
}


def test_check_deploy_reports_nothing_in_production() -> None:
    result = manage("check", "--deploy", "--fail-level", "DEBUG", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_does_report_a_site_without_https_only() -> None:
    """The check above can fail: without HTTPS_ONLY it names what is missing."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "HTTPS_ONLY": "0"}
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_the_development_key_is_refused_with_debug_off() -> None:
    result = manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_https_only_redirects_plain_http_and_ignores_an_untrusted_forwarded_proto(
    live_server_factory,
) -> None:
    server = live_server_factory(HTTPS_ONLY="1", AUTH_COOKIE_SECURE="")
    plain = httpx.get(f"{server.url}/api/properties?limit=1", timeout=TIMEOUT)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://127.0.0.1:{server.port}/api/properties?limit=1"
    forged = httpx.get(
        f"{server.url}/api/properties", headers={"X-Forwarded-Proto": "https"}, timeout=TIMEOUT
    )
    assert forged.status_code == 301  # the peer is no trusted proxy: not believed
    assert "Strict-Transport-Security" not in forged.headers
    # probes stay on plain HTTP
    assert httpx.get(f"{server.url}/healthz", timeout=TIMEOUT).status_code == 200
    assert httpx.get(f"{server.url}/readyz", timeout=TIMEOUT).status_code == 200


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_https_only_behind_a_trusted_proxy_sends_hsts_and_secure_cookies(
    live_server_factory,
) -> None:
    server = live_server_factory(HTTPS_ONLY="1", AUTH_COOKIE_SECURE="", TRUSTED_PROXIES="127.0.0.1")
    user = make_user()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
    r = httpx.get(f"{server.url}/api/properties", headers=proxied, timeout=TIMEOUT)
    assert r.status_code == 200
    assert "max-age=" in r.headers["Strict-Transport-Security"]
    login = httpx.post(
        f"{server.url}/api/auth/login",
        json={"email": user.email, "password": PASSWORD},
        headers=proxied,
        timeout=TIMEOUT,
    )
    assert login.status_code == 200
    cookies = login.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("; Secure" in cookie and "HttpOnly" in cookie for cookie in cookies)
    # the same proxy saying plain http is redirected
    r = httpx.get(
        f"{server.url}/api/properties", headers={"X-Forwarded-Proto": "http"}, timeout=TIMEOUT
    )
    assert r.status_code == 301


@pytest.mark.parametrize(
    ("grip", "message"),
    [
        ({"GRIP_PUSH_SPEC": "tcp://127.0.0.1:5560"}, "with GRIP_URL"),
        (
            {"GRIP_URL": "http://127.0.0.1:5561", "GRIP_KEY": "k" * 32, "GRIP_PUSH_SPEC": "5560"},
            "tcp://host:port or ipc://path",
        ),
    ],
)
def test_a_pushpin_socket_without_pushpin_or_without_a_scheme_is_refused(
    grip: dict[str, str], message: str
) -> None:
    result = manage("check", **PRODUCTION, **grip)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_a_pushpin_socket_with_pushpin_is_accepted() -> None:
    grip = {"GRIP_URL": "http://127.0.0.1:5561", "GRIP_KEY": "k" * 32}
    result = manage("check", **PRODUCTION, **grip, GRIP_PUSH_SPEC="tcp://127.0.0.1:5560")
    assert result.returncode == 0, result.stderr
