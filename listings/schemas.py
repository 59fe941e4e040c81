"""Request and response shapes of the listings API (API.md, Objects and Listings)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import (
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.schemas import UserOut, media_url
from listings.models import (
    CHECKIN_DETAILS_MAX_LENGTH,
    MAX_GUESTS,
    MAX_PRICE_PER_NIGHT,
    MAX_ROOMS,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Country = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"),
    Field(description="ISO 3166-1 alpha-2, stored upper-case", examples=["PT"]),
]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Price = Annotated[int, Field(ge=1, le=MAX_PRICE_PER_NIGHT)]
Rooms = Annotated[int, Field(ge=0, le=MAX_ROOMS)]
Guests = Annotated[int, Field(ge=1, le=MAX_GUESTS)]
CheckinDetails = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=CHECKIN_DETAILS_MAX_LENGTH),
    Field(
        description="Private to the landlord: posted into a confirmed stay's thread "
        "CHECKIN_DETAILS_LEAD before it starts, removed after it."
    ),
]
Status = Literal["requested", "confirmed", "declined", "cancelled", "expired"]


class PropertyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    price_per_night: Price
    bedrooms: Rooms
    bathrooms: Rooms
    guests: Guests
    country: Country
    country_code: CountryCode
    category: Category = ""
    instant_book: bool = Field(True, description="False: bookings are requests to confirm")
    checkin_details: CheckinDetails = ""


class PropertyPatch(Schema):
    """Only the fields sent change; an explicit null is refused rather than stored."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    price_per_night: Price | None = None
    bedrooms: Rooms | None = None
    bathrooms: Rooms | None = None
    guests: Guests | None = None
    country: Country | None = None
    country_code: CountryCode | None = None
    category: Category | None = None
    instant_book: bool | None = None
    checkin_details: CheckinDetails | None = None

    @field_validator("*")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        # Runs only for values sent (defaults are not validated): null is not a value here.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class PropertyOut(Schema):
    id: UUID
    title: str
    description: str
    price_per_night: int
    bedrooms: int
    bathrooms: int
    guests: int
    country: str
    country_code: str
    category: str
    image_url: str | None
    landlord: UserOut
    created_at: datetime
    is_favorite: bool = Field(..., description="Whether the caller keeps it; false for anonymous")
    instant_book: bool = Field(..., description="True: booked at once; false: a request")
    checkin_details: str | None = Field(
        None,
        description="Private check-in details: present for the listing's landlord only, "
        "left out of the answer for anyone else.",
        exclude_if=lambda value: value is None,
    )

    @staticmethod
    def resolve_image_url(obj: Any) -> str | None:
        return media_url(obj, "image")

    @staticmethod
    def resolve_checkin_details(obj: Any) -> str | None:
        # Annotated by `with_favorites` for the landlord alone; absent means not theirs.
        return getattr(obj, "own_checkin_details", None)


class PropertyFilters(Schema):
    favorites: bool = Field(False, description="Only the caller's favorites (needs a token)")
    is_favorites: bool = Field(False, description="Alias of `favorites`, for the seed app")
    landlord_id: UUID | None = None
    country: str | None = Field(
        None, max_length=100, description="Country name or two-letter code, any case"
    )
    category: str | None = Field(None, max_length=50, description="Exact category, any case")
    guests: int | None = Field(None, ge=0, description="Takes at least this many guests")
    bedrooms: int | None = Field(None, ge=0, description="At least this many bedrooms")
    bathrooms: int | None = Field(None, ge=0, description="At least this many bathrooms")
    checkin: date | None = Field(None, description="With `checkout`: free for that whole stay")
    checkout: date | None = None

    @model_validator(mode="after")
    def stay_is_whole(self) -> PropertyFilters:
        if (self.checkin is None) != (self.checkout is None):
            raise ValueError("checkin and checkout go together")
        if self.checkin and self.checkout and self.checkout <= self.checkin:
            raise ValueError("checkout must be after checkin")
        return self

    @property
    def favorites_only(self) -> bool:
        return self.favorites or self.is_favorites


class FavoriteOut(Schema):
    is_favorite: bool


class ReservationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    start_date: date = Field(..., description="Check-in day (today or later)")
    end_date: date = Field(..., description="Check-out day, after the start")
    guests: Guests


class ReservationDatesOut(Schema):
    """What anyone may see of a stay: when the property is taken, not by whom."""

    start_date: date
    end_date: date


class ReservationOut(Schema):
    id: UUID
    property: PropertyOut
    guest: UserOut
    start_date: date
    end_date: date
    number_of_nights: int
    guests: int
    total_price: int = Field(..., description="number_of_nights x price_per_night")
    status: Status = Field(
        ..., description="As of now: a request unanswered past RESERVATION_REQUEST_TTL is expired"
    )
    created_at: datetime

    @staticmethod
    def resolve_status(obj: Any) -> str:
        return obj.current_status()


class ReservationFilters(Schema):
    role: Literal["guest", "host"] = Field(
        "guest", description="`guest`: the caller's own stays; `host`: stays of their listings"
    )
    status: Status | None = Field(None, description="Only stays in this status (as of now)")


class ContactOut(Schema):
    id: UUID = Field(..., description="The conversation with the listing's landlord")
    created: bool


class ReservationView(RootModel[ReservationOut | ReservationDatesOut]):
    """A reservation as the caller may see it: whole for the landlord, else its dates.

    Tried left to right, so a dates-only row (all that anyone else is given) can never
    pass for a whole one, and a whole one is never cut down for the landlord.
    """

    root: Annotated[ReservationOut | ReservationDatesOut, Field(union_mode="left_to_right")]
