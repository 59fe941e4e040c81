"""Avatars as stored: checked by their content, re-encoded small and without metadata.

A profile picture is shown beside every message, so it is cut to a square of
AVATAR_SIZE pixels and saved as PNG (transparency kept) or JPEG, which also drops
EXIF (a phone photo's GPS position) and anything else the file carried.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from core.errors import Invalid, PayloadTooLarge

AVATAR_SIZE = 256
MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000
_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}


def reencode_avatar(upload: Any) -> tuple[str, ContentFile]:
    """`(file name, content)` of the stored avatar, or Invalid / PayloadTooLarge."""
    if getattr(upload, "size", 0) and upload.size > MAX_AVATAR_BYTES:
        raise PayloadTooLarge("A picture may be at most 5 MB.")
    try:
        with Image.open(upload) as img:
            if img.format not in _FORMATS:
                raise Invalid("Use a JPEG, PNG, GIF or WebP picture.")
            if img.width * img.height > MAX_AVATAR_PIXELS:
                raise Invalid("The picture is too large.")
            img.load()
            picture = ImageOps.exif_transpose(img)
    except Invalid:
        raise
    except Exception as exc:  # Pillow raises many kinds of error for a damaged file
        raise Invalid("The file is not a picture (JPEG, PNG, GIF or WebP).") from exc
    picture = ImageOps.fit(picture, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if picture.mode in ("RGBA", "LA", "P"):
        picture.convert("RGBA").save(out, "PNG", optimize=True)
        ext = "png"
    else:
        picture.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
        ext = "jpg"
    return f"{uuid.uuid4().hex}.{ext}", ContentFile(out.getvalue())
