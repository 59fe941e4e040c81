"""Listings fixtures: properties, real image bytes, and a throwaway MEDIA_ROOT."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from core.models import User
from listings.models import Property, Reservation

PROPERTY_BODY = {
    "title": "Cliff-top cabin",
    "description": "Sea views, wood stove.",
    "price_per_night": 120,
    "bedrooms": 2,
    "bathrooms": 1,
    "guests": 4,
    "country": "Portugal",
    "country_code": "pt",
    "category": "cabins",
}


def make_property(landlord: User, **fields: Any) -> Property:
    data = {**PROPERTY_BODY, "country_code": "PT", **fields}
    return Property.objects.create(landlord=landlord, **data)


def book(prop: Property, guest: User, start: date, nights: int, guests: int = 1) -> Reservation:
    """A stay written straight to the table, to arrange a test (not the code under test)."""
    return Reservation.objects.create(
        property=prop,
        guest=guest,
        start_date=start,
        end_date=start + timedelta(days=nights),
        guests=guests,
        number_of_nights=nights,
        total_price=nights * prop.price_per_night,
    )


def days_from_today(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploaded files go to a folder of this test's own, never the project's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def prop(user: User) -> Property:
    """A listing whose landlord is `user` (the `api` client)."""
    return make_property(user)
