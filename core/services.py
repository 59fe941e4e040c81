"""Account writes: sign-up, login, token refresh."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict, Invalid, NotAuthenticated
from core.models import User
from core.tokens import TokenPair, issue_pair, rotate_refresh


def signup(*, email: str, password: str, name: str) -> tuple[User, TokenPair]:
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


def login(*, email: str, password: str) -> tuple[User, TokenPair]:
    # ModelBackend runs the hasher for unknown emails too, so timing tells nothing.
    user = authenticate(username=email.strip(), password=password)
    if user is None or not user.is_active:
        raise NotAuthenticated("Wrong email or password.")
    return user, issue_pair(user)


def refresh(*, token: str | None) -> tuple[User, TokenPair]:
    if not token:
        raise NotAuthenticated("A refresh token is required.")
    return rotate_refresh(token)


def user_deactivate(*, user: User) -> None:
    """Switch an account off (staff, e.g. after a report): its tokens stop working at
    once, as every request and stream reads `is_active`; nothing it wrote is deleted.
    Saved through the model (signals run), so whatever listens for it hears of it."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
