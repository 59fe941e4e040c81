"""The browse page's filters, read from the query string."""

from __future__ import annotations

from typing import Any

from django import forms

from core.forms import AccessibleForm


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
