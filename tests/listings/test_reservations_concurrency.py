"""Concurrent bookings of overlapping stays: exactly one succeeds, on every database.

In-process threads exercise the database the suite runs on (SQLite: the serialised
write; PostgreSQL: the exclusion constraint). A second test always exercises
PostgreSQL: a fresh database, migrated, behind a real uvicorn server, hit by
concurrent HTTP requests; it is skipped loudly where PostgreSQL is missing and fails
under STAYHUB_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.db import connection, transaction

from listings.models import Property, Reservation
from messaging.models import ConversationMessage
from tests.conftest import ROOT, LiveServer, client_for, free_port, make_user
from tests.listings.conftest import PROPERTY_BODY, book, days_from_today, make_property
from tests.support.services import unavailable

THREADS = 8


def overlapping_stay(i: int) -> dict:
    """Stays that all share the night of day 10, each a little different."""
    return {
        "start_date": days_from_today(10 - i % 3).isoformat(),
        "end_date": days_from_today(11 + i % 2).isoformat(),
        "guests": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_bookings_leave_exactly_one(user):
    prop = make_property(user)
    clients = [client_for(make_user()) for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def attempt(i: int) -> int:
        try:
            start.wait(timeout=10)
            r = clients[i].post(f"/api/properties/{prop.pk}/reservations", overlapping_stay(i))
            return r.status_code
        finally:
            connection.close()  # each thread has its own connection; give it back

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(attempt, range(THREADS)))
    assert sorted(codes) == [201] + [409] * (THREADS - 1), codes
    assert Reservation.objects.filter(property=prop).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_of_overlapping_requests_confirm_exactly_one(user):
    """The landlord confirms eight overlapping requests at once: one is confirmed, the
    others declined (by that confirmation, or refused as now overlapping), each told in
    its guest's thread; no two confirmed stays share a night."""
    prop = make_property(user, instant_book=False)
    guests = [make_user() for _ in range(THREADS)]
    requests = []
    for i, guest in enumerate(guests):
        r = client_for(guest).post(f"/api/properties/{prop.pk}/reservations", overlapping_stay(i))
        assert r.status_code == 201 and r.json()["status"] == "requested", r.content
        requests.append(r.json()["id"])
    landlord = client_for(user)
    start = threading.Barrier(THREADS)

    def confirm(i: int) -> int:
        try:
            start.wait(timeout=10)
            return landlord.post(f"/api/reservations/{requests[i]}/confirm").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(confirm, range(THREADS)))
    assert sorted(codes) == [200] + [409] * (THREADS - 1), codes
    statuses = dict(Reservation.objects.values_list("id", "status"))
    winner = requests[codes.index(200)]
    assert statuses.pop(uuid.UUID(winner)) == "confirmed"
    assert set(statuses.values()) == {"declined"}
    for guest in guests:
        told = ConversationMessage.objects.filter(sent_to=guest).order_by("created_at").last()
        assert told.reservation["status"] == Reservation.objects.get(guest=guest).status


@pytest.mark.django_db(transaction=True)
def test_concurrent_instant_bookings_and_confirms_leave_one_confirmed_stay(user):
    """Instant bookings racing the landlord's confirmations of overlapping requests."""
    prop = make_property(user, instant_book=False)
    half = THREADS // 2
    requesters = [make_user() for _ in range(half)]
    requests = [
        client_for(g).post(f"/api/properties/{prop.pk}/reservations", overlapping_stay(i)).json()
        for i, g in enumerate(requesters)
    ]
    Property.objects.filter(pk=prop.pk).update(instant_book=True)
    bookers = [client_for(make_user()) for _ in range(half)]
    landlord = client_for(user)
    start = threading.Barrier(THREADS)

    def attempt(i: int) -> int:
        try:
            start.wait(timeout=10)
            if i < half:
                return landlord.post(f"/api/reservations/{requests[i]['id']}/confirm").status_code
            path = f"/api/properties/{prop.pk}/reservations"
            return bookers[i - half].post(path, overlapping_stay(i)).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(attempt, range(THREADS)))
    assert sorted(codes).count(409) == THREADS - 1, codes
    assert Reservation.objects.filter(status="confirmed").count() == 1
    assert not Reservation.objects.filter(status="requested").exists()


@pytest.mark.django_db(transaction=True)
def test_a_booking_aborted_as_a_deadlock_is_tried_again_and_answers_409(user):
    """PostgreSQL's exclusion constraint can deadlock two overlapping bookings: not a 500.

    Arranged for certain: another transaction holds an uncommitted stay; the booking
    under test (nights 11-12) overlaps it, so its INSERT waits; that transaction then
    adds a second stay overlapping the booking's own row (nights 12-13), so each waits
    for the other. The other transaction's deadlock check is put off (10 s), so the
    booking's fires first and it is the one PostgreSQL aborts. Tried again, it waits
    for the other transaction, which then commits: the booking overlaps committed
    stays and answers 409.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the deadlock is PostgreSQL's exclusion constraint's (SQLite serialises)")
    prop = make_property(user)
    booker, other = client_for(make_user()), make_user()
    answer: list[int] = []

    def booking_under_test() -> None:
        try:
            stay = {
                "start_date": days_from_today(11).isoformat(),
                "end_date": days_from_today(13).isoformat(),
            }
            url = f"/api/properties/{prop.pk}/reservations"
            answer.append(booker.post(url, {**stay, "guests": 1}).status_code)
        finally:
            connection.close()

    def wait_until_the_booking_waits(waits: int) -> None:
        with connection.cursor() as cursor:
            for _ in range(200):
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0] >= waits:
                    return
                time.sleep(0.02)
        raise AssertionError("the booking never waited for the other transaction")

    booking = threading.Thread(target=booking_under_test)
    with transaction.atomic():
        with connection.cursor() as cursor:  # so that the booking is the one to notice
            cursor.execute("SET LOCAL deadlock_timeout = '10s'")
        first = book(prop, other, days_from_today(10), 2)  # nights 10-11
        booking.start()
        wait_until_the_booking_waits(1)
        second = book(prop, other, days_from_today(12), 2)  # nights 12-13: the cycle
        wait_until_the_booking_waits(1)  # aborted, tried again, waiting again
    booking.join(timeout=20)
    assert answer == [409]
    stays = set(Reservation.objects.filter(property=prop).values_list("pk", flat=True))
    assert stays == {first.pk, second.pk}


# ---------------------------------------------------------------- PostgreSQL


PG_URL = os.environ.get("STAYHUB_TEST_PG_URL", "postgres://stayhub:stayhub@127.0.0.1:5432/stayhub")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(
            _with_database(PG_URL, "postgres"), autocommit=True, connect_timeout=3
        )
    except Exception as exc:
        unavailable("PostgreSQL", f"{PG_URL}: {exc}")
    name = f"stayhub_test_booking_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_URL, name)
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_server(postgres_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": postgres_url,
        "DEBUG": "0",
        "STAYHUB_ALLOW_DEV_SECRET": "1",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", port=port, env=env, log_path=tmp_path / "uvicorn.log"
    )
    server.start()
    yield server
    server.stop()


def _signup(http: httpx.Client, n: int) -> dict[str, str]:
    body = {"email": f"user{n}@example.com", "password": "Zq7!long-pass", "name": f"U{n}"}
    r = http.post("/api/auth/signup", json=body)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access']}"}


@pytest.mark.live
@pytest.mark.services
def test_postgres_exclusion_constraint_lets_one_of_many_concurrent_bookings_through(
    postgres_server: LiveServer, postgres_url: str
):
    import psycopg

    with httpx.Client(base_url=postgres_server.url, timeout=20) as http:
        host = _signup(http, 0)
        guests = [_signup(http, n) for n in range(1, THREADS + 1)]
        prop = http.post("/api/properties", json=PROPERTY_BODY, headers=host).json()

        start = threading.Barrier(THREADS)

        def attempt(i: int) -> int:
            start.wait(timeout=10)
            path = f"/api/properties/{prop['id']}/reservations"
            return http.post(path, json=overlapping_stay(i), headers=guests[i]).status_code

        with ThreadPoolExecutor(THREADS) as pool:
            codes = list(pool.map(attempt, range(THREADS)))
    assert sorted(codes) == [201] + [409] * (THREADS - 1), codes

    # The database itself refuses an overlap written behind the service's back,
    # and accepts a stay that starts the day the booked one ends.
    with psycopg.connect(postgres_url) as db:
        property_id, guest_id, start_date, end_date = db.execute(
            "SELECT property_id, guest_id, start_date, end_date FROM listings_reservation"
        ).fetchone()
        insert = (
            "INSERT INTO listings_reservation (id, property_id, guest_id, start_date, end_date,"
            " guests, number_of_nights, total_price, created_at, status, checkin_removed)"
            " VALUES (%s, %s, %s, %s, %s, 1, 1, 1, now(), %s, false)"
        )
        stay = (property_id, guest_id, start_date, end_date)
        with pytest.raises(psycopg.errors.ExclusionViolation):
            db.execute(insert, (uuid.uuid4(), *stay, "confirmed"))
        db.rollback()
        # Only confirmed stays are covered: requests (and past answers) may overlap.
        for status in ("requested", "requested", "declined", "cancelled", "expired"):
            db.execute(insert, (uuid.uuid4(), *stay, status))
        next_stay = (end_date, end_date + timedelta(days=2))
        db.execute(insert, (uuid.uuid4(), property_id, guest_id, *next_stay, "confirmed"))
        db.commit()
        assert db.execute("SELECT count(*) FROM listings_reservation").fetchone() == (7,)
        # A request overlapping a confirmed stay cannot become confirmed behind its back.
        with pytest.raises(psycopg.errors.ExclusionViolation):
            db.execute(
                "UPDATE listings_reservation SET status = 'confirmed' WHERE status = 'requested'"
            )
        db.rollback()


@pytest.mark.live
@pytest.mark.services
def test_postgres_concurrent_confirms_leave_one_confirmed_stay(postgres_server: LiveServer):
    """Against PostgreSQL behind a real server: eight overlapping requests, all confirmed
    at once by the landlord; exactly one is, the rest are declined."""
    with httpx.Client(base_url=postgres_server.url, timeout=30) as http:
        host = _signup(http, 0)
        guests = [_signup(http, n) for n in range(1, THREADS + 1)]
        body = {**PROPERTY_BODY, "instant_book": False}
        prop = http.post("/api/properties", json=body, headers=host).json()
        path = f"/api/properties/{prop['id']}/reservations"
        ids = [
            http.post(path, json=overlapping_stay(i), headers=guests[i]).json()["id"]
            for i in range(THREADS)
        ]
        start = threading.Barrier(THREADS)

        def confirm(i: int) -> int:
            start.wait(timeout=10)
            return http.post(f"/api/reservations/{ids[i]}/confirm", headers=host).status_code

        with ThreadPoolExecutor(THREADS) as pool:
            codes = list(pool.map(confirm, range(THREADS)))
        assert sorted(codes) == [200] + [409] * (THREADS - 1), codes
        listed = http.get(path, headers=host, params={"limit": 100}).json()["items"]
        assert sorted(item["status"] for item in listed) == ["confirmed"] + ["declined"] * (
            THREADS - 1
        )
        public = http.get(path).json()
        assert public["count"] == 1
