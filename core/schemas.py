"""Schemas shared by every app: users, tokens, errors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Model
from django.db.models.fields.files import FieldFile
from ninja import Schema
from pydantic import EmailStr, Field


def media_url(obj: Any, field: str) -> str | None:
    """The URL of `obj`'s uploaded file in `field`, or None when there is no file.

    Root-relative (`/media/...`) unless `PUBLIC_URL` is set, and never built from the
    request: the same object must serialize the same way in an HTTP answer and in a
    stream event, which has no request.

    For a model instance it reads the stored name, not `obj.<field>`: that makes a
    `FieldFile` that points back at its instance, a reference cycle that only the
    cyclic GC frees; a message's two users would make two per message, on the path of
    every message sent.
    """
    if isinstance(obj, Model) and field in obj.__dict__:  # loaded, not deferred
        name = obj.__dict__[field]
        if isinstance(name, FieldFile):  # accessed before: the file object is there
            name = name.name
        if not name:
            return None
        return f"{settings.PUBLIC_URL}{obj._meta.get_field(field).storage.url(name)}"
    file = getattr(obj, field, None)
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
        return media_url(obj, "avatar")


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
