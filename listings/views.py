"""The listing pages: browse, one property, a host, my favorites, my properties.

Cards are rendered on the server from the same selectors as the API (one query for a
page of cards, `is_favorite` computed in it), so browsing works without scripts; the
scripts add the favorite hearts and "Contact host", which call the API.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import NotFound
from core.selectors import get_user
from listings import selectors
from listings.forms import BrowseFilters
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
    query = request.GET.copy()
    query.pop("page", None)
    pager_query = query.urlencode()
    query.pop("category", None)
    return render(
        request,
        "listings/browse.html",
        {
            "form": form,
            "page": _page(request, listings),
            "categories": _categories(),
            "current_category": filters.get("category", ""),
            "query_without_category": query.urlencode(),
            "pager_query": pager_query,
            "filtered": bool(filters),
        },
    )


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
        },
    )


def host_page(request: HttpRequest, host_id: UUID) -> HttpResponse:
    try:
        host = get_user(host_id)
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
