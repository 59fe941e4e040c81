"""JWT access and refresh tokens, made and checked with PyJWT (API.md, Conventions).

HS256 is pinned when decoding, every claim is required, and the `type` claim keeps
a refresh token from being used as an access token and the reverse.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import NotAuthenticated
from core.models import SpentRefreshToken, User

TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["sub", "type", "iat", "exp", "jti"]


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _encode(user: User, token_type: TokenType) -> str:
    now = datetime.now(tz=UTC)
    ttl = settings.JWT_ACCESS_TTL if token_type == "access" else settings.JWT_REFRESH_TTL
    claims = {
        "sub": str(user.pk),
        "type": token_type,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm=settings.JWT_ALGORITHM)


def issue_pair(user: User) -> TokenPair:
    return TokenPair(access=_encode(user, "access"), refresh=_encode(user, "refresh"))


def decode(token: str, expected_type: TokenType) -> dict[str, Any]:
    """The token's claims, or NotAuthenticated for anything not exactly right."""
    try:
        claims = jwt.decode(
            token,
            settings.JWT_SIGNING_KEY,
            algorithms=[settings.JWT_ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("Token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("Invalid token.") from exc
    if claims.get("type") != expected_type:
        raise NotAuthenticated(f"An {expected_type} token is required.")
    try:
        uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise NotAuthenticated("Invalid token.") from exc
    return claims


def user_for_token(token: str, expected_type: TokenType = "access") -> User:
    """The active user a token names (one query), or NotAuthenticated."""
    claims = decode(token, expected_type)
    try:  # get(): no ORDER BY to build, unlike first() (bench/README.md)
        return User.objects.get(pk=claims["sub"], is_active=True)
    except User.DoesNotExist as exc:
        raise NotAuthenticated("Invalid token.") from exc


def rotate_refresh(token: str) -> tuple[User, TokenPair]:
    """Spend a refresh token and issue a new pair; a spent token answers 401.

    The spend is an insert on the token's `jti` primary key, so of two concurrent
    uses of one token exactly one succeeds.
    """
    claims = decode(token, "refresh")
    user = User.objects.filter(pk=claims["sub"], is_active=True).first()
    if user is None:
        raise NotAuthenticated("Invalid token.")
    try:
        with transaction.atomic():
            SpentRefreshToken.objects.create(
                jti=claims["jti"],
                user=user,
                expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
            )
    except IntegrityError as exc:
        raise NotAuthenticated("This refresh token has already been used.") from exc
    return user, issue_pair(user)


def spend_refresh(token: str) -> None:
    """Spend a refresh token at logout, quietly ignoring one that is already unusable."""
    with contextlib.suppress(NotAuthenticated):
        rotate_refresh(token)
