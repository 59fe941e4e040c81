"""Listings, the favorites that users keep, and the stays they book.

The rules the data must always obey are here, as database constraints, so that no
code path (API, admin, shell, a concurrent request) can break them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from listings.querysets import PropertyQuerySet, ReservationQuerySet

MAX_PRICE_PER_NIGHT = 1_000_000
MAX_ROOMS = 100
MAX_GUESTS = 100
CHECKIN_DETAILS_MAX_LENGTH = 2000


class Property(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    landlord = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="properties"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=5000, blank=True)
    price_per_night = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    bedrooms = models.PositiveSmallIntegerField(default=1)
    bathrooms = models.PositiveSmallIntegerField(default=1)
    guests = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    country = models.CharField(max_length=100)
    country_code = models.CharField(
        max_length=2, validators=[RegexValidator(r"^[A-Z]{2}$", "Two capital letters.")]
    )
    category = models.CharField(max_length=50, blank=True)
    image = models.ImageField(upload_to="properties/", blank=True)
    # True: a booking is confirmed at once; False: it is a request the landlord answers.
    instant_book = models.BooleanField(default=True)
    # Private to the landlord; posted into a confirmed stay's thread before it starts.
    checkin_details = models.TextField(max_length=CHECKIN_DETAILS_MAX_LENGTH, blank=True)
    # A default rather than auto_now_add so that imports and demo data can set it.
    created_at = models.DateTimeField(default=timezone.now)

    objects = PropertyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "properties"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Browse is newest first; (created_at, id) is the page order.
            models.Index(fields=["-created_at", "-id"], name="property_newest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_per_night__gte=1), name="property_price_positive"
            ),
            models.CheckConstraint(condition=Q(guests__gte=1), name="property_guests_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class Favorite(models.Model):
    """A property a user keeps, as its own row: "my favorites" is one indexed range."""

    # Indexed by the (user, ...) constraint and index below; no index of its own.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="favorites",
        db_index=False,
    )
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="favorites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "property"], name="favorite_once_per_user"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="favorite_user_recent")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.property_id}"


class ReservationStatus(models.TextChoices):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Reservation(models.Model):
    """A stay from `start_date` (check-in) to `end_date` (check-out), nights in between.

    Two confirmed stays of one property never share a night: on PostgreSQL an
    exclusion constraint (see `listings.constraints`), elsewhere the serialised write
    in `listings.booking`. Requests may overlap until one is confirmed.

    A request not answered by `expires_at` is expired from that moment on, whether or
    not the job that writes `expired` has run yet: `current_status` (and the
    querysets' `in_status`) read it that way, so nothing can act on a stale request.
    A stay written without a status (the admin, an import) is a confirmed one.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Both foreign keys lead the composite indexes below, which serve their lookups too.
    property = models.ForeignKey(
        Property, on_delete=models.CASCADE, related_name="reservations", db_index=False
    )
    guest = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="reservations",
        db_index=False,
    )
    start_date = models.DateField()
    end_date = models.DateField()
    guests = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    number_of_nights = models.PositiveIntegerField()
    total_price = models.PositiveBigIntegerField()
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.CONFIRMED
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When a request expires unanswered (created_at + RESERVATION_REQUEST_TTL).
    expires_at = models.DateTimeField(null=True, blank=True)
    # The `checkin` message posted into the thread for this stay, and whether its
    # words have been removed since (after the stay, or on cancellation).
    checkin_message_id = models.UUIDField(null=True, blank=True, editable=False)
    checkin_removed = models.BooleanField(default=False, editable=False)

    objects = ReservationQuerySet.as_manager()

    class Meta:
        ordering = ["start_date", "id"]
        indexes = [
            models.Index(fields=["property", "start_date"], name="reservation_property_dates"),
            models.Index(fields=["guest", "start_date"], name="reservation_guest_dates"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")), name="reservation_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(guests__gte=1), name="reservation_guests_positive"),
            models.CheckConstraint(
                condition=Q(number_of_nights__gte=1), name="reservation_nights_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.property_id}: {self.start_date} to {self.end_date}"

    def current_status(self) -> str:
        """The status as of now: a request past `expires_at` is expired (see above)."""
        if self.status == ReservationStatus.REQUESTED and self.is_past_expiry():
            return ReservationStatus.EXPIRED
        return self.status

    def is_past_expiry(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def price(self) -> None:
        """Set nights and total from the dates and the property's nightly price."""
        self.number_of_nights = (self.end_date - self.start_date).days
        self.total_price = self.number_of_nights * self.property.price_per_night

    def clean(self) -> None:
        """Readable errors for forms (the admin); the database has the final word."""
        super().clean()
        if self.start_date and self.end_date and self.property_id:
            if self.end_date <= self.start_date:
                raise ValidationError({"end_date": "The stay must end after it starts."})
            if self.status != ReservationStatus.CONFIRMED:
                return
            clash = Reservation.objects.confirmed_overlapping(
                self.property_id, self.start_date, self.end_date
            ).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError("These dates overlap a confirmed stay at this property.")
