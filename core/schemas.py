"""Schemas shared by every app: users, tokens, errors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models.fields.files import FieldFile
from ninja import Schema
from pydantic import EmailStr, Field


def media_url(file: FieldFile | None) -> str | None:
    """An uploaded file's URL, or None when there is no file.

    Root-relative (`/media/...`) unless `PUBLIC_URL` is set, and never built from the
    request: the same object must serialize the same way in an HTTP answer and in a
    stream event, which has no request.
    """
    if not file:
        return None
    return f"{settings.PUBLIC_URL}{file.url}"


class ErrorOut(Schema):
    detail: Any = Field(..., description="What went wrong; a list of field errors for 422.")


class UserOut(Schema):
    id: UUID
    name: str
    avatar_url: str | None

    @staticmethod
    def resolve_avatar_url(obj: Any, context: dict[str, Any]) -> str | None:
        return media_url(getattr(obj, "avatar", None))


class MeOut(UserOut):
    email: str


class SignupIn(Schema):
    email: EmailStr
    password: str = Field(..., min_length=1, max_length=128)
    name: str = Field(..., min_length=1, max_length=150)


class LoginIn(Schema):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=128)


class RefreshIn(Schema):
    refresh: str | None = Field(
        None,
        max_length=2048,
        description="The refresh token; browsers may leave it out and send the HttpOnly cookie.",
    )


class TokensOut(Schema):
    access: str
    refresh: str


class AuthOut(TokensOut):
    user: MeOut


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """`{code: ErrorOut}` for an operation's documented error answers."""
    return dict.fromkeys(codes, ErrorOut)
