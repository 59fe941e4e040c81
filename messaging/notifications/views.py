"""The unsubscribe page that every notification email links to.

The signed token in the path is the credential, so the page needs no login, and its
POST is CSRF-exempt on purpose: RFC 8058's one-click unsubscribe is a POST that mail
clients send by themselves (`List-Unsubscribe=One-Click`), with no page and no CSRF
token. A forged cross-site POST could only do what the token already allows: turn the
named person's emails off. GET never changes anything (mail scanners follow links).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core import services
from core.models import User
from messaging.notifications.tokens import unsubscribe_user_id


def _masked(email: str) -> str:
    """`a…@example.org`: enough for a person to recognise their address, no more."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    user_id = unsubscribe_user_id(token)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        response = render(request, "messaging/unsubscribe.html", {"invalid": True}, status=400)
    else:
        done = False
        if request.method == "POST":
            services.user_unsubscribe(user_id=user.pk)
            user.notify_email = False
            done = True
        context = {"done": done, "already": not user.notify_email, "email": _masked(user.email)}
        response = render(request, "messaging/unsubscribe.html", context)
    # The token is in the address: it must not leak to other sites, nor be cached.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response
