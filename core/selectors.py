"""Reads every app shares."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from core.errors import NotFound
from core.models import User

M = TypeVar("M", bound=Model)


def get_or_404(queryset: QuerySet[M], **lookup: Any) -> M:
    """The one object matching `lookup`, or NotFound (answered as 404).

    `get()`, not `first()`: `first()` adds an ORDER BY for nothing.
    """
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist as exc:
        raise NotFound(f"{queryset.model._meta.verbose_name.capitalize()} not found.") from exc


def user_get(user_id: Any) -> User:
    return get_or_404(User.objects.filter(is_active=True), pk=user_id)


def users_token_state(user_ids: set[str]) -> dict[str, tuple[bool, int]]:
    """`{user id: (is_active, token_generation)}`: what decides whether tokens issued to
    these users still hold (`core.tokens.is_current`), in one query."""
    rows = User.objects.filter(pk__in=user_ids).values_list("pk", "is_active", "token_generation")
    return {str(pk): (active, generation) for pk, active, generation in rows}
