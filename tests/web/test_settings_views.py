"""The settings page without a browser: who may use it, CSRF, uploads, refusals."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from core.models import User
from core.tokens import issue_pair
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def browser_for(user: User | None = None, **kw: Any) -> Client:
    client = Client(**kw)
    if user is not None:
        client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(user).access
    return client


def noisy_png(size: int = 900) -> SimpleUploadedFile:
    """A PNG of random pixels: about 2.4 MB, more than the 1 MiB of other pages' bodies."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buffer, "PNG")
    return SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png")


def test_settings_ask_for_a_login(client: Client) -> None:
    response = client.get("/settings")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/settings"


def test_a_post_without_the_csrf_token_is_refused() -> None:
    user = make_user(name="Cora Csrf")
    response = browser_for(user, enforce_csrf_checks=True).post(
        "/settings", {"name": "Mallory", "notify_email": ""}
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert (user.name, user.notify_email) == ("Cora Csrf", True)


def test_a_large_picture_is_taken_and_stored_small(django_capture_on_commit_callbacks) -> None:
    user = make_user(name="Lena Large")
    picture = noisy_png()
    assert picture.size > settings.MAX_REQUEST_BODY
    response = browser_for(user).post(
        "/settings", {"name": "Lena Large", "notify_email": "on", "avatar": picture}
    )
    assert response.status_code == 302, response.content[:300]
    user.refresh_from_db()
    assert user.avatar.name.startswith("avatars/") and user.avatar.name.endswith(".jpg")
    assert user.avatar.size < 200_000
    assert user.notify_email is True
    # a second picture replaces the first, whose file goes
    first = user.avatar.name
    with django_capture_on_commit_callbacks(execute=True):
        browser_for(user).post("/settings", {"name": "Lena", "avatar": noisy_png(300)})
    user.refresh_from_db()
    assert user.avatar.name != first
    assert not user.avatar.storage.exists(first)
    assert user.notify_email is False  # an unticked box is "off"


def test_a_blank_name_is_refused_and_nothing_changes() -> None:
    user = make_user(name="Nina Name")
    response = browser_for(user).post("/settings", {"name": "  ", "notify_email": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    user.refresh_from_db()
    assert (user.name, user.notify_email) == ("Nina Name", True)


def test_a_file_that_is_not_a_picture_is_refused_and_nothing_changes() -> None:
    user = make_user(name="Pete Page")
    fake = SimpleUploadedFile("me.jpg", b"<html>not an image</html>", content_type="image/jpeg")
    response = browser_for(user).post(
        "/settings", {"name": "Pete Changed", "notify_email": "", "avatar": fake}
    )
    assert response.status_code == 422
    assert "The file is not a picture" in response.content.decode()
    user.refresh_from_db()
    assert (user.name, user.notify_email, user.avatar.name) == ("Pete Page", True, "")
