"""Photos in messages: multipart sends, checks by content, re-encoding, private downloads."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.test import Client
from PIL import ExifTags, Image

from core.tokens import issue_pair
from messaging.models import Attachment, ConversationMessage
from messaging.schemas import message_payload
from tests.conftest import make_user
from tests.messaging.images import image_bytes, jpeg_with_gps, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "media" / "private"
    return settings.PRIVATE_MEDIA_ROOT


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_pair(user).access}"}


def send(user, conversation_id, *files, body: str = "", **extra):
    return Client().post(
        f"/api/chat/{conversation_id}/messages",
        data={"body": body, "images": list(files), **extra},
        headers=bearer(user),
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_message_with_photos_answers_them_in_order(alice, bob, chat, private_root):
    response = send(
        alice,
        chat.pk,
        upload(jpeg_with_gps(), "heater.jpg"),
        upload(image_bytes("PNG", (300, 200)), "b.png", "image/png"),
        upload(image_bytes("WEBP", (640, 480)), "c.webp", "image/webp"),
        upload(image_bytes("GIF", (50, 40)), "d.gif", "image/gif"),
        body="  The heater is broken  ",
    )
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["body"] == "The heater is broken"
    assert message["masked"] is False
    sizes = [(a["width"], a["height"]) for a in message["attachments"]]
    assert sizes == [(1200, 900), (300, 200), (640, 480), (50, 40)]
    first = message["attachments"][0]
    base = f"/api/chat/{chat.pk}/attachments/{first['id']}"
    assert first["url"] == base
    assert first["thumbnail_url"] == f"{base}/thumbnail"
    assert not first["url"].startswith(settings.MEDIA_URL)
    assert len(stored_files(private_root)) == 8  # each image and its thumbnail
    # The same URLs in the detail, the history and the stream's payload.
    detail = Client().get(f"/api/chat/{chat.pk}", headers=bearer(bob)).json()
    history = Client().get(f"/api/chat/{chat.pk}/messages", headers=bearer(bob)).json()
    stored = ConversationMessage.objects.with_people().get()
    assert detail["messages"][-1]["attachments"] == message["attachments"]
    assert history["items"][-1]["attachments"] == message["attachments"]
    assert message_payload(stored)["attachments"] == message["attachments"]
    assert detail["last_message"]["attachments"] == message["attachments"]


def test_photos_are_re_encoded_without_exif_or_gps_and_thumbnailed(alice, bob, chat):
    original = jpeg_with_gps((1600, 1200))
    message = send(alice, chat.pk, upload(original), body="").json()
    attachment = message["attachments"][0]
    full = Client().get(attachment["url"], headers=bearer(bob))
    assert full.status_code == 200
    assert full["Content-Type"] == "image/jpeg"
    data = b"".join(full.streaming_content)
    assert data != original
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1600, 1200)
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert b"Exif" not in data and b"PhoneMaker" not in data
    thumb = Client().get(attachment["thumbnail_url"], headers=bearer(bob))
    small = Image.open(io.BytesIO(b"".join(thumb.streaming_content)))
    assert small.size == (320, 240)
    assert dict(small.getexif()) == {}


def test_a_gif_is_kept_as_a_still_png_and_a_tall_image_is_thumbnailed_by_width(alice, chat):
    message = send(
        alice,
        chat.pk,
        upload(image_bytes("GIF", (100, 80)), "x.gif", "image/gif"),
        upload(image_bytes("PNG", (400, 2000)), "tall.png", "image/png"),
    ).json()
    gif, tall = Attachment.objects.order_by("position")
    assert gif.content_type == "image/png"
    assert Image.open(gif.image.path).format == "PNG"
    assert Image.open(tall.thumbnail.path).size == (320, 1600)
    assert len(message["attachments"]) == 2


def assert_refused(alice, chat, private_root, *files, **kw):
    """Assert the send answers 422 {"detail"} and stores nothing (no row, no file)."""
    response = send(alice, chat.pk, *files, **kw)
    assert response.status_code == 422, response.content
    assert "detail" in response.json()
    assert ConversationMessage.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert stored_files(private_root) == []
    return response


def test_five_images_are_refused(alice, chat, private_root):
    files = [upload(image_bytes("PNG", (10, 10)), f"{n}.png", "image/png") for n in range(5)]
    assert_refused(alice, chat, private_root, *files, body="five")


def test_a_non_image_named_like_one_is_refused(alice, chat, private_root):
    good = upload(image_bytes(), "ok.jpg")
    fake = upload(b"%PDF-1.4 not an image at all", "photo.jpg", "image/jpeg")
    assert_refused(alice, chat, private_root, good, fake, body="hi")


def test_an_image_of_another_type_is_refused(alice, chat, private_root):
    bmp = upload(image_bytes("BMP", (20, 20)), "a.jpg", "image/jpeg")
    assert_refused(alice, chat, private_root, bmp)


def test_an_image_over_5_mib_is_refused(alice, chat, private_root):
    big = image_bytes("PNG", (10, 10)) + b"\0" * (5 * 1024 * 1024)
    assert_refused(alice, chat, private_root, upload(big, "big.png", "image/png"))


def test_an_image_over_40_megapixels_is_refused_before_decoding(alice, chat, private_root):
    # 8000 x 5001 pixels of one colour: a small file, a huge image.
    huge = image_bytes("PNG", (8000, 5001), optimize=True)
    assert len(huge) < 5 * 1024 * 1024
    response = assert_refused(alice, chat, private_root, upload(huge, "huge.png", "image/png"))
    assert "megapixels" in response.json()["detail"]


def test_a_truncated_image_is_refused(alice, chat, private_root):
    data = image_bytes("JPEG", (400, 300))
    assert_refused(alice, chat, private_root, upload(data[: len(data) // 2]))


def test_a_blank_body_needs_photos(alice, chat, private_root):
    response = Client().post(
        f"/api/chat/{chat.pk}/messages", data={"body": "  "}, headers=bearer(alice)
    )
    assert response.status_code == 422
    assert ConversationMessage.objects.count() == 0


def test_files_written_are_removed_when_the_message_fails_later(
    alice, bob, chat, private_root, monkeypatch
):
    from messaging.realtime import publish

    def broken(message):
        raise RuntimeError("the event store failed")

    monkeypatch.setattr(publish, "publish_message", broken)
    with pytest.raises(RuntimeError):
        send(alice, chat.pk, upload(image_bytes()), body="x")
    assert ConversationMessage.objects.count() == 0
    assert stored_files(private_root) == []


def test_a_body_over_21_mib_is_refused_with_413_before_reading(alice, chat):
    response = Client().post(
        f"/api/chat/{chat.pk}/messages",
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        headers=bearer(alice),
        CONTENT_LENGTH=str(21 * 1024 * 1024 + 1),
    )
    assert response.status_code == 413


# ---------------------------------------------------------------- who may load a photo


def expired_token(user) -> str:
    past = datetime.now(tz=UTC) - timedelta(hours=1)
    claims = {
        "sub": str(user.pk),
        "type": "access",
        "iat": past - timedelta(minutes=15),
        "exp": past,
        "jti": "x",
    }
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm="HS256")


@pytest.mark.parametrize("which", ["url", "thumbnail_url"])
@pytest.mark.parametrize(
    ("caller", "how", "status"),
    [
        ("sender", "bearer", 200),
        ("recipient", "bearer", 200),
        ("recipient", "cookie", 200),
        ("stranger", "bearer", 404),
        ("stranger", "cookie", 404),
        ("anonymous", "none", 401),
        ("recipient", "expired cookie", 401),
        ("recipient", "expired bearer", 401),
        ("recipient", "refresh cookie", 401),
    ],
)
def test_photo_privacy_matrix(alice, bob, chat, which, caller, how, status):
    message = send(alice, chat.pk, upload(image_bytes()), body="look").json()
    url = message["attachments"][0][which]
    person = {"sender": alice, "recipient": bob, "stranger": make_user(), "anonymous": None}[caller]
    client, headers = Client(), {}
    if how == "bearer":
        headers = bearer(person)
    elif how == "cookie":
        client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(person).access
    elif how == "expired cookie":
        client.cookies[settings.ACCESS_COOKIE_NAME] = expired_token(person)
    elif how == "expired bearer":
        headers = {"Authorization": f"Bearer {expired_token(person)}"}
    elif how == "refresh cookie":
        client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(person).refresh
    response = client.get(url, headers=headers)
    assert response.status_code == status
    if status == 200:
        assert "private" in response["Cache-Control"]
        assert Image.open(io.BytesIO(b"".join(response.streaming_content))).format == "JPEG"
    else:
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in response.json()
        assert "private" not in response.get("Cache-Control", "")
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_attachment_is_not_found_through_another_conversation(alice, bob, carol, chat):
    from messaging import services

    message = send(alice, chat.pk, upload(image_bytes()), body="look").json()
    other, _ = services.conversation_start(user=alice, other_user_id=carol.pk)
    attachment_id = message["attachments"][0]["id"]
    response = Client().get(
        f"/api/chat/{other.pk}/attachments/{attachment_id}", headers=bearer(carol)
    )
    assert response.status_code == 404


def test_the_private_folder_is_not_served_as_public_media(alice, chat, private_root):
    send(alice, chat.pk, upload(image_bytes()), body="look")
    stored = Attachment.objects.get().image.name
    for path in (f"private/{stored}", f"./private/{stored}", f"x/../private/{stored}"):
        assert Client().get(f"{settings.MEDIA_URL}{path}").status_code == 404
