"""Forged, stale and misused tokens are all refused with 401, never let through or 500.

Each attack is tried where an access token is required (`/api/auth/me`), where one
is optional (browse: a token that is present must still be good) and, for refresh
tokens, on `/api/auth/refresh`.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.conf import settings

from core.models import User
from core.tokens import issue_pair
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def claims_for(user: User, token_type: str = "access", **overrides) -> dict:
    now = datetime.now(tz=UTC)
    claims = {
        "sub": str(user.pk),
        "type": token_type,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def sign(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.JWT_SIGNING_KEY, algorithm=algorithm)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict) -> str:
    """The classic `alg: none` token: a header, the claims, and an empty signature."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    as_json = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    payload = b64(json.dumps(as_json).encode())
    return f"{header}.{payload}."


def tampered(token: str) -> str:
    """Same header and signature, claims changed to name someone else."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["sub"] = str(uuid.uuid4())
    return f"{header}.{b64(json.dumps(data).encode())}.{signature}"


def flipped_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


ATTACKS = {
    "tampered-claims": lambda u: tampered(issue_pair(u).access),
    "tampered-signature": lambda u: flipped_signature(issue_pair(u).access),
    "alg-none": lambda u: unsigned(claims_for(u)),
    "alg-HS512-same-key": lambda u: sign(claims_for(u), algorithm="HS512"),
    "another-key": lambda u: sign(claims_for(u), key="an-attacker-key-of-decent-length-00000"),
    "expired": lambda u: sign(
        claims_for(
            u,
            iat=datetime.now(tz=UTC) - timedelta(hours=1),
            exp=datetime.now(tz=UTC) - timedelta(seconds=1),
        )
    ),
    "refresh-as-access": lambda u: issue_pair(u).refresh,
    "garbage": lambda u: "not.a.jwt",
    "random-text": lambda u: "hello",
    "missing-sub": lambda u: sign({k: v for k, v in claims_for(u).items() if k != "sub"}),
    "missing-type": lambda u: sign({k: v for k, v in claims_for(u).items() if k != "type"}),
    "missing-exp": lambda u: sign({k: v for k, v in claims_for(u).items() if k != "exp"}),
    "missing-iat": lambda u: sign({k: v for k, v in claims_for(u).items() if k != "iat"}),
    "missing-jti": lambda u: sign({k: v for k, v in claims_for(u).items() if k != "jti"}),
    "unknown-type": lambda u: sign(claims_for(u, type="admin")),
    "sub-not-a-uuid": lambda u: sign(claims_for(u, sub="1")),
    "sub-unknown-user": lambda u: sign(claims_for(u, sub=str(uuid.uuid4()))),
}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
@pytest.mark.parametrize("path", ["/api/auth/me", "/api/properties"], ids=["required", "optional"])
def test_bad_access_tokens_answer_401(user, attack, path):
    token = ATTACKS[attack](user)
    r = ApiClient(token=token).get(path)
    assert r.status_code == 401, (attack, r.content)
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in r.json()


def test_the_good_token_these_attacks_start_from_is_accepted(user):
    """The control: without it, every test above could pass for the wrong reason."""
    assert ApiClient(token=sign(claims_for(user))).get("/api/auth/me").status_code == 200
    assert ApiClient(token=issue_pair(user).access).get("/api/properties").status_code == 200


def test_a_deactivated_users_token_stops_working(user):
    client = ApiClient(token=issue_pair(user).access)
    assert client.get("/api/auth/me").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", "bearer"],
    ids=["basic", "bearer-alone", "bearer-blank", "other-scheme", "lowercase-alone"],
)
def test_malformed_authorization_headers_answer_401(anon, header):
    r = anon.get("/api/auth/me", headers={"Authorization": header})
    assert r.status_code == 401


REFRESH_ATTACKS = {
    "access-as-refresh": lambda u: issue_pair(u).access,
    "expired": lambda u: sign(
        claims_for(
            u,
            "refresh",
            iat=datetime.now(tz=UTC) - timedelta(days=20),
            exp=datetime.now(tz=UTC) - timedelta(days=1),
        )
    ),
    "another-key": lambda u: sign(
        claims_for(u, "refresh"), key="another-key-0123456789abcdefghijklmnop"
    ),
    "alg-none": lambda u: unsigned(claims_for(u, "refresh")),
    "tampered-signature": lambda u: flipped_signature(issue_pair(u).refresh),
    "missing-jti": lambda u: sign(
        {k: v for k, v in claims_for(u, "refresh").items() if k != "jti"}
    ),
    "garbage": lambda u: "garbage",
}


@pytest.mark.parametrize("attack", REFRESH_ATTACKS, ids=list(REFRESH_ATTACKS))
def test_bad_refresh_tokens_answer_401(anon, user, attack):
    r = anon.post("/api/auth/refresh", {"refresh": REFRESH_ATTACKS[attack](user)})
    assert r.status_code == 401, (attack, r.content)


def test_a_well_formed_refresh_token_is_accepted(anon, user):
    assert (
        anon.post("/api/auth/refresh", {"refresh": sign(claims_for(user, "refresh"))}).status_code
        == 200
    )
