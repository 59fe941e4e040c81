"""Schemathesis against the live server's own OpenAPI document: every operation, with
and without a valid token, with valid and with invalid data.

No answer may be a 5xx, and every answer must be one the schema declares, with the
declared content type, body and headers (`Retry-After` included): the schema is the
contract clients are generated from (API.md: "documented in the OpenAPI schema").

Run on a real uvicorn (`live_server`), so what is checked is what clients get: the
stream route in front of Django, the middleware, the error mapping. The number of
examples per operation and mode is `STAYHUB_FUZZ_EXAMPLES` (default 10): 10 x 4
modes x every operation keeps this test around two minutes on two cores; raise it
locally to dig deeper.

The inbox stream with a valid token is left out of the authenticated pass: it is an
endless `text/event-stream` (its answers are tested in tests/messaging); its error
answers are fuzzed in the anonymous pass and every other stream case in both.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import issue_pair
from tests.conftest import LiveServer, make_user

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("STAYHUB_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ENDLESS = {("GET", "/api/chat/events")}  # with a valid token: an open stream


@pytest.fixture
def fuzzed_server(live_server_factory: Any) -> LiveServer:
    # Limits lifted so that fuzzing is not answered 429 throughout.
    return live_server_factory(MESSAGE_RATE="1000000", AUTH_RATE="1000000", STREAM_LIMIT="1000")


def run_operation(operation: Any, base_url: str, headers: dict[str, str], mode: Any) -> int:
    """Fuzz one operation in one mode; the number of requests sent."""
    sent = 0
    checks = [*CHECKS, negative_data_rejection] if mode == GenerationMode.NEGATIVE else CHECKS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=20)

    fuzz()
    return sent


def test_every_operation_answers_as_its_schema_says(fuzzed_server: LiveServer) -> None:
    user = make_user(name="Fuzzer")
    token = issue_pair(user).access
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/api/openapi.json")
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for auth in ({}, {"Authorization": f"Bearer {token}"}):
            if auth and (operation.method.upper(), operation.path) in ENDLESS:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    sent += run_operation(operation, fuzzed_server.url, auth, mode)
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    continue
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # every operation's failure, not just the first
                    label = f"{operation.method.upper()} {operation.path}"
                    who = "token" if auth else "anonymous"
                    failures.append(f"{label} [{who}, {mode.value}]: {str(exc)[:1500]}")
    print(f"schemathesis: {sent} requests, up to {EXAMPLES} examples per operation and mode")
    assert not failures, "\n\n".join(failures)
