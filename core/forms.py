"""The login and sign-up forms of the pages (the API parses its own schemas)."""

from __future__ import annotations

from typing import Any

from django import forms


class AccessibleForm(forms.Form):
    """Marks fields that failed validation so screen readers announce why."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}-help"

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                described = [attrs.get("aria-describedby", ""), f"{self[name].auto_id}-error"]
                attrs["aria-describedby"] = " ".join(filter(None, described))


class LoginForm(AccessibleForm):
    email = forms.CharField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SignupForm(AccessibleForm):
    name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        max_length=128,
        strip=False,
        help_text="At least 8 characters, not too common, not only digits.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class SettingsForm(AccessibleForm):
    name = forms.CharField(
        max_length=150,
        help_text="Shown to hosts and guests you talk to.",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    avatar = forms.FileField(
        required=False,
        label="Picture",
        help_text="A JPEG, PNG, GIF or WebP image, at most 5 MB. It is cut to a square.",
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"}),
    )
    notify_email = forms.BooleanField(
        required=False,
        label="Email me about unread messages",
        help_text="One email per conversation when a message waits unread for a while, "
        "and booking requests at once.",
    )
