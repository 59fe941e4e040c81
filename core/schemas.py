"""Schemas shared by every app: users, tokens, errors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models.fields.files import FieldFile
from django.http import HttpRequest
from ninja import Schema
from pydantic import EmailStr, Field


def absolute_media_url(file: FieldFile | None, context: dict[str, Any] | None) -> str | None:
    """An uploaded file's absolute URL, or None when there is no file."""
    if not file:
        return None
    url = file.url
    request: HttpRequest | None = (context or {}).get("request")
    return request.build_absolute_uri(url) if request is not None else url


class ErrorOut(Schema):
    detail: Any = Field(..., description="What went wrong; a list of field errors for 422.")


class UserOut(Schema):
    id: UUID
    name: str
    avatar_url: str | None

    @staticmethod
    def resolve_avatar_url(obj: Any, context: dict[str, Any]) -> str | None:
        return absolute_media_url(getattr(obj, "avatar", None), context)


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
