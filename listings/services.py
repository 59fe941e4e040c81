"""Writes: listings, their pictures, favorites, and "contact the host" (stays: `booking`).

Rules about who may do what and whether a stay is possible are checked here and
raised as `core.errors` domain errors; the database constraints are the backstop
for anything that races past a check.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from PIL import Image

from core.errors import BadRequest, Forbidden, Invalid, PayloadTooLarge
from core.models import User
from core.selectors import get_or_404
from listings import booking, thread
from listings.models import Favorite, Property
from listings.selectors import property_get
from messaging import services as messaging

# Formats browsers show everywhere, and the file extension each one is stored under.
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}
MAX_IMAGE_PIXELS = 40_000_000

EDITABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "price_per_night",
        "bedrooms",
        "bathrooms",
        "guests",
        "country",
        "country_code",
        "category",
        "instant_book",
        "checkin_details",
    }
)


def _owned_property(property_id: Any, user: User) -> Property:
    prop = get_or_404(Property.objects.all(), pk=property_id)
    if prop.landlord_id != user.pk:
        raise Forbidden("Only the landlord may change this listing.")
    return prop


def _delete_file_after_commit(name: str) -> None:
    if name:
        storage = Property._meta.get_field("image").storage
        transaction.on_commit(lambda: storage.delete(name))


def property_create(*, landlord: User, data: dict[str, Any]) -> Property:
    fields = {key: value for key, value in data.items() if key in EDITABLE_FIELDS}
    prop = Property.objects.create(landlord=landlord, **fields)
    return property_get(property_id=prop.pk, user=landlord)


def property_update(*, property_id: Any, user: User, data: dict[str, Any]) -> Property:
    """Change only the fields given; the caller must be the landlord."""
    prop = _owned_property(property_id, user)
    changed = [key for key in data if key in EDITABLE_FIELDS]
    for key in changed:
        setattr(prop, key, data[key])
    if changed:
        with transaction.atomic():
            prop.save(update_fields=changed)
            if "checkin_details" in changed:
                booking.checkin_details_updated(prop)
    return property_get(property_id=prop.pk, user=user)


def property_delete(*, property_id: Any, user: User) -> None:
    prop = _owned_property(property_id, user)
    with transaction.atomic():
        image = prop.image.name
        prop.delete()
        _delete_file_after_commit(image)


def _image_extension(upload: UploadedFile) -> str:
    """The stored extension for an upload Pillow can read, else Invalid.

    The extension comes from what the bytes are, never from the client's file name,
    so that a page saved as `x.jpg` is refused and a PNG is served as a PNG.
    """
    try:
        with Image.open(upload) as img:
            fmt = img.format or ""
            width, height = img.size
            img.verify()
    except Exception as exc:
        # Not an image, or a damaged one: Pillow raises many kinds of error for those.
        raise Invalid("The file is not an image (JPEG, PNG, GIF or WebP).") from exc
    finally:
        upload.seek(0)
    if fmt not in IMAGE_FORMATS:
        raise Invalid(f"{fmt or 'This'} images are not accepted; use JPEG, PNG, GIF or WebP.")
    if width * height > MAX_IMAGE_PIXELS:
        raise Invalid(f"The image is too large (at most {MAX_IMAGE_PIXELS} pixels).")
    return IMAGE_FORMATS[fmt]


def property_set_image(*, property_id: Any, user: User, upload: UploadedFile) -> Property:
    """Store a new picture for the listing and forget the old one once committed."""
    prop = _owned_property(property_id, user)
    if upload.size is not None and upload.size > settings.MAX_IMAGE_UPLOAD:
        raise PayloadTooLarge(f"Images may be at most {settings.MAX_IMAGE_UPLOAD} bytes.")
    extension = _image_extension(upload)
    old = prop.image.name
    prop.image.save(f"{uuid.uuid4().hex}{extension}", upload, save=False)
    try:
        with transaction.atomic():
            prop.save(update_fields=["image"])
            _delete_file_after_commit(old)
    except Exception:
        prop.image.storage.delete(prop.image.name)
        raise
    return property_get(property_id=prop.pk, user=user)


def favorite_add(*, property_id: Any, user: User) -> bool:
    """Keep a property; keeping it again changes nothing (and races are harmless)."""
    prop = get_or_404(Property.objects.only("id"), pk=property_id)
    Favorite.objects.bulk_create([Favorite(user=user, property=prop)], ignore_conflicts=True)
    return True


def favorite_remove(*, property_id: Any, user: User) -> bool:
    prop = get_or_404(Property.objects.only("id"), pk=property_id)
    Favorite.objects.filter(user=user, property=prop).delete()
    return False


def favorite_toggle(*, property_id: Any, user: User) -> bool:
    """Flip the caller's favorite; answers whether it is a favorite now."""
    prop = get_or_404(Property.objects.only("id"), pk=property_id)
    with transaction.atomic():
        removed, _ = Favorite.objects.filter(user=user, property=prop).delete()
        if removed:
            return False
        Favorite.objects.bulk_create([Favorite(user=user, property=prop)], ignore_conflicts=True)
        return True


def property_contact(*, property_id: Any, user: User) -> tuple[Any, bool]:
    """ "Contact host": the one conversation with the listing's landlord, about it.

    Answers the conversation and whether it is new, as `start` does; its subject
    becomes this listing. 400 on one's own listing, 404 for an unknown one.
    """
    prop = get_or_404(Property.objects.all(), pk=property_id)
    if prop.landlord_id == user.pk:
        raise BadRequest("This is your own listing.")
    with transaction.atomic():
        conversation, created = messaging.conversation_start(
            user=user, other_user_id=prop.landlord_id
        )
        messaging.conversation_subject_set(
            conversation_id=conversation.pk, subject=thread.subject(prop)
        )
    return conversation, created
