"""Writes of stays: book, confirm, decline, cancel, expire, and the check-in details.

Every change of a stay is told in the thread between its guest and its landlord
(`listings.thread`, through messaging's services) in the same transaction as the
change: both are stored or neither is. Who may act and whether the stay is in a state
that allows it are checked here and raised as `core.errors` domain errors, before
anything is written, so a refused call stores nothing.

Confirmed stays of one property never share a night. On PostgreSQL the partial
exclusion constraint decides races (`listings.constraints`); elsewhere (SQLite) every
write transaction is serialised (`BEGIN IMMEDIATE`), so the overlap check and the
write cannot interleave. Whenever a stay becomes confirmed, the open requests that
overlap it are declined in the same transaction.

Jobs (`listings.tasks`) call the functions at the bottom; each checks the state it
acts on, so a job that runs late or twice does nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from core.background import defer
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import User
from core.selectors import get_or_404
from listings import thread
from listings.constraints import NO_OVERLAP_NAME, database_enforces_no_overlap
from listings.models import Property, Reservation, ReservationStatus
from listings.selectors import reservation_get
from messaging.selectors import block_exists

MAX_NIGHTS = 365
# PostgreSQL's SQLSTATE for "deadlock detected", and how often a write is tried.
DEADLOCK = "40P01"
DEADLOCK_ATTEMPTS = 3
OVERLAP = "These dates overlap a confirmed stay."
NOT_FOUND = "Reservation not found."

T = TypeVar("T")


# ------------------------------------------------------------------ the guest books


def reservation_create(
    *, property_id: Any, guest: User, start_date: date, end_date: date, guests: int
) -> Reservation:
    """Book a stay; the server prices it. Of overlapping concurrent bookings one wins.

    On an instant-book property the stay is confirmed at once (and the requests it
    overlaps are declined); otherwise it is a request, which expires unanswered after
    `RESERVATION_REQUEST_TTL`. Either way its message starts (or continues) the
    guest's thread with the landlord.
    """
    _check_stay(start_date, end_date)
    return _retrying(
        _book,
        property_id=property_id,
        guest=guest,
        start_date=start_date,
        end_date=end_date,
        guests=guests,
    )


def _check_stay(start_date: date, end_date: date) -> None:
    if end_date <= start_date:
        raise Invalid("end_date must be after start_date.")
    if start_date < timezone.localdate():
        raise Invalid("start_date is in the past.")
    if (end_date - start_date).days > MAX_NIGHTS:
        raise Invalid(f"A stay is at most {MAX_NIGHTS} nights.")


def _book(
    *, property_id: Any, guest: User, start_date: date, end_date: date, guests: int
) -> Reservation:
    with transaction.atomic():
        candidates = Property.objects.select_related("landlord")
        if not database_enforces_no_overlap(connection.vendor):
            candidates = candidates.select_for_update()
        prop = get_or_404(candidates, pk=property_id)
        if prop.landlord_id == guest.pk:
            raise Forbidden("You cannot book your own listing.")
        refuse_if_blocked(guest, prop.landlord)
        if guests > prop.guests:
            raise Invalid(f"This property takes at most {prop.guests} guests.")
        if Reservation.objects.confirmed_overlapping(prop.pk, start_date, end_date).exists():
            raise Conflict(OVERLAP)
        reservation = Reservation(
            property=prop,
            guest=guest,
            start_date=start_date,
            end_date=end_date,
            guests=guests,
            status=ReservationStatus.CONFIRMED
            if prop.instant_book
            else ReservationStatus.REQUESTED,
        )
        if not prop.instant_book:
            reservation.expires_at = reservation.created_at + settings.RESERVATION_REQUEST_TTL
        reservation.price()
        reservation.save(force_insert=True)
        if prop.instant_book:
            thread.tell(reservation, actor=guest, words=thread.booked(reservation))
            _confirmed(reservation)
        else:
            thread.tell(reservation, actor=guest, words=thread.requested(reservation))
            from listings.tasks import reservation_expire_job

            defer(reservation_expire_job, str(reservation.pk), run_after=reservation.expires_at)
    return reservation_get(reservation_id=reservation.pk, user=guest)


def refuse_if_blocked(guest: User, landlord: User) -> None:
    """While either of the two blocks the other, bookings between them are refused (403)."""
    if block_exists(guest, landlord):
        raise Forbidden("You cannot book with this host: one of you has blocked the other.")


# ------------------------------------------------------------------ the landlord answers


def reservation_confirm(*, reservation_id: Any, user: User) -> Reservation:
    """Confirm a request (landlord only); the open requests it overlaps are declined."""
    return _retrying(_confirm, reservation_id=reservation_id, user=user)


def _confirm(*, reservation_id: Any, user: User) -> Reservation:
    with transaction.atomic():
        reservation = _locked(reservation_id, user, landlord_only=True)
        _require_request(reservation, "confirmed")
        refuse_if_blocked(reservation.guest, reservation.property.landlord)
        stay = (reservation.property_id, reservation.start_date, reservation.end_date)
        if Reservation.objects.confirmed_overlapping(*stay).exists():
            raise Conflict(OVERLAP)
        reservation.status = ReservationStatus.CONFIRMED
        reservation.save(update_fields=["status"])
        thread.tell(reservation, actor=user, words=thread.confirmed(reservation))
        _confirmed(reservation)
    return reservation_get(reservation_id=reservation.pk, user=user)


def reservation_decline(*, reservation_id: Any, user: User) -> Reservation:
    """Decline a request (landlord only)."""
    return _retrying(_decline, reservation_id=reservation_id, user=user)


def _decline(*, reservation_id: Any, user: User) -> Reservation:
    with transaction.atomic():
        reservation = _locked(reservation_id, user, landlord_only=True)
        _require_request(reservation, "declined")
        reservation.status = ReservationStatus.DECLINED
        reservation.save(update_fields=["status"])
        thread.tell(reservation, actor=user, words=thread.declined(reservation))
    return reservation_get(reservation_id=reservation.pk, user=user)


def reservation_cancel(*, reservation_id: Any, user: User) -> Reservation:
    """Cancel a request, or a confirmed stay that has not started (its guest or landlord).

    Check-in details already posted for it are removed at once.
    """
    return _retrying(_cancel, reservation_id=reservation_id, user=user)


def _cancel(*, reservation_id: Any, user: User) -> Reservation:
    with transaction.atomic():
        reservation = _locked(reservation_id, user, landlord_only=False)
        status = reservation.current_status()
        started = reservation.start_date <= timezone.localdate()
        if status == ReservationStatus.CONFIRMED and started:
            raise Conflict("This stay has already started; it can no longer be cancelled.")
        if status not in (ReservationStatus.REQUESTED, ReservationStatus.CONFIRMED):
            raise Conflict(f"This stay is {status}; it can no longer be cancelled.")
        was = status
        reservation.status = ReservationStatus.CANCELLED
        reservation.save(update_fields=["status"])
        thread.tell(
            reservation, actor=user, words=thread.cancelled(reservation, actor=user, was=was)
        )
        _remove_checkin(reservation)
    return reservation_get(reservation_id=reservation.pk, user=user)


def _locked(reservation_id: Any, user: User, *, landlord_only: bool) -> Reservation:
    """The stay, locked until the transaction ends, if `user` may act on it.

    Anyone but its guest and its landlord: 404 (its existence is not revealed). The
    guest, where only the landlord may act: 403.
    """
    reservation = _lock(reservation_id)
    landlord_id = reservation.property.landlord_id if reservation else None
    if reservation is None or user.pk not in (reservation.guest_id, landlord_id):
        raise NotFound(NOT_FOUND)
    if landlord_only and user.pk != landlord_id:
        raise Forbidden("Only the landlord may confirm or decline a request.")
    return reservation


def _lock(reservation_id: Any) -> Reservation | None:
    return (
        Reservation.objects.select_related("property__landlord", "guest")
        .select_for_update(of=("self",))
        .filter(pk=reservation_id)
        .first()
    )


def _require_request(reservation: Reservation, outcome: str) -> None:
    status = reservation.current_status()
    if status == ReservationStatus.EXPIRED:
        raise Conflict(f"This request has expired; it can no longer be {outcome}.")
    if status != ReservationStatus.REQUESTED:
        raise Conflict(f"Only a request can be {outcome}; this stay is {status}.")


def _confirmed(reservation: Reservation) -> None:
    """What follows a stay becoming confirmed, in its transaction: the overlapping
    open requests are declined (each told in its own thread), and the check-in
    details are scheduled."""
    landlord = reservation.property.landlord
    clashing = (
        Reservation.objects.open_requests()
        .overlapping(reservation.property_id, reservation.start_date, reservation.end_date)
        .exclude(pk=reservation.pk)
        .select_related("guest")
        .select_for_update(of=("self",))
        .order_by("created_at", "id")
    )
    for other in clashing:
        other.property = reservation.property
        other.status = ReservationStatus.DECLINED
        other.save(update_fields=["status"])
        thread.tell(other, actor=landlord, words=thread.declined_as_taken(other))
    _schedule_checkin(reservation)


def _schedule_checkin(reservation: Reservation) -> None:
    from listings.tasks import checkin_post_job

    post_at = _day_start(reservation.start_date) - settings.CHECKIN_DETAILS_LEAD
    defer(checkin_post_job, str(reservation.pk), run_after=max(post_at, timezone.now()))


def checkin_details_updated(prop: Property) -> None:
    """The landlord wrote check-in details: the confirmed stays not yet told and not over
    get them in time (at once for those already within the lead; the job posts once).

    Call in the transaction that saves them.
    """
    if not prop.checkin_details.strip():
        return
    waiting = Reservation.objects.filter(
        property=prop,
        status=ReservationStatus.CONFIRMED,
        checkin_message_id__isnull=True,
        end_date__gte=timezone.localdate(),
    ).only("pk", "start_date")
    for reservation in waiting:
        _schedule_checkin(reservation)


# ------------------------------------------------------------------ jobs


def reservation_expire(*, reservation_id: Any) -> None:
    """Mark an unanswered request expired and tell the thread (from the landlord).

    Nothing for a stay that was answered meanwhile; scheduled again if run early.
    """
    _retrying(_expire, reservation_id=reservation_id)


def _expire(*, reservation_id: Any) -> None:
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation is None or reservation.status != ReservationStatus.REQUESTED:
            return
        if not reservation.is_past_expiry():
            from listings.tasks import reservation_expire_job

            defer(reservation_expire_job, str(reservation.pk), run_after=reservation.expires_at)
            return
        reservation.status = ReservationStatus.EXPIRED
        reservation.save(update_fields=["status"])
        landlord = reservation.property.landlord
        thread.tell(reservation, actor=landlord, words=thread.expired(reservation))


def checkin_post(*, reservation_id: Any) -> None:
    """Post the landlord's check-in details into a confirmed stay's thread, once.

    Nothing for a stay no longer confirmed, one already told, one already over, or
    a listing without details. Schedules their removal for the day after the stay.
    """
    _retrying(_checkin_post, reservation_id=reservation_id)


def _checkin_post(*, reservation_id: Any) -> None:
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation is None or reservation.status != ReservationStatus.CONFIRMED:
            return
        if reservation.checkin_message_id is not None:
            return
        remove_at = _checkin_removal_time(reservation)
        details = reservation.property.checkin_details.strip()
        if not details or timezone.now() >= remove_at:
            return
        message = thread.tell(
            reservation, actor=reservation.property.landlord, words=details, kind="checkin"
        )
        reservation.checkin_message_id = message.pk
        reservation.save(update_fields=["checkin_message_id"])
        from listings.tasks import checkin_remove_job

        defer(checkin_remove_job, str(reservation.pk), run_after=remove_at)


def checkin_remove(*, reservation_id: Any) -> None:
    """From the day after the stay: the check-in message's words are removed everywhere."""
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation is None or reservation.checkin_message_id is None:
            return
        remove_at = _checkin_removal_time(reservation)
        if reservation.status == ReservationStatus.CONFIRMED and timezone.now() < remove_at:
            from listings.tasks import checkin_remove_job

            defer(checkin_remove_job, str(reservation.pk), run_after=remove_at)
            return
        _remove_checkin(reservation)


def _remove_checkin(reservation: Reservation) -> None:
    """Replace the posted check-in details with `thread.CHECKIN_REMOVED`, once."""
    if reservation.checkin_message_id is None or reservation.checkin_removed:
        return
    thread.remove(reservation.checkin_message_id)
    reservation.checkin_removed = True
    reservation.save(update_fields=["checkin_removed"])


def _checkin_removal_time(reservation: Reservation) -> datetime:
    return _day_start(reservation.end_date + timedelta(days=1))


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# ------------------------------------------------------------------ conflicts and retries


def _retrying(write: Callable[..., T], **kwargs: Any) -> T:
    """Run one write transaction; an overlap the database refused is a 409.

    PostgreSQL checks the exclusion constraint by waiting for the transactions whose
    uncommitted rows conflict with the new one, and row locks (stays, conversations,
    event counters) are taken in data order, so two writes can wait for each other
    and one is aborted ("deadlock detected"). Tried again, it finds the other
    committed and answers as the state now says. Not inside a caller's transaction,
    which the abort has spoilt.
    """
    attempts_left = DEADLOCK_ATTEMPTS
    while True:
        try:
            return write(**kwargs)
        except IntegrityError as exc:
            if NO_OVERLAP_NAME in str(exc):
                raise Conflict(OVERLAP) from exc
            raise
        except OperationalError as exc:
            attempts_left -= 1
            if not _deadlocked(exc):
                raise
            if not attempts_left:
                raise Conflict("The stay changed meanwhile; try again.") from exc


def _deadlocked(exc: OperationalError) -> bool:
    deadlock = getattr(exc.__cause__, "sqlstate", None) == DEADLOCK
    return deadlock and not connection.in_atomic_block
