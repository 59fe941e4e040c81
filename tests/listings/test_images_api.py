"""Listing pictures (API.md, Listings and Limits): real images only, 5 MiB at most."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from listings.models import Property
from tests.conftest import ApiClient
from tests.listings.conftest import image_bytes

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def upload(client: ApiClient, prop_id, content: bytes, name: str = "photo.png", field="image"):
    headers = client._headers(None)
    upload = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.client.post(
        f"/api/properties/{prop_id}/image", data={field: upload}, headers=headers
    )


def stored_files(media_root: Path) -> list[Path]:
    folder = media_root / "properties"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("fmt", "extension"), [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
)
def test_upload_stores_the_image_under_media_root(api, prop, media_root, fmt, extension):
    content = image_bytes(fmt)
    r = upload(api, prop.pk, content, name=f"holiday.{fmt.lower()}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["id"] == str(prop.pk)
    assert body["image_url"].startswith("/media/properties/")
    assert body["image_url"].endswith(extension)
    [stored] = stored_files(media_root)
    assert stored.read_bytes() == content
    # Serving it back over HTTP is checked against the real server in test_live_http.


def test_the_stored_extension_follows_the_bytes_not_the_name(api, prop, media_root):
    r = upload(api, prop.pk, image_bytes("PNG"), name="looks-like.jpg")
    assert r.status_code == 200
    assert r.json()["image_url"].endswith(".png")
    [stored] = stored_files(media_root)
    assert "looks-like" not in stored.name


def test_a_new_image_replaces_the_old_file(
    api, prop, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(api, prop.pk, image_bytes("PNG")).json()["image_url"]
        second = upload(api, prop.pk, image_bytes("JPEG")).json()["image_url"]
    assert first != second
    assert [p.name for p in stored_files(media_root)] == [Path(second).name]


def test_deleting_the_listing_deletes_its_image(
    api, prop, media_root, django_capture_on_commit_callbacks
):
    assert upload(api, prop.pk, image_bytes()).status_code == 200
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/properties/{prop.pk}").status_code == 204
    assert stored_files(media_root) == []


def truncated_png() -> bytes:
    data = image_bytes("PNG", size=(300, 300))
    return data[: len(data) // 2]


def bmp() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="BMP")
    return buf.getvalue()


NOT_IMAGES = {
    "text": b"hello, I am not a picture",
    "html-named-jpg": b"<html><script>alert(1)</script></html>",
    "empty": b"",
    "truncated-png": truncated_png(),
    "png-header-only": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "bmp-not-accepted": bmp(),
}


@pytest.mark.parametrize("content", NOT_IMAGES.values(), ids=list(NOT_IMAGES))
def test_a_file_that_is_not_an_accepted_image_is_422(api, prop, media_root, content):
    r = upload(api, prop.pk, content, name="photo.jpg")
    assert r.status_code == 422, r.content
    assert r.json()["detail"]
    prop.refresh_from_db()
    assert not prop.image
    assert stored_files(media_root) == []


def test_an_upload_without_the_image_field_is_422(api, prop):
    assert upload(api, prop.pk, image_bytes(), field="picture").status_code == 422


def test_an_image_over_5_mib_is_413(api, prop, media_root):
    # A real PNG padded past 5 MiB with a trailing chunk Pillow would accept.
    content = image_bytes() + b"\x00" * (5 * MIB)
    r = upload(api, prop.pk, content)
    assert r.status_code == 413, r.content
    assert stored_files(media_root) == []


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(api, prop, media_root):
    r = upload(api, prop.pk, b"\x00" * (6 * MIB))
    assert r.status_code == 413
    assert stored_files(media_root) == []


def test_an_image_just_under_5_mib_is_accepted(api, prop):
    content = image_bytes() + b"\x00" * (5 * MIB - 4096)
    assert upload(api, prop.pk, content).status_code == 200


def test_a_stranger_cannot_change_the_picture(other_api, prop, media_root):
    assert upload(other_api, prop.pk, image_bytes()).status_code == 403
    assert stored_files(media_root) == []


def test_anonymous_upload_is_401(anon, prop):
    assert upload(anon, prop.pk, image_bytes()).status_code == 401


def test_upload_to_an_unknown_property_is_404(api):
    assert upload(api, uuid.uuid4(), image_bytes()).status_code == 404
    assert not Property.objects.exists()
