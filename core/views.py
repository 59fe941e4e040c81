"""Login, sign-up, logout and settings pages.

They are plain HTML forms (with Django's CSRF token) that call the same account
services as the API and set the same cookies, so signing in works without any script.
The login page's script adds one thing: a silent refresh through the refresh cookie,
which sends a visitor whose 15-minute access cookie ran out straight back to `next`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core import services
from core.auth import clear_auth_cookies, set_auth_cookies
from core.errors import ServiceError
from core.forms import LoginForm, SettingsForm, SignupForm
from core.models import User
from core.throttling import PerAddressThrottle
from core.tokens import TokenPair, token_subject, tokens_revoke
from core.web import safe_next


def _throttled(request: HttpRequest) -> float | None:
    """Seconds to wait when this address is over AUTH_RATE, shared with the API's counter."""
    throttle = PerAddressThrottle("AUTH_RATE", scope="auth")
    if throttle.allow_request(request):
        return None
    return throttle.wait() or 60.0


def _too_many(request: HttpRequest, template: str, context: dict, wait: float) -> HttpResponse:
    context["error"] = "Too many attempts from this address. Wait a minute and try again."
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(math.ceil(wait))
    return response


def _signed_in_redirect(target: str, pair: TokenPair) -> HttpResponse:
    response = HttpResponseRedirect(target)
    set_auth_cookies(response, pair)
    return response


def _account_form_page(
    request: HttpRequest,
    form_class: type[forms.Form],
    template: str,
    act: Callable[[dict[str, Any]], tuple[User, TokenPair]],
    welcome: Callable[[User], str],
) -> HttpResponse:
    """Shared flow of the login and sign-up forms: throttle, validate, act, sign in.

    `act` is the account service; the `ServiceError` it raises (wrong password, taken
    email, weak password) is shown on the form with its status code; success says so
    on the next page (`welcome`, a Django message).
    """
    target = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.method == "GET" and request.page_user is not None:
        return HttpResponseRedirect(target)
    form = form_class(request.POST or None)
    context = {"form": form, "next": target, "error": None}
    if request.method != "POST":
        return render(request, template, context)
    wait = _throttled(request)
    if wait is not None:
        return _too_many(request, template, context, wait)
    if not form.is_valid():
        return render(request, template, context, status=400)
    try:
        user, pair = act(form.cleaned_data)
    except ServiceError as exc:
        context["error"] = exc.detail
        return render(request, template, context, status=exc.status_code)
    messages.success(request, welcome(user))
    return _signed_in_redirect(target, pair)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login view, its POSTs counted against AUTH_RATE per client address."""
    from django.contrib import admin

    if request.method == "POST":
        wait = _throttled(request)
        if wait is not None:
            response = HttpResponse(
                "Too many attempts from this address. Wait a minute and try again.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(math.ceil(wait))
            return response
    return admin.site.login(request)


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    return _account_form_page(
        request,
        LoginForm,
        "core/login.html",
        lambda data: services.user_log_in(email=data["email"], password=data["password"]),
        lambda user: f"Welcome back, {user.name or user.email}. You are logged in.",
    )


@require_http_methods(["GET", "POST"])
def signup_page(request: HttpRequest) -> HttpResponse:
    return _account_form_page(
        request,
        SignupForm,
        "core/signup.html",
        lambda data: services.user_sign_up(**data),
        lambda user: f"Welcome to stayhub, {user.name}. Your account is ready.",
    )


@require_http_methods(["GET", "POST"])
def logout_page(request: HttpRequest) -> HttpResponse:
    """GET asks, POST (CSRF-checked) forgets the cookies.

    The page scripts log out through `POST /api/auth/logout` first, which also spends
    the refresh token (its cookie only travels to /api/auth/); this form is the
    script-less way and clears both cookies.
    """
    if request.method == "POST":
        user_id = token_subject(request.COOKIES.get(settings.ACCESS_COOKIE_NAME), "access")
        if user_id is not None:
            tokens_revoke(user_id)  # as the API's logout: this browser's streams end too
        response = HttpResponseRedirect("/")
        clear_auth_cookies(response)
        messages.info(request, "You are logged out. See you soon.")
        return response
    return render(request, "core/logout.html", {})


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """Name, picture and email notifications; saved by the same service as the API."""
    user: User = request.page_user
    initial = {"name": user.name, "notify_email": user.notify_email}
    form = SettingsForm(request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.user_update(
                    user=user,
                    name=form.cleaned_data["name"],
                    notify_email=form.cleaned_data["notify_email"],
                    avatar=form.cleaned_data["avatar"] or None,
                )
            except ServiceError as exc:
                # the form checked the name: what the service refuses is the picture
                form.add_error("avatar" if form.cleaned_data["avatar"] else None, exc.detail)
                status = exc.status_code
            else:
                messages.success(request, "Your settings are saved.")
                return HttpResponseRedirect(request.path)
        else:
            status = 400
    return render(request, "core/settings.html", {"form": form, "person": user}, status=status)
