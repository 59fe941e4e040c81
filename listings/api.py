"""The listings routers: properties, favorites and bookings (API.md, Listings and Reservations).

`router` is mounted at /api/properties and `reservations_router` at /api/reservations
in config.urls. Endpoints parse, call one selector or service, and return.
"""

from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import File, Query, Router, Status, UploadedFile
from ninja.pagination import paginate

from core.auth import JWTAuth
from core.pagination import LimitOffsetPagination
from core.schemas import error_responses
from listings import booking, selectors, services
from listings.models import Property, Reservation
from listings.schemas import (
    ContactOut,
    FavoriteOut,
    PropertyFilters,
    PropertyIn,
    PropertyOut,
    PropertyPatch,
    ReservationFilters,
    ReservationIn,
    ReservationOut,
    ReservationView,
)

router = Router(tags=["listings"])
reservations_router = Router(tags=["reservations"])

signed_in = JWTAuth()
anyone = JWTAuth(optional=True)


@router.get(
    "",
    response={200: list[PropertyOut], **error_responses(401, 422)},
    auth=anyone,
    summary="Browse listings, newest first",
)
@paginate(LimitOffsetPagination)
def property_list(request: HttpRequest, filters: Query[PropertyFilters]) -> QuerySet[Property]:
    """`favorites=true` (or `is_favorites=true`) needs a token: 401 without one."""
    return selectors.property_list(
        user=request.auth,
        favorites_only=filters.favorites_only,
        **filters.dict(exclude={"favorites", "is_favorites"}),
    )


@router.post(
    "",
    response={201: PropertyOut, **error_responses(401, 413, 422)},
    auth=signed_in,
    summary="Create a listing (the caller is its landlord)",
)
def property_create(request: HttpRequest, payload: PropertyIn) -> Status:
    return Status(201, services.property_create(landlord=request.auth, data=payload.dict()))


@router.get(
    "/{property_id}",
    response={200: PropertyOut, **error_responses(401, 404, 422)},
    auth=anyone,
    summary="One listing",
)
def property_detail(request: HttpRequest, property_id: UUID) -> Property:
    return selectors.property_get(property_id=property_id, user=request.auth)


@router.patch(
    "/{property_id}",
    response={200: PropertyOut, **error_responses(401, 403, 404, 413, 422)},
    auth=signed_in,
    summary="Change some fields of one's listing",
)
def property_update(request: HttpRequest, property_id: UUID, payload: PropertyPatch) -> Property:
    return services.property_update(
        property_id=property_id, user=request.auth, data=payload.dict(exclude_unset=True)
    )


@router.delete(
    "/{property_id}",
    response={204: None, **error_responses(401, 403, 404, 422)},
    auth=signed_in,
    summary="Delete one's listing",
)
def property_delete(request: HttpRequest, property_id: UUID) -> Status:
    services.property_delete(property_id=property_id, user=request.auth)
    return Status(204, None)


@router.post(
    "/{property_id}/image",
    response={200: PropertyOut, **error_responses(401, 403, 404, 413, 422)},
    auth=signed_in,
    summary="Upload the listing's picture (multipart field `image`, at most 5 MiB)",
)
def property_image(request: HttpRequest, property_id: UUID, image: File[UploadedFile]) -> Property:
    return services.property_set_image(property_id=property_id, user=request.auth, upload=image)


@router.post(
    "/{property_id}/favorite",
    response={200: FavoriteOut, **error_responses(401, 404, 422)},
    auth=signed_in,
    summary="Keep a listing among one's favorites (idempotent)",
)
def favorite_add(request: HttpRequest, property_id: UUID) -> dict[str, bool]:
    return {"is_favorite": services.favorite_add(property_id=property_id, user=request.auth)}


@router.delete(
    "/{property_id}/favorite",
    response={200: FavoriteOut, **error_responses(401, 404, 422)},
    auth=signed_in,
    summary="Drop a listing from one's favorites (idempotent)",
)
def favorite_remove(request: HttpRequest, property_id: UUID) -> dict[str, bool]:
    return {"is_favorite": services.favorite_remove(property_id=property_id, user=request.auth)}


@router.post(
    "/{property_id}/toggle_favorite",
    response={200: FavoriteOut, **error_responses(401, 404, 422)},
    auth=signed_in,
    summary="Flip the favorite (the seed app's endpoint, kept for its clients)",
)
def favorite_toggle(request: HttpRequest, property_id: UUID) -> dict[str, bool]:
    return {"is_favorite": services.favorite_toggle(property_id=property_id, user=request.auth)}


@router.post(
    "/{property_id}/reservations",
    response={201: ReservationOut, **error_responses(401, 403, 404, 409, 413, 422)},
    auth=signed_in,
    summary="Book a stay: confirmed at once on an instant-book listing, else a request "
    "(the server prices it; 409 when it overlaps a confirmed stay)",
)
def reservation_create(request: HttpRequest, property_id: UUID, payload: ReservationIn) -> Status:
    reservation = booking.reservation_create(
        property_id=property_id,
        guest=request.auth,
        start_date=payload.start_date,
        end_date=payload.end_date,
        guests=payload.guests,
    )
    return Status(201, reservation)


@router.get(
    "/{property_id}/reservations",
    response={200: list[ReservationView], **error_responses(401, 404, 422)},
    auth=anyone,
    summary="A listing's stays: whole for its landlord, only the dates for anyone else",
)
@paginate(LimitOffsetPagination)
def property_reservations(request: HttpRequest, property_id: UUID) -> QuerySet:
    return selectors.property_reservations(property_id=property_id, user=request.auth)


@router.post(
    "/{property_id}/contact",
    response={200: ContactOut, 201: ContactOut, **error_responses(400, 401, 403, 404, 422)},
    auth=signed_in,
    summary="Contact the host: the one conversation with the landlord, about this listing",
)
def property_contact(request: HttpRequest, property_id: UUID) -> Status:
    conversation, created = services.property_contact(property_id=property_id, user=request.auth)
    return Status(201 if created else 200, {"id": conversation.pk, "created": created})


@reservations_router.get(
    "",
    response={200: list[ReservationOut], **error_responses(401, 422)},
    auth=signed_in,
    summary="The caller's stays (role=guest) or their listings' (role=host), soonest first",
)
@paginate(LimitOffsetPagination)
def reservation_list(
    request: HttpRequest, filters: Query[ReservationFilters]
) -> QuerySet[Reservation]:
    return selectors.reservation_list(user=request.auth, role=filters.role, status=filters.status)


@reservations_router.get(
    "/{reservation_id}",
    response={200: ReservationOut, **error_responses(401, 404, 422)},
    auth=signed_in,
    summary="One stay, for its guest and its landlord",
)
def reservation_detail(request: HttpRequest, reservation_id: UUID) -> Reservation:
    return selectors.reservation_get(reservation_id=reservation_id, user=request.auth)


@reservations_router.post(
    "/{reservation_id}/confirm",
    response={200: ReservationOut, **error_responses(401, 403, 404, 409, 422)},
    auth=signed_in,
    summary="Confirm a request (landlord); overlapping requests are declined",
)
def reservation_confirm(request: HttpRequest, reservation_id: UUID) -> Reservation:
    return booking.reservation_confirm(reservation_id=reservation_id, user=request.auth)


@reservations_router.post(
    "/{reservation_id}/decline",
    response={200: ReservationOut, **error_responses(401, 403, 404, 409, 422)},
    auth=signed_in,
    summary="Decline a request (landlord)",
)
def reservation_decline(request: HttpRequest, reservation_id: UUID) -> Reservation:
    return booking.reservation_decline(reservation_id=reservation_id, user=request.auth)


@reservations_router.post(
    "/{reservation_id}/cancel",
    response={200: ReservationOut, **error_responses(401, 404, 409, 422)},
    auth=signed_in,
    summary="Cancel a request, or a confirmed stay not yet started (guest or landlord)",
)
def reservation_cancel(request: HttpRequest, reservation_id: UUID) -> Reservation:
    return booking.reservation_cancel(reservation_id=reservation_id, user=request.auth)
