"""The host's listing pages: create and edit a listing (all its fields and its photo).

Plain HTML forms (Django CSRF) that call the same services as the API, so a listing
made on the site is exactly one made through `POST /api/properties`. The photo goes
through `property_set_image` in the same transaction as the fields: a refused picture
leaves a new listing uncreated, and an edit unchanged, with the form shown again as
it was sent. The booked calendar on the edit page is drawn by host_calendar.js from
`GET /api/properties/{id}/reservations`, which answers its landlord whole stays.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import Forbidden, NotFound, ServiceError
from listings import selectors, services
from listings.forms import PropertyForm
from listings.models import Property


def _categories() -> list[str]:
    return list(
        Property.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def _save(form: PropertyForm, request: HttpRequest, listing: Property | None) -> Property:
    """Create or update the listing and store its photo, all or nothing."""
    data = form.listing_data()
    upload = form.cleaned_data.get("image")
    with transaction.atomic():
        if listing is None:
            saved = services.property_create(landlord=request.user, data=data)
        else:
            saved = services.property_update(property_id=listing.pk, user=request.user, data=data)
        if upload:
            saved = services.property_set_image(
                property_id=saved.pk, user=request.user, upload=upload
            )
    return saved


def _form_page(
    request: HttpRequest, form: PropertyForm, listing: Property | None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "listings/listing_form.html",
        {
            "form": form,
            "listing": listing,
            "categories": _categories(),
            "saved": request.GET.get("saved"),
        },
        status=status,
    )


def _submit(request: HttpRequest, listing: Property | None) -> HttpResponse:
    form = PropertyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _form_page(request, form, listing, status=400)
    try:
        saved = _save(form, request, listing)
    except ServiceError as exc:
        # A picture the service refused: everything else typed is still in the form.
        form.add_error("image" if form.cleaned_data.get("image") else None, str(exc.detail))
        return _form_page(request, form, listing, status=exc.status_code)
    outcome = "created" if listing is None else "updated"
    return HttpResponseRedirect(f"{reverse('listing-edit', args=[saved.pk])}?saved={outcome}")


@require_http_methods(["GET", "POST"])
@login_required
def listing_new_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _submit(request, None)
    return _form_page(request, PropertyForm(initial={"instant_book": True}), None)


def _own_listing(request: HttpRequest, property_id: UUID) -> Property:
    try:
        listing = selectors.property_get(property_id=property_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    if listing.landlord_id != request.user.pk:
        raise PermissionDenied(Forbidden("Only the landlord may change this listing.").detail)
    return listing


@require_http_methods(["GET", "POST"])
@login_required
def listing_edit_page(request: HttpRequest, property_id: UUID) -> HttpResponse:
    listing = _own_listing(request, property_id)
    if request.method == "POST":
        return _submit(request, listing)
    initial = {name: getattr(listing, name, None) for name in PropertyForm.base_fields}
    initial.pop("image")
    return _form_page(request, PropertyForm(initial=initial), listing)
