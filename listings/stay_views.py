"""Stays on the site: the guest's trips, the host's stays, and the way to a stay's thread.

Rendered on the server from the reservations as the API has them; the buttons
(cancel, confirm, decline) call the reservation endpoints from stay_actions.js and
update their row with the answer. Each stay links to its conversation, the one
between its guest and its landlord, where every change of its status is posted.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from core.errors import NotFound
from listings import selectors
from listings.models import Reservation
from messaging import services as messaging_services
from messaging.models import Conversation


def _status(stay: Reservation) -> str:
    """The status as of now (a request past its time to answer is expired)."""
    return stay.current_status()


def _can_cancel(stay: Reservation, today: date) -> bool:
    status = _status(stay)
    return status == "requested" or (status == "confirmed" and stay.start_date > today)


def _sections(stays: list[Reservation], *, host: bool) -> list[dict[str, Any]]:
    """Stays in the groups people look for them in, each stay marked with what it allows."""
    today = timezone.localdate()
    groups: dict[str, list[Reservation]] = {
        "requested": [],
        "upcoming": [],
        "past": [],
        "cancelled": [],
    }
    for stay in stays:
        status = _status(stay)
        stay.shown_status = status  # type: ignore[attr-defined]
        stay.can_answer = host and status == "requested"  # type: ignore[attr-defined]
        # A host answers a request with Decline rather than cancelling it.
        stay.can_cancel = _can_cancel(stay, today) and not stay.can_answer  # type: ignore[attr-defined]
        stay.status_label = status.capitalize()  # type: ignore[attr-defined]
        if status == "requested":
            groups["requested"].append(stay)
        elif status == "confirmed" and stay.end_date <= today:
            stay.status_label = "Completed"  # type: ignore[attr-defined]
            groups["past"].append(stay)
        elif status == "confirmed":
            groups["upcoming"].append(stay)
        else:
            groups["cancelled"].append(stay)
    groups["past"].reverse()  # the latest first
    groups["cancelled"].sort(key=lambda stay: stay.created_at, reverse=True)
    titles = {
        "requested": "Requests waiting for you" if host else "Requested",
        "upcoming": "Upcoming",
        "past": "Past",
        "cancelled": "Cancelled, declined or expired",
    }
    empty = {
        "requested": "No requests to answer." if host else "No requests waiting for a host.",
        "upcoming": "No upcoming stays.",
        "past": "No past stays yet.",
        "cancelled": "Nothing cancelled, declined or expired.",
    }
    return [
        {"key": key, "title": titles[key], "stays": groups[key], "empty": empty[key]}
        for key in groups
    ]


@login_required
def trips_page(request: HttpRequest) -> HttpResponse:
    stays = list(selectors.reservation_list(user=request.user, role="guest"))
    return render(
        request,
        "listings/trips.html",
        {"sections": _sections(stays, host=False), "count": len(stays)},
    )


@login_required
def host_stays_page(request: HttpRequest) -> HttpResponse:
    stays = list(selectors.reservation_list(user=request.user, role="host"))
    return render(
        request,
        "listings/host_stays.html",
        {"sections": _sections(stays, host=True), "count": len(stays)},
    )


@login_required
def stay_thread(request: HttpRequest, reservation_id: UUID) -> HttpResponse:
    """The conversation of a stay, for its guest and its landlord (404 for anyone else)."""
    me = request.user
    try:
        stay = selectors.reservation_get(reservation_id=reservation_id, user=me)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    other_id = stay.property.landlord_id if stay.guest_id == me.pk else stay.guest_id
    low, high = Conversation.ordered_pair(me.pk, other_id)
    conversation = Conversation.objects.filter(user_low_id=low, user_high_id=high).first()
    if conversation is None:
        # Every booking posts into the thread, so this is an older stay: start it now.
        conversation, _ = messaging_services.start_conversation(user=me, other_user_id=other_id)
    return HttpResponseRedirect(reverse("conversation", args=[conversation.pk]))
