"""`python manage.py seed_demo`: people, listings with pictures, favorites, stays, a chat.

Idempotent: everything is looked up by a natural key (email, landlord + title, guest +
property) before it is made, so a second run adds nothing. Writes go through the
listings services, so demo data obeys the same rules as API data: every stay is told
in its guest-host thread (reservation cards). The stays show every state: confirmed
and upcoming, requested (pending the host), declined, cancelled, and past (written
directly, as no one can book the past, and told in the thread the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from core.models import User
from listings import booking, services, thread
from listings.management.demo_pictures import initials_avatar, landscape
from listings.models import Property, Reservation, ReservationStatus

DEMO_PASSWORD = "stayhub-demo-2026"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    color: tuple[int, int, int]


HOST = Person("host@stayhub.example", "Helena Costa", (214, 96, 77))
GUEST = Person("guest@stayhub.example", "Gabriel Silva", (64, 120, 192))
PEOPLE = [
    HOST,
    Person("kenji@stayhub.example", "Kenji Sato", (90, 150, 100)),
    Person("amara@stayhub.example", "Amara Okafor", (150, 90, 170)),
    GUEST,
    Person("lena@stayhub.example", "Lena Fischer", (220, 160, 50)),
]

# (host email, title, country, code, category, price, bedrooms, bathrooms, guests, description)
LISTINGS = [
    (HOST.email, "Sea-view cabin above Nazaré", "Portugal", "PT", "cabins", 140, 2, 1, 4,
     "A timber cabin on the cliffs; watch the winter waves from the wood-stove corner."),
    (HOST.email, "Whitewashed beach house in Comporta", "Portugal", "PT", "beach", 210, 3, 2, 6,
     "Rice fields behind, dunes in front, a five-minute walk to an empty beach."),
    (HOST.email, "Loft under the castle, Lisbon", "Portugal", "PT", "city", 95, 1, 1, 2,
     "Tiled stairs, tram 28 at the door and the rooftops of Alfama from the window."),
    ("kenji@stayhub.example", "Machiya townhouse in Higashiyama", "Japan", "JP", "city", 180,
     2, 1, 4, "A restored wooden townhouse with a moss garden, ten minutes from Kiyomizu-dera."),
    ("kenji@stayhub.example", "Ryokan-style lodge near Hakone", "Japan", "JP", "mountains", 260,
     3, 2, 6, "Tatami rooms, a private onsen bath and, on clear mornings, Mount Fuji."),
    ("kenji@stayhub.example", "Snow-country cabin in Niseko", "Japan", "JP", "snow", 130, 2, 1,
     4, "Powder at the door, a sauna out back and ramen in the village."),
    (HOST.email, "Hillside farmhouse in Tuscany", "Italy", "IT", "countryside", 190, 4, 3, 8,
     "Olive groves, a long table under the pergola and cypress-lined lanes to Montalcino."),
    ("kenji@stayhub.example", "Boathouse on Lake Como", "Italy", "IT", "lakes", 240, 2, 2, 4,
     "Swim from the jetty, take the ferry to Bellagio, dine on the water."),
    ("amara@stayhub.example", "Fjord cabin near Geiranger", "Norway", "NO", "cabins", 170, 2, 1,
     5, "Grass roof, a rowing boat and waterfalls across the fjord."),
    ("amara@stayhub.example", "Cloud-forest treehouse, Monteverde", "Costa Rica", "CR",
     "treehouses", 120, 1, 1, 2, "Sleep in the canopy among hummingbirds and howler monkeys."),
    ("amara@stayhub.example", "Riad with a courtyard pool, Marrakesh", "Morocco", "MA",
     "villas", 160, 4, 4, 8, "Zellige tiles, orange trees and a roof terrace above the medina."),
    ("amara@stayhub.example", "Beach house on Tarkwa Bay", "Nigeria", "NG", "beach", 150, 3, 2,
     6, "A short boat ride from Lagos: surf in the morning, suya on the sand at night."),
]  # fmt: skip

# (guest email, title of the listing kept)
FAVORITES = [
    (GUEST.email, "Sea-view cabin above Nazaré"),
    (GUEST.email, "Machiya townhouse in Higashiyama"),
    (GUEST.email, "Fjord cabin near Geiranger"),
    (GUEST.email, "Riad with a courtyard pool, Marrakesh"),
    ("lena@stayhub.example", "Hillside farmhouse in Tuscany"),
    ("lena@stayhub.example", "Boathouse on Lake Como"),
]

# Listings whose stays are requests that the host confirms or declines.
REQUEST_TO_BOOK = {
    "Whitewashed beach house in Comporta",
    "Hillside farmhouse in Tuscany",
    "Ryokan-style lodge near Hakone",
}
# The hosts' private check-in details, posted into a stay's thread before it starts.
CHECKIN_DETAILS = {
    HOST.email: "Key box by the blue door, code 2468. Wi-Fi: stayhub-guest / sunset2468.",
    "kenji@stayhub.example": "Check in from 15:00; the key is with the neighbour at no. 12.",
    "amara@stayhub.example": "Call me when you land and I will meet you at the gate.",
}

# (guest email, title, days from today, nights, guests, what becomes of it)
STAYS = [
    (GUEST.email, "Sea-view cabin above Nazaré", 14, 3, 2, "booked"),
    (GUEST.email, "Machiya townhouse in Higashiyama", 45, 4, 2, "booked"),
    (GUEST.email, "Whitewashed beach house in Comporta", 30, 4, 3, "requested"),
    (GUEST.email, "Loft under the castle, Lisbon", -20, 3, 2, "past"),
    (GUEST.email, "Hillside farmhouse in Tuscany", 60, 5, 4, "declined"),
    (GUEST.email, "Fjord cabin near Geiranger", 75, 3, 2, "cancelled"),
    ("lena@stayhub.example", "Hillside farmhouse in Tuscany", 30, 5, 6, "confirmed"),
    ("lena@stayhub.example", "Ryokan-style lodge near Hakone", 20, 2, 2, "requested"),
]

CHAT = [
    (GUEST, "Hi Helena! Is the Nazaré cabin warm enough in December? We'd love a few nights."),
    (HOST, "Hi Gabriel, yes: there's a wood stove and floor heating. Stormy days are the best."),
    (GUEST, "Wonderful, we just booked. Any tip for dinner in town?"),
]


class Command(BaseCommand):
    help = "Load demo people, listings with pictures, favorites, stays and a conversation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo accounts share a published password).",
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="The address the site will be served on, for the closing message.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo makes accounts with a published password; "
                "run it with DEBUG=1 or pass --force (as `make run` does)."
            )
        self.made: dict[str, int] = dict.fromkeys(
            ["people", "listings", "pictures", "favorites", "stays", "conversations"], 0
        )
        with transaction.atomic():
            people = {p.email: self._person(p) for p in PEOPLE}
            listings = self._listings(people)
        # Pictures and bookings go through the services, which manage their own
        # transactions (file storage, the serialised booking write).
        self._pictures(listings)
        self._favorites(people, listings)
        self._conversation(people[GUEST.email], people[HOST.email])
        self._stays(people, listings)
        self._report(options["url"])

    # ------------------------------------------------------------ the parts

    def _person(self, person: Person) -> User:
        user = User.objects.filter(email__iexact=person.email).first()
        if user is None:
            user = User.objects.create_user(
                email=person.email, password=DEMO_PASSWORD, name=person.name
            )
            self.made["people"] += 1
        if not user.avatar:
            slug = person.email.split("@")[0]
            picture = ContentFile(initials_avatar(person.name, person.color))
            user.avatar.save(f"demo-{slug}.png", picture, save=True)
        return user

    def _listings(self, people: dict[str, User]) -> dict[str, Property]:
        now = timezone.now()
        out = {}
        for age, row in enumerate(LISTINGS):
            email, title, country, code, category, price, beds, baths, guests, text = row
            prop, created = Property.objects.get_or_create(
                landlord=people[email],
                title=title,
                defaults={
                    "description": text,
                    "country": country,
                    "country_code": code,
                    "category": category,
                    "price_per_night": price,
                    "bedrooms": beds,
                    "bathrooms": baths,
                    "guests": guests,
                    "created_at": now - timedelta(hours=6 * age),
                    "instant_book": title not in REQUEST_TO_BOOK,
                    "checkin_details": CHECKIN_DETAILS.get(email, ""),
                },
            )
            self.made["listings"] += created
            out[title] = prop
        return out

    def _pictures(self, listings: dict[str, Property]) -> None:
        for title, prop in listings.items():
            if prop.image:
                continue
            upload = SimpleUploadedFile(
                "demo.jpg", landscape(prop.category, seed=title), content_type="image/jpeg"
            )
            services.property_set_image(property_id=prop.pk, user=prop.landlord, upload=upload)
            self.made["pictures"] += 1

    def _favorites(self, people: dict[str, User], listings: dict[str, Property]) -> None:
        for email, title in FAVORITES:
            user, prop = people[email], listings[title]
            if not prop.favorites.filter(user=user).exists():
                services.favorite_add(property_id=prop.pk, user=user)
                self.made["favorites"] += 1

    def _stays(self, people: dict[str, User], listings: dict[str, Property]) -> None:
        today = timezone.localdate()
        for email, title, in_days, nights, guests, fate in STAYS:
            guest, prop = people[email], listings[title]
            if Reservation.objects.filter(property=prop, guest=guest).exists():
                continue
            start = today + timedelta(days=in_days)
            stay = {
                "guest": guest,
                "start_date": start,
                "end_date": start + timedelta(days=nights),
                "guests": guests,
            }
            try:
                if fate == "past":
                    self._past_stay(prop, **stay)
                else:
                    made = booking.reservation_create(property_id=prop.pk, **stay)
                    self._answer(made, prop.landlord, guest, fate)
            except ServiceError as exc:  # e.g. someone booked those dates meanwhile
                self.stderr.write(f"Skipped a demo stay at {title}: {exc.detail}")
                continue
            self.made["stays"] += 1

    def _answer(self, made: Reservation, host: User, guest: User, fate: str) -> None:
        if fate == "confirmed":
            booking.reservation_confirm(reservation_id=made.pk, user=host)
        elif fate == "declined":
            booking.reservation_decline(reservation_id=made.pk, user=host)
        elif fate == "cancelled":
            booking.reservation_cancel(reservation_id=made.pk, user=guest)

    def _past_stay(self, prop: Property, **stay: Any) -> None:
        """A stay already over: written directly, and told in the thread as booked."""
        with transaction.atomic():
            reservation = Reservation(
                property=prop,
                status=ReservationStatus.CONFIRMED,
                created_at=timezone.now() - timedelta(days=40),
                **stay,
            )
            reservation.price()
            reservation.save(force_insert=True)
            words = thread.booked(reservation)
            thread.tell(reservation, actor=stay["guest"], words=words)

    def _conversation(self, guest: User, host: User) -> None:
        """A short chat between the demo guest and host, if messaging is installed."""
        if not apps.is_installed("messaging"):
            return
        conversation_model = apps.get_model("messaging", "Conversation")
        participant_model = apps.get_model("messaging", "Participant")
        message_model = apps.get_model("messaging", "ConversationMessage")
        low, high = sorted([guest, host], key=lambda u: u.pk)
        if conversation_model.objects.filter(user_low=low, user_high=high).exists():
            return
        start = timezone.now() - timedelta(hours=2)
        with transaction.atomic():
            conversation = conversation_model.objects.create(user_low=low, user_high=high)
            participant_model.objects.bulk_create(
                [
                    participant_model(conversation=conversation, user=guest),
                    # the host has read everything; the guest has the reply to read
                    participant_model(
                        conversation=conversation, user=host, last_read_at=timezone.now()
                    ),
                ]
            )
            when = start
            for sender, body in CHAT:
                author = guest if sender is GUEST else host
                message_model.objects.create(
                    conversation=conversation,
                    body=body,
                    created_by=author,
                    sent_to=host if author == guest else guest,
                    created_at=when,
                )
                when += timedelta(minutes=7)
            conversation_model.objects.filter(pk=conversation.pk).update(
                created_at=start, modified_at=when - timedelta(minutes=7)
            )
        self.made["conversations"] += 1

    def _report(self, url: str) -> None:
        made = ", ".join(f"{count} {what}" for what, count in self.made.items())
        self.stdout.write(f"Demo data ready (new this run: {made}).")
        self.stdout.write("")
        url = url.rstrip("/") + "/"
        self.stdout.write(self.style.SUCCESS(f"  Open {url}"))
        self.stdout.write(f"  Guest login: {GUEST.email} / {DEMO_PASSWORD}")
        self.stdout.write(f"  Host login:  {HOST.email} / {DEMO_PASSWORD}")
        self.stdout.write(f"  API docs:    {url}api/docs")
