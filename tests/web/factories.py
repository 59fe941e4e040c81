"""Data the browser tests arrange directly in the test database."""

from __future__ import annotations

from typing import Any

from core.models import User
from listings.models import Property


def make_property(landlord: User, **fields: Any) -> Property:
    values = {
        "title": "Sea view flat",
        "description": "Two rooms above the harbour.",
        "price_per_night": 120,
        "bedrooms": 2,
        "bathrooms": 1,
        "guests": 4,
        "country": "Portugal",
        "country_code": "PT",
        "category": "Beach",
    }
    values.update(fields)
    return Property.objects.create(landlord=landlord, **values)
