"""Reads: browse, detail, reservation lists; each a fixed number of queries.

Every queryset here carries what its answer needs (landlord joined, `is_favorite`
annotated for the caller, properties of reservations prefetched), so serializing a
page never goes back to the database row by row.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import Prefetch, Q, QuerySet

from core.errors import NotAuthenticated
from core.models import User
from core.selectors import get_or_404
from listings.models import Property, Reservation, ReservationStatus

Caller = User | AnonymousUser


def property_list(
    *,
    user: Caller,
    favorites_only: bool = False,
    landlord_id: UUID | None = None,
    country: str | None = None,
    category: str | None = None,
    guests: int | None = None,
    bedrooms: int | None = None,
    bathrooms: int | None = None,
    checkin: date | None = None,
    checkout: date | None = None,
) -> QuerySet[Property]:
    """Browse, newest first; every filter narrows, all combine."""
    qs = Property.objects.with_favorites(user).newest_first()
    if favorites_only:
        if not user.is_authenticated:
            raise NotAuthenticated("Sign in to list your favorites.")
        qs = qs.filter(is_favorite=True)
    if landlord_id is not None:
        qs = qs.filter(landlord_id=landlord_id)
    if country:
        qs = qs.filter(Q(country__iexact=country) | Q(country_code__iexact=country))
    if category:
        qs = qs.filter(category__iexact=category)
    if guests:
        qs = qs.filter(guests__gte=guests)
    if bedrooms:
        qs = qs.filter(bedrooms__gte=bedrooms)
    if bathrooms:
        qs = qs.filter(bathrooms__gte=bathrooms)
    if checkin and checkout:
        qs = qs.free_between(checkin, checkout)
    return qs


def property_get(*, property_id: Any, user: Caller) -> Property:
    return get_or_404(Property.objects.with_favorites(user), pk=property_id)


def _with_property(qs: QuerySet[Reservation], user: Caller) -> QuerySet[Reservation]:
    # The guest joined; one extra query for all the page's properties, each with the
    # caller's flags (favorite, private check-in details for their landlord).
    return qs.select_related("guest").prefetch_related(
        Prefetch("property", queryset=Property.objects.with_favorites(user))
    )


def property_reservations(*, property_id: Any, user: Caller) -> QuerySet:
    """The stays of one property: whole, of every status, for its landlord; for anyone
    else only the dates of the confirmed ones.

    Others get plain `{"start_date", "end_date"}` rows, so nothing more about the
    guests can leak through serialization.
    """
    prop = get_or_404(Property.objects.only("id", "landlord_id"), pk=property_id)
    qs = Reservation.objects.filter(property=prop).order_by("start_date", "id")
    if user.is_authenticated and prop.landlord_id == user.pk:
        return _with_property(qs, user)
    return qs.filter(status=ReservationStatus.CONFIRMED).values("start_date", "end_date")


def reservation_list(*, user: User, role: str = "guest", status: str | None = None) -> QuerySet:
    """The caller's stays as guest (`role="guest"`) or of the caller's listings
    (`role="host"`), soonest first; `status` as of now (a stale request is expired)."""
    if role == "host":
        qs = Reservation.objects.filter(property__landlord=user)
    else:
        qs = Reservation.objects.filter(guest=user)
    if status:
        qs = qs.in_status(status)
    return _with_property(qs, user).order_by("start_date", "id")


def reservation_get(*, reservation_id: Any, user: User) -> Reservation:
    """One stay, for its guest and its landlord; anyone else: not found (404)."""
    mine = Reservation.objects.filter(Q(guest=user) | Q(property__landlord=user))
    return get_or_404(_with_property(mine, user), pk=reservation_id)


def stay_confirmed_between(a_id: Any, b_id: Any) -> bool:
    """Whether two users have a confirmed stay together (upcoming, running or past), as
    guest and landlord either way round. One query.

    Messaging asks it (contact details are masked until such a stay exists) through a
    check that listings installs at start-up, since messaging never imports listings.
    """
    confirmed = Reservation.objects.filter(status=ReservationStatus.CONFIRMED)
    return confirmed.filter(
        Q(guest_id=a_id, property__landlord_id=b_id) | Q(guest_id=b_id, property__landlord_id=a_id)
    ).exists()
