"""Image files made for the photo tests: real encodings Pillow writes, some with EXIF."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

GPS_LATITUDE = ((52, 1), (31, 1), (1234, 100))


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (800, 600), **save: object) -> bytes:
    mode = "RGB" if fmt in ("JPEG", "WEBP") else "RGBA" if fmt == "PNG" else "P"
    image = Image.new(mode, size, "#c0392b" if mode != "P" else 3)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A JPEG whose EXIF says where it was taken (GPS) and with which phone."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Pocket 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.34)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    data = image_bytes("JPEG", size, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "no GPS written"
    return data


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)
