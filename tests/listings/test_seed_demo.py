"""`manage.py seed_demo`: real pictures, a working demo login, and a second run adds nothing."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image, ImageStat

from core.models import User
from listings.management.commands.seed_demo import DEMO_PASSWORD
from listings.models import Favorite, Property, Reservation
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    tables = [User, Property, Favorite, Reservation]
    tables += [
        apps.get_model("messaging", name) for name in ("Conversation", "ConversationMessage")
    ]
    return {model.__name__: model.objects.count() for model in tables}


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_seed_demo_is_idempotent_and_prints_where_to_go():
    first_output = seed()
    first = counts()
    assert first["User"] >= 4
    assert first["Property"] >= 12
    assert first["Favorite"] >= 4 and first["Reservation"] >= 2
    assert first["Conversation"] >= 3 and first["ConversationMessage"] >= 10
    assert "http://127.0.0.1:8000/" in first_output
    assert "guest@stayhub.example" in first_output and DEMO_PASSWORD in first_output

    seed()
    assert counts() == first


def test_listings_span_several_countries_and_categories():
    seed()
    assert Property.objects.values("country_code").distinct().count() >= 4
    assert Property.objects.values("category").distinct().count() >= 4


def test_pictures_and_avatars_are_real_varied_images():
    seed()
    for file in [p.image for p in Property.objects.all()] + [u.avatar for u in User.objects.all()]:
        assert file, "every demo listing and person has a picture"
        with file.open("rb") as fh:
            img = Image.open(io.BytesIO(fh.read()))
            img.load()
        assert img.width >= 128 and img.height >= 128
        # not a blank canvas: the channels vary across the picture
        spread = ImageStat.Stat(img.convert("RGB")).stddev
        assert max(spread) > 10, file.name


def test_the_demo_login_works():
    seed()
    r = ApiClient().post(
        "/api/auth/login", {"email": "guest@stayhub.example", "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.content
    mine = ApiClient(token=r.json()["access"])
    assert mine.get("/api/properties", params={"favorites": "true"}).json()["count"] >= 2
    assert mine.get("/api/reservations").json()["count"] >= 1


def test_the_demo_shows_every_state_of_a_stay_with_its_cards():
    seed()
    guest = User.objects.get(email="guest@stayhub.example")
    mine = Reservation.objects.filter(guest=guest)
    today = timezone.localdate()
    assert mine.filter(status="confirmed", start_date__gt=today).exists()  # upcoming
    assert mine.filter(status="confirmed", end_date__lt=today).exists()  # past
    assert mine.filter(status="requested").exists()  # pending the host
    assert mine.filter(status="declined").exists()
    assert mine.filter(status="cancelled").exists()
    message = apps.get_model("messaging", "ConversationMessage")
    cards = message.objects.filter(kind="reservation", sent_to=guest) | message.objects.filter(
        kind="reservation", created_by=guest
    )
    told = {m.reservation["id"]: m.reservation["status"] for m in cards.order_by("created_at")}
    assert told == {str(r.pk): r.status for r in mine}  # every stay has its card, up to date
    conversation = apps.get_model("messaging", "Conversation")
    assert conversation.objects.exclude(subject=None).count() >= 3
    # the demo conversation still holds the people's own chat
    assert message.objects.filter(kind="text", created_by=guest).count() >= 2


def test_seed_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=StringIO())
    assert not Property.objects.exists()
