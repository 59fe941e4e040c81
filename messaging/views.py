"""The inbox and conversation pages.

The pages are shells rendered for a signed-in participant; their scripts load the
conversations and messages from the chat API and keep them live over the event
streams, so the markup for a message exists once (built in JS with textContent).
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.web import signed_in


@signed_in
def inbox_page(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/inbox.html", {})


@signed_in
def conversation_page(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    return render(request, "messaging/conversation.html", {"conversation_id": conversation_id})
