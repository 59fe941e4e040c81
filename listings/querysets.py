"""Query building blocks for listings: per-caller flags computed inside the query."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Exists, OuterRef, Value

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User


class PropertyQuerySet(models.QuerySet):
    def with_favorites(self, user: User | AnonymousUser) -> PropertyQuerySet:
        """Annotate `is_favorite` for `user` and join the landlord, in this one query.

        A correlated EXISTS (not a join) keeps one row per property whatever the
        favorites table holds, so pages and counts stay exact; anonymous callers get a
        constant False and no subquery at all.
        """
        from listings.models import Favorite

        if getattr(user, "is_authenticated", False):
            flag: Any = Exists(Favorite.objects.filter(user=user, property=OuterRef("pk")))
        else:
            flag = Value(False, output_field=models.BooleanField())
        return self.select_related("landlord").annotate(is_favorite=flag)

    def newest_first(self) -> PropertyQuerySet:
        # `id` breaks ties so that offset pages never repeat or skip a row.
        return self.order_by("-created_at", "-id")

    def free_between(self, checkin: date, checkout: date) -> PropertyQuerySet:
        """Properties with no reservation overlapping the stay [checkin, checkout)."""
        from listings.models import Reservation

        return self.exclude(
            Exists(Reservation.objects.overlapping(OuterRef("pk"), checkin, checkout))
        )


class ReservationQuerySet(models.QuerySet):
    def overlapping(self, property_id: Any, start: date, end: date) -> ReservationQuerySet:
        """Stays of one property sharing at least one night with [start, end).

        Half-open ranges: a stay may start on the day another ends.
        """
        return self.filter(property_id=property_id, start_date__lt=end, end_date__gt=start)
