"""The one user model: an email is the login, compared case-insensitively."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Login by email whatever its case: "Ann@X.org" and "ann@x.org" are one account.
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    # Emails about unread messages (API.md, Notifications); off from any email's link.
    notify_email = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Tokens carry the generation they were issued in (`gen` claim); logging out moves
    # it on, which refuses every token issued before, open streams' included.
    token_generation = models.PositiveIntegerField(default=0)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]
        ordering = ["email"]

    def __str__(self) -> str:
        return self.name or self.email


class SpentRefreshToken(models.Model):
    """A refresh token already exchanged: rotation means each one works once.

    The primary key on `jti` makes "spend" atomic: of two concurrent uses of one
    token, exactly one insert succeeds. Rows past `expires_at` can be purged, since
    the token would be refused as expired anyway.
    """

    jti = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    spent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.jti


class RevokedTokenFamily(models.Model):
    """A refresh token's family (every token rotated from one login), revoked at once.

    Reusing a spent refresh token is what a thief (or the victim, after a thief) does:
    every refresh token issued from it since then stops working, so whoever holds the
    live one must log in again (API.md, Accounts). Every refresh token carries its
    family in the `fam` claim.
    """

    family = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.family
