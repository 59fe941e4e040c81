"""Login, sign-up and logout pages.

They are plain HTML forms (with Django's CSRF token) that call the same account
services as the API and set the same cookies, so signing in works without any script.
The login page's script adds one thing: a silent refresh through the refresh cookie,
which sends a visitor whose 15-minute access cookie ran out straight back to `next`.
"""

from __future__ import annotations

import math

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core import services
from core.auth import clear_auth_cookies, set_auth_cookies
from core.errors import Conflict, Invalid, NotAuthenticated
from core.forms import LoginForm, SignupForm
from core.throttling import PerAddressThrottle
from core.tokens import TokenPair
from core.web import any_visitor, safe_next


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


@require_http_methods(["GET", "POST"])
@any_visitor
def login_page(request: HttpRequest) -> HttpResponse:
    target = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.method == "GET" and request.page_user is not None:
        return HttpResponseRedirect(target)
    form = LoginForm(request.POST or None)
    context = {"form": form, "next": target, "error": None}
    if request.method == "POST":
        wait = _throttled(request)
        if wait is not None:
            return _too_many(request, "core/login.html", context, wait)
        if form.is_valid():
            try:
                _, pair = services.login(
                    email=form.cleaned_data["email"], password=form.cleaned_data["password"]
                )
            except NotAuthenticated as exc:
                context["error"] = exc.detail
                return render(request, "core/login.html", context, status=401)
            return _signed_in_redirect(target, pair)
        return render(request, "core/login.html", context, status=400)
    return render(request, "core/login.html", context)


@require_http_methods(["GET", "POST"])
@any_visitor
def signup_page(request: HttpRequest) -> HttpResponse:
    target = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.method == "GET" and request.page_user is not None:
        return HttpResponseRedirect(target)
    form = SignupForm(request.POST or None)
    context = {"form": form, "next": target, "error": None}
    if request.method == "POST":
        wait = _throttled(request)
        if wait is not None:
            return _too_many(request, "core/signup.html", context, wait)
        if form.is_valid():
            try:
                _, pair = services.signup(**form.cleaned_data)
            except (Conflict, Invalid) as exc:
                context["error"] = exc.detail
                return render(request, "core/signup.html", context, status=exc.status_code)
            return _signed_in_redirect(target, pair)
        return render(request, "core/signup.html", context, status=400)
    return render(request, "core/signup.html", context)


@require_http_methods(["GET", "POST"])
@any_visitor
def logout_page(request: HttpRequest) -> HttpResponse:
    """GET asks, POST (CSRF-checked) forgets the cookies.

    The page scripts log out through `POST /api/auth/logout` first, which also spends
    the refresh token (its cookie only travels to /api/auth/); this form is the
    script-less way and clears both cookies.
    """
    if request.method == "POST":
        response = HttpResponseRedirect("/")
        clear_auth_cookies(response)
        return response
    return render(request, "core/logout.html", {})
