"""The listing pages: browse, one property, a host, my favorites, my properties.

Cards are rendered on the server from the same selectors as the API (one query for a
page of cards, `is_favorite` computed in it), so browsing works without scripts; the
scripts add the favorite hearts and "Contact host", which call the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import NotFound
from core.selectors import user_get
from listings import selectors
from listings.forms import BrowseFilters, StayChoice
from listings.models import Property

PAGE_SIZE = 24


def _page(request: HttpRequest, listings: QuerySet[Property]) -> Page:
    return Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))


def _categories() -> list[str]:
    """The categories in use, for the browse page's chips (one query)."""
    return list(
        Property.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def browse_page(request: HttpRequest) -> HttpResponse:
    form = BrowseFilters(request.GET or None)
    filters = form.selector_filters() if form.is_bound else {}
    listings = selectors.property_list(user=request.user, **filters)
    stay = StayChoice(request.GET).stay() if "checkin" in filters else {}
    if "guests" in filters:
        stay["guests"] = filters["guests"]
    query = request.GET.copy()
    query.pop("page", None)
    pager_query = query.urlencode()
    query.pop("category", None)
    return render(
        request,
        "listings/browse.html",
        {
            "form": form,
            "page": _with_stay_totals(_page(request, listings), stay),
            "stay": stay,
            "stay_query": _stay_query(stay),
            "categories": _categories(),
            "current_category": filters.get("category", ""),
            "query_without_category": query.urlencode(),
            "pager_query": pager_query,
            "filtered": bool(filters),
        },
    )


def _with_stay_totals(page: Page, stay: dict[str, Any]) -> Page:
    """Give each card of the page the total of the chosen stay (nights x its price)."""
    page.object_list = list(page.object_list)
    if stay.get("nights"):
        for listing in page.object_list:
            listing.stay_total = listing.price_per_night * stay["nights"]
    return page


def _stay_query(stay: dict[str, Any]) -> str:
    """The chosen dates and guests as a query string, for links to property pages."""
    return urlencode({key: stay[key] for key in ("checkin", "checkout", "guests") if key in stay})


def property_page(request: HttpRequest, property_id: UUID) -> HttpResponse:
    try:
        listing = selectors.property_get(property_id=property_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    return render(
        request,
        "listings/property.html",
        {
            "listing": listing,
            "is_own": listing.landlord_id == getattr(request.page_user, "pk", None),
            # Dates and guests chosen on the browse page, carried over.
            "stay": StayChoice(request.GET).stay(),
            "request_ttl_hours": max(1, round(_request_ttl() / 3600)),
        },
    )


def _request_ttl() -> float:
    """Seconds a request waits for its host (the setting is a timedelta)."""
    return settings.RESERVATION_REQUEST_TTL.total_seconds()


def host_page(request: HttpRequest, host_id: UUID) -> HttpResponse:
    try:
        host = user_get(host_id)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    listings = selectors.property_list(user=request.user, landlord_id=host.pk)
    return render(
        request,
        "listings/host.html",
        {
            "host": host,
            "page": _page(request, listings),
            "is_self": host.pk == getattr(request.page_user, "pk", None),
        },
    )


@login_required
def favorites_page(request: HttpRequest) -> HttpResponse:
    listings = selectors.property_list(user=request.user, favorites_only=True)
    return render(request, "listings/favorites.html", {"page": _page(request, listings)})


@login_required
def my_properties_page(request: HttpRequest) -> HttpResponse:
    listings = selectors.property_list(user=request.user, landlord_id=request.user.pk)
    return render(request, "listings/my_properties.html", {"page": _page(request, listings)})
