"""Photos sent with a message: checked by their content, re-encoded, thumbnailed.

Why re-encode: a phone's photo carries EXIF, often with the GPS position of the
house it was taken in; a file re-encoded from its pixels keeps none of that (nor any
other metadata, nor anything hidden after the image data). The type is told by the
content (Pillow's reading of it), never by the file's name or the client's
Content-Type, and the pixel count is checked from the header before any pixel is
decoded, so a small file that unpacks into a huge image costs nothing.

Everything here is in memory and touches no storage: a message whose images are
refused stores nothing (messaging.services writes the files in the message's
transaction).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps

from core.errors import Invalid

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
THUMBNAIL_WIDTH = 320
# Pillow's name of a format read -> how it is stored (format, Content-Type, extension).
# A GIF is stored as a PNG of its first frame: one still picture, as in the thread.
STORED_AS = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
    "GIF": ("PNG", "image/png", "png"),
}
_MODES = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "RGBA", "L", "LA"), "WEBP": ("RGB", "RGBA")}


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to store: its bytes and its thumbnail's, both without metadata."""

    content: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int


def images_prepare(uploads: list[UploadedFile]) -> list[PreparedImage]:
    """Check and re-encode every upload, in order; `Invalid` (422) names the first bad one."""
    if len(uploads) > MAX_IMAGES:
        raise Invalid(f"At most {MAX_IMAGES} images per message.")
    return [image_prepare(upload, number) for number, upload in enumerate(uploads, 1)]


def image_prepare(upload: UploadedFile, number: int = 1) -> PreparedImage:
    name = f"Image {number}"
    if upload.size is None or upload.size > MAX_IMAGE_BYTES:
        raise Invalid(f"{name} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB.")
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as opened:
                kind = opened.format
                if kind not in STORED_AS:
                    raise Invalid(f"{name} must be a JPEG, PNG, WebP or GIF image.")
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise Invalid(f"{name} has more than {MAX_PIXELS // 1_000_000} megapixels.")
                opened.seek(0)
                opened.load()
                picture = ImageOps.exif_transpose(opened)  # upright before EXIF goes
    except Invalid:
        raise
    except Exception as exc:
        raise Invalid(f"{name} is not an image that can be read.") from exc
    stored_format, content_type, extension = STORED_AS[kind]
    picture = _for_format(picture, stored_format)
    thumbnail = picture.copy()
    thumbnail.thumbnail((THUMBNAIL_WIDTH, MAX_PIXELS), Image.Resampling.LANCZOS)
    return PreparedImage(
        content=_encode(picture, stored_format),
        thumbnail=_encode(thumbnail, stored_format),
        content_type=content_type,
        extension=extension,
        width=picture.width,
        height=picture.height,
    )


def _for_format(picture: Image.Image, stored_format: str) -> Image.Image:
    """The picture in a mode the stored format writes, with no metadata left on it."""
    if picture.mode not in _MODES[stored_format]:
        has_alpha = "A" in picture.getbands() or "transparency" in picture.info
        picture = picture.convert("RGBA" if has_alpha and stored_format != "JPEG" else "RGB")
    else:
        picture = picture.copy()
    picture.info = {}  # EXIF, XMP, ICC, comments, PNG text chunks: nothing is written
    return picture


def _encode(picture: Image.Image, stored_format: str) -> bytes:
    out = io.BytesIO()
    options = {"quality": 85} if stored_format in ("JPEG", "WEBP") else {"optimize": True}
    picture.save(out, stored_format, **options)
    return out.getvalue()
