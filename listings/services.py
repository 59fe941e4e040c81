"""Writes: listings, their pictures, favorites and bookings.

Rules about who may do what and whether a stay is possible are checked here and
raised as `core.errors` domain errors; the database constraints are the backstop
for anything that races past a check.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from PIL import Image

from core.errors import Conflict, Forbidden, Invalid, PayloadTooLarge
from core.models import User
from core.selectors import get_or_404
from listings.constraints import NO_OVERLAP_NAME, database_enforces_no_overlap
from listings.models import Favorite, Property, Reservation
from listings.selectors import property_get
from messaging.selectors import block_exists

# Formats browsers show everywhere, and the file extension each one is stored under.
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}
MAX_IMAGE_PIXELS = 40_000_000
MAX_NIGHTS = 365
# PostgreSQL's SQLSTATE for "deadlock detected", and how often a booking is tried.
DEADLOCK = "40P01"
DEADLOCK_ATTEMPTS = 3
OVERLAP = "These dates overlap another stay."

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
        prop.save(update_fields=changed)
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


def _check_stay(start_date: date, end_date: date) -> None:
    if end_date <= start_date:
        raise Invalid("end_date must be after start_date.")
    if start_date < timezone.localdate():
        raise Invalid("start_date is in the past.")
    if (end_date - start_date).days > MAX_NIGHTS:
        raise Invalid(f"A stay is at most {MAX_NIGHTS} nights.")


def reservation_create(
    *, property_id: Any, guest: User, start_date: date, end_date: date, guests: int
) -> Reservation:
    """Book a stay; the server prices it. Of overlapping concurrent bookings one wins.

    On PostgreSQL the exclusion constraint decides (bookings of one property on other
    dates do not wait for each other); elsewhere the property row is locked and the
    check and insert run in one serialised transaction (SQLite: BEGIN IMMEDIATE).
    """
    _check_stay(start_date, end_date)
    stay = {
        "property_id": property_id,
        "guest": guest,
        "start_date": start_date,
        "end_date": end_date,
        "guests": guests,
    }
    attempts_left = DEADLOCK_ATTEMPTS
    while True:
        try:
            return _book(**stay)
        except OperationalError as exc:
            attempts_left -= 1
            if not _deadlocked(exc):
                raise
            if not attempts_left:
                raise Conflict(OVERLAP) from exc


def _deadlocked(exc: OperationalError) -> bool:
    """Whether PostgreSQL aborted the booking as a deadlock, and it can simply be tried again.

    PostgreSQL checks an exclusion constraint by waiting for the transactions whose
    uncommitted rows conflict with the new one, so two overlapping bookings can wait
    for each other and one is aborted ("deadlock detected", seen with 8 at once). Its
    stay overlapped another: tried again, it finds that one committed and is a 409
    (and a 409 it is if it keeps being the one aborted). Not inside a caller's
    transaction, which the abort has spoilt.
    """
    deadlock = getattr(exc.__cause__, "sqlstate", None) == DEADLOCK
    return deadlock and not connection.in_atomic_block


def _book(
    *, property_id: Any, guest: User, start_date: date, end_date: date, guests: int
) -> Reservation:
    try:
        with transaction.atomic():
            candidates = Property.objects.all()
            if not database_enforces_no_overlap(connection.vendor):
                candidates = candidates.select_for_update()
            prop = get_or_404(candidates, pk=property_id)
            if prop.landlord_id == guest.pk:
                raise Forbidden("You cannot book your own listing.")
            if block_exists(guest, prop.landlord_id):
                raise Forbidden("You cannot book with this host: one of you has blocked the other.")
            if guests > prop.guests:
                raise Invalid(f"This property takes at most {prop.guests} guests.")
            if Reservation.objects.overlapping(prop.pk, start_date, end_date).exists():
                raise Conflict(OVERLAP)
            reservation = Reservation(
                property=prop, guest=guest, start_date=start_date, end_date=end_date, guests=guests
            )
            reservation.price()
            reservation.save(force_insert=True)
    except IntegrityError as exc:
        if NO_OVERLAP_NAME in str(exc):
            raise Conflict(OVERLAP) from exc
        raise
    reservation.property = property_get(property_id=prop.pk, user=guest)
    return reservation
