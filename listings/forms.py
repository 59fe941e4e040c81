"""The listing pages' forms: browse filters, the stay carried to a property, a listing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from core.forms import AccessibleForm
from listings.models import CHECKIN_DETAILS_MAX_LENGTH, MAX_GUESTS, MAX_PRICE_PER_NIGHT, MAX_ROOMS


class BrowseFilters(AccessibleForm):
    country = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "Anywhere", "autocomplete": "country-name"}),
    )
    guests = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        widget=forms.NumberInput(attrs={"placeholder": "Any"}),
    )
    checkin = forms.DateField(
        required=False, label="Check-in", widget=forms.DateInput(attrs={"type": "date"})
    )
    checkout = forms.DateField(
        required=False, label="Check-out", widget=forms.DateInput(attrs={"type": "date"})
    )
    category = forms.CharField(required=False, max_length=50, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        checkin, checkout = data.get("checkin"), data.get("checkout")
        if (checkin is None) != (checkout is None):
            self.add_error("checkout" if checkin else "checkin", "Give both dates, or neither.")
        elif checkin and checkout and checkout <= checkin:
            self.add_error("checkout", "Check-out must be after check-in.")
        return data

    def selector_filters(self) -> dict[str, Any]:
        """The valid filters, named as `listings.selectors.property_list` takes them.

        A field that failed validation is left out (and its error shown), the others
        still apply.
        """
        self.is_valid()
        return {key: value for key, value in self.cleaned_data.items() if value not in (None, "")}


class StayChoice(AccessibleForm):
    """Dates and guests carried from the browse filters to a property page (all optional)."""

    checkin = forms.DateField(required=False)
    checkout = forms.DateField(required=False)
    guests = forms.IntegerField(required=False, min_value=1, max_value=MAX_GUESTS)

    def stay(self) -> dict[str, Any]:
        """The valid part of the choice: both dates in order, or none; guests if sane."""
        self.is_valid()
        data = self.cleaned_data
        checkin, checkout = data.get("checkin"), data.get("checkout")
        chosen: dict[str, Any] = {}
        if checkin and checkout and checkout > checkin:
            chosen.update(checkin=checkin, checkout=checkout, nights=(checkout - checkin).days)
        if data.get("guests"):
            chosen["guests"] = data["guests"]
        return chosen


class PropertyForm(AccessibleForm):
    """A listing as its host edits it on the site; the same bounds as the API's schema."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )
    price_per_night = forms.IntegerField(
        label="Price per night ($)", min_value=1, max_value=MAX_PRICE_PER_NIGHT
    )
    guests = forms.IntegerField(label="Guests", min_value=1, max_value=MAX_GUESTS, initial=2)
    bedrooms = forms.IntegerField(min_value=0, max_value=MAX_ROOMS, initial=1)
    bathrooms = forms.IntegerField(min_value=0, max_value=MAX_ROOMS, initial=1)
    country = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "country-name"})
    )
    country_code = forms.CharField(
        label="Country code",
        min_length=2,
        max_length=2,
        help_text="Two letters, e.g. PT.",
        validators=[RegexValidator(r"^[A-Za-z]{2}$", "Two letters, such as PT.")],
        widget=forms.TextInput(attrs={"autocomplete": "country", "pattern": "[A-Za-z]{2}"}),
    )
    category = forms.CharField(
        required=False,
        max_length=50,
        help_text="Such as Beach, Cabins or City.",
        widget=forms.TextInput(attrs={"list": "category-choices"}),
    )
    instant_book = forms.BooleanField(
        required=False,
        label="Instant book",
        help_text="Guests book at once; when off, you confirm or decline each request.",
    )
    checkin_details = forms.CharField(
        required=False,
        max_length=CHECKIN_DETAILS_MAX_LENGTH,
        label="Check-in details (private)",
        help_text=(
            "Address, door code, key box: sent to your guest in your conversation before "
            "a confirmed stay, removed after it. Nobody else sees them."
        ),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    image = forms.FileField(
        required=False,
        label="Photo",
        help_text="JPEG, PNG, WebP or GIF, at most 5 MB.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}
        ),
    )

    def clean_country_code(self) -> str:
        return self.cleaned_data["country_code"].strip().upper()

    def listing_data(self) -> dict[str, Any]:
        """The fields the listing services take (everything but the photo)."""
        return {key: value for key, value in self.cleaned_data.items() if key != "image"}
