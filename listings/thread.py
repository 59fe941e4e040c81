"""A stay's news, in words, in the thread between its guest and its landlord.

Listings calls messaging's services here and nowhere else; messaging stores what it
is handed: the stay's summary as it is now (API.md, StaySummary) on the message, the
listing as the conversation's subject. Call these inside the transaction of the
change they tell of.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from core.models import User
from core.schemas import media_url
from listings.models import Property, Reservation
from messaging import services as messaging

CHECKIN_REMOVED = "Check-in details were removed after the stay."


def tell(reservation: Reservation, *, actor: User, words: str, kind: str = "reservation") -> Any:
    """Post `words` from `actor` to the other side of the stay; the stored message."""
    landlord = reservation.property.landlord
    recipient = reservation.guest if actor.pk == landlord.pk else landlord
    return messaging.message_post(
        author=actor,
        recipient=recipient,
        kind=kind,
        body=words,
        reservation=summary(reservation),
        subject=subject(reservation.property),
    )


def remove(message_id: UUID) -> None:
    messaging.message_redact(message_id=message_id, body=CHECKIN_REMOVED)


def summary(reservation: Reservation) -> dict[str, Any]:
    """The StaySummary of API.md, JSON-ready."""
    return {
        "id": str(reservation.pk),
        "status": reservation.current_status(),
        "property_id": str(reservation.property_id),
        "property_title": reservation.property.title,
        "start_date": reservation.start_date.isoformat(),
        "end_date": reservation.end_date.isoformat(),
        "guests": reservation.guests,
        "total_price": reservation.total_price,
    }


def subject(prop: Property) -> dict[str, Any]:
    """A conversation's `subject`: the listing the two talk about."""
    return {"property_id": str(prop.pk), "title": prop.title, "image_url": media_url(prop, "image")}


# ------------------------------------------------------------------ the words


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stay(r: Reservation) -> str:
    return (
        f"{r.property.title}, {_day(r.start_date)} to {_day(r.end_date)} "
        f"({_plural(r.number_of_nights, 'night')}, {_plural(r.guests, 'guest')}, "
        f"total {r.total_price})"
    )


def booked(r: Reservation) -> str:
    return f"{r.guest.name} booked {_stay(r)}. The stay is confirmed."


def requested(r: Reservation) -> str:
    return f"{r.guest.name} requested to stay at {_stay(r)}."


def confirmed(r: Reservation) -> str:
    return f"{r.property.landlord.name} confirmed the stay at {_stay(r)}."


def declined(r: Reservation) -> str:
    return f"{r.property.landlord.name} declined the request to stay at {_stay(r)}."


def declined_as_taken(r: Reservation) -> str:
    return f"The request to stay at {_stay(r)} was declined: those dates are now booked."


def cancelled(r: Reservation, *, actor: User, was: str) -> str:
    what = "request to stay" if was == "requested" else "stay"
    return f"{actor.name} cancelled the {what} at {_stay(r)}."


def expired(r: Reservation) -> str:
    return f"The request to stay at {_stay(r)} expired without an answer."
