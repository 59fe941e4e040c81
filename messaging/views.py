"""The inbox and conversation pages.

The server renders the frame of each page (and, for a conversation, checks that the
visitor takes part in it and names the other person); the scripts load conversations
and messages from the chat API and keep them live over the event streams. A message's
markup is built in one place only (conversation.js, with textContent), because most
messages arrive live anyway.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import NotFound
from core.selectors import get_or_404
from messaging.models import Conversation
from messaging.selectors import block_state


@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/inbox.html", {})


@login_required
def conversation_page(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    """404 for anyone not in the conversation, as the API does (its existence stays hidden)."""
    try:
        conversation = get_or_404(
            Conversation.objects.of_user(request.user).with_users(), pk=conversation_id
        )
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    other = conversation.other_user(request.user)
    blocked_by_me, blocks_me = block_state(user=request.user, other=other)
    return render(
        request,
        "messaging/conversation.html",
        {
            "conversation": conversation,
            "other": other,
            "blocked_by_me": blocked_by_me,
            "blocks_me": blocks_me,
        },
    )
