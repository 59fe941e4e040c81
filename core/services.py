"""Account writes: sign-up, login, token refresh, profile and email preference."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict, Invalid, NotAuthenticated
from core.images import reencode_avatar
from core.models import User
from core.tokens import TokenPair, issue_pair, rotate_refresh


def user_sign_up(*, email: str, password: str, name: str) -> tuple[User, TokenPair]:
    email = User.objects.normalize_email(email.strip())
    name = name.strip()
    if not name:
        raise Invalid("name must not be blank.")
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with this email already exists.")
    try:
        validate_password(password, user=User(email=email, name=name))
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages)) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as exc:  # a concurrent sign-up with the same email won the race
        raise Conflict("An account with this email already exists.") from exc
    return user, issue_pair(user)


def user_log_in(*, email: str, password: str) -> tuple[User, TokenPair]:
    # ModelBackend runs the hasher for unknown emails too, so timing tells nothing.
    user = authenticate(username=email.strip(), password=password)
    if user is None or not user.is_active:
        raise NotAuthenticated("Wrong email or password.")
    return user, issue_pair(user)


def token_refresh(*, token: str | None) -> tuple[User, TokenPair]:
    if not token:
        raise NotAuthenticated("A refresh token is required.")
    return rotate_refresh(token)


def user_update(
    *,
    user: User,
    name: str | None = None,
    notify_email: bool | None = None,
    avatar: Any = None,
) -> User:
    """Change what the person chose to change (None: leave as is), in one UPDATE.

    An avatar upload is checked and re-encoded (`core.images`) before anything is
    written, so a refused picture leaves the account as it was; the old file goes
    once the new one is committed.
    """
    fields: list[str] = []
    if name is not None:
        name = name.strip()
        if not name or len(name) > 150 or "\x00" in name:
            raise Invalid("name must hold 1 to 150 characters.")
        user.name = name
        fields.append("name")
    if notify_email is not None:
        user.notify_email = bool(notify_email)
        fields.append("notify_email")
    old_avatar = user.avatar.name if avatar is not None else ""
    if avatar is not None:
        user.avatar.save(*reencode_avatar(avatar), save=False)
        fields.append("avatar")
    if not fields:
        return user
    try:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(**{f: getattr(user, f) for f in fields})
            if old_avatar and old_avatar != user.avatar.name:
                storage = user.avatar.storage
                transaction.on_commit(lambda: storage.delete(old_avatar))
    except Exception:
        if avatar is not None:  # the new file is nobody's
            user.avatar.storage.delete(user.avatar.name)
        raise
    return user


def user_unsubscribe(*, user_id: Any) -> User | None:
    """Turn a person's notification emails off (an email's unsubscribe link); idempotent.

    None when the account no longer exists.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return None
    if user.notify_email:
        user_update(user=user, notify_email=False)
    return user


def user_deactivate(*, user: User) -> None:
    """Switch an account off (staff, e.g. after a report): its tokens stop working at
    once, as every request and stream reads `is_active`; nothing it wrote is deleted.
    Saved through the model (signals run), so whatever listens for it hears of it."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
