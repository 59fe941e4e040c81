"""Query building blocks for listings: per-caller flags computed inside the query."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User


class PropertyQuerySet(models.QuerySet):
    def with_favorites(self, user: User | AnonymousUser) -> PropertyQuerySet:
        """Annotate what `user` may see of each property and join the landlord, in one query.

        `is_favorite`: a correlated EXISTS (not a join) keeps one row per property
        whatever the favorites table holds, so pages and counts stay exact; anonymous
        callers get a constant False and no subquery at all. `own_checkin_details`:
        the private check-in details for the landlord, NULL for anyone else.
        """
        from listings.models import Favorite

        if getattr(user, "is_authenticated", False):
            flag: Any = Exists(Favorite.objects.filter(user=user, property=OuterRef("pk")))
            details: Any = Case(
                When(landlord_id=user.pk, then=F("checkin_details")),
                default=Value(None),
                output_field=models.TextField(),
            )
        else:
            flag = Value(False, output_field=models.BooleanField())
            details = Value(None, output_field=models.TextField())
        return self.select_related("landlord").annotate(
            is_favorite=flag, own_checkin_details=details
        )

    def newest_first(self) -> PropertyQuerySet:
        # `id` breaks ties so that offset pages never repeat or skip a row.
        return self.order_by("-created_at", "-id")

    def free_between(self, checkin: date, checkout: date) -> PropertyQuerySet:
        """Properties with no confirmed stay overlapping the stay [checkin, checkout)."""
        from listings.models import Reservation

        return self.exclude(
            Exists(Reservation.objects.confirmed_overlapping(OuterRef("pk"), checkin, checkout))
        )


class ReservationQuerySet(models.QuerySet):
    def overlapping(self, property_id: Any, start: date, end: date) -> ReservationQuerySet:
        """Stays of one property sharing at least one night with [start, end).

        Half-open ranges: a stay may start on the day another ends.
        """
        return self.filter(property_id=property_id, start_date__lt=end, end_date__gt=start)

    def confirmed_overlapping(
        self, property_id: Any, start: date, end: date
    ) -> ReservationQuerySet:
        """Confirmed stays sharing a night with [start, end): what a stay must not overlap."""
        from listings.models import ReservationStatus

        return self.overlapping(property_id, start, end).filter(status=ReservationStatus.CONFIRMED)

    def in_status(self, status: str) -> ReservationQuerySet:
        """Stays whose current status is `status`, a request past its expiry being expired.

        The expiry job writes `expired` at `expires_at`; until it has run, this (and
        `Reservation.current_status`) already read it so.
        """
        from listings.models import ReservationStatus

        now = timezone.now()
        if status == ReservationStatus.REQUESTED:
            return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), status=status)
        if status == ReservationStatus.EXPIRED:
            return self.filter(
                Q(status=status) | Q(status=ReservationStatus.REQUESTED, expires_at__lte=now)
            )
        return self.filter(status=status)

    def open_requests(self) -> ReservationQuerySet:
        from listings.models import ReservationStatus

        return self.in_status(ReservationStatus.REQUESTED)
