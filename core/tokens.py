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
from django.db.models import F

from core.errors import NotAuthenticated
from core.models import RevokedTokenFamily, SpentRefreshToken, User
from core.signals import tokens_revoked

TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["sub", "type", "iat", "exp", "jti"]


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _encode(user: User, token_type: TokenType, family: str | None = None) -> str:
    now = datetime.now(tz=UTC)
    ttl = settings.JWT_ACCESS_TTL if token_type == "access" else settings.JWT_REFRESH_TTL
    claims = {
        "sub": str(user.pk),
        "type": token_type,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "gen": user.token_generation,
    }
    if family is not None:
        claims["fam"] = family
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm=settings.JWT_ALGORITHM)


def issue_pair(user: User, family: str | None = None) -> TokenPair:
    """A new pair; the refresh token continues `family`, or starts one (at login)."""
    return TokenPair(
        access=_encode(user, "access"),
        refresh=_encode(user, "refresh", family or uuid.uuid4().hex),
    )


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


def generation(claims: dict[str, Any]) -> int:
    """The user's token generation a token was issued in (0 for tokens from before it)."""
    value = claims.get("gen", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def is_current(claims: dict[str, Any], user: User) -> bool:
    """Whether the token was issued after the user's last logout (`User.token_generation`)."""
    return generation(claims) >= user.token_generation


def user_for_token(token: str, expected_type: TokenType = "access") -> User:
    """The active user a token names (one query), or NotAuthenticated."""
    return user_for_claims(decode(token, expected_type))


def user_for_claims(claims: dict[str, Any]) -> User:
    """The active user of a decoded token (one query), or NotAuthenticated."""
    try:  # get(): no ORDER BY, unlike first()
        user = User.objects.get(pk=claims["sub"], is_active=True)
    except User.DoesNotExist as exc:
        raise NotAuthenticated("Invalid token.") from exc
    if not is_current(claims, user):
        raise NotAuthenticated("This token was revoked by a logout.")
    return user


def tokens_revoke(user_id: uuid.UUID | str) -> None:
    """Refuse every token of the user issued so far (logout): streams opened with one end.

    A counter moved on in the database, which every worker reads: API calls check it
    when they load the user, open streams when they re-check their users
    (`STREAM_AUTH_CHECK_SECONDS`).
    """
    User.objects.filter(pk=user_id).update(token_generation=F("token_generation") + 1)
    transaction.on_commit(lambda: tokens_revoked.send(sender=User, user_id=user_id))


def rotate_refresh(token: str) -> tuple[User, TokenPair]:
    """Spend a refresh token and issue a new pair; a spent token answers 401.

    The spend is an insert on the token's `jti` primary key, so of two concurrent
    uses of one token exactly one succeeds. Using a spent one again revokes its
    family: every refresh token rotated from it since is refused from then on.
    """
    claims = decode(token, "refresh")
    family = str(claims.get("fam") or claims["jti"])[:64]
    user = User.objects.filter(pk=claims["sub"], is_active=True).first()
    if user is None or not is_current(claims, user):
        raise NotAuthenticated("Invalid token.")
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    if RevokedTokenFamily.objects.filter(family=family).exists():
        raise NotAuthenticated("This session was revoked; log in again.")
    try:
        with transaction.atomic():
            SpentRefreshToken.objects.create(jti=claims["jti"], user=user, expires_at=expires_at)
    except IntegrityError as exc:
        _revoke_family(family, user, expires_at)
        raise NotAuthenticated("This refresh token has already been used.") from exc
    return user, issue_pair(user, family)


def _revoke_family(family: str, user: User, expires_at: datetime) -> None:
    # The family's newest token expires at most JWT_REFRESH_TTL after this one's use.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        RevokedTokenFamily.objects.create(
            family=family,
            user=user,
            expires_at=max(expires_at, datetime.now(tz=UTC) + settings.JWT_REFRESH_TTL),
        )


def spend_refresh(token: str) -> None:
    """Spend a refresh token at logout, quietly ignoring one that is already unusable."""
    with contextlib.suppress(NotAuthenticated):
        rotate_refresh(token)


def token_subject(token: str | None, expected_type: TokenType) -> str | None:
    """The user id a valid token names; None for no token or a bad one (for logout)."""
    if not token:
        return None
    try:
        return str(decode(token, expected_type)["sub"])
    except NotAuthenticated:
        return None
