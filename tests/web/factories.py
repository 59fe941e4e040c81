"""Data the browser tests arrange directly in the test database."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from core.models import User
from listings.models import Property


def landscape_png(width: int = 960, height: int = 640) -> ContentFile:
    """A drawn picture (sky, sea, sun), so pages are seen with a real image in them."""
    image = Image.new("RGB", (width, height), "#7dd3fc")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 0.62, width, height], fill="#0e7490")
    draw.ellipse([width * 0.68, height * 0.12, width * 0.84, height * 0.36], fill="#fde68a")
    draw.polygon(
        [(0, height * 0.7), (width * 0.45, height * 0.4), (width * 0.8, height * 0.7)],
        fill="#166534",
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return ContentFile(out.getvalue(), name="landscape.png")


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
    image = fields.pop("image", None)
    values.update(fields)
    prop = Property(landlord=landlord, **values)
    if image is not None:
        prop.image.save(image.name, image, save=False)
    prop.save()
    return prop
