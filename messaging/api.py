"""The messaging router (mounted at /api/chat on the one NinjaAPI in config.urls).

Every operation takes the Bearer header only: the HttpOnly cookie is for the
streams and the pages, so no cross-site form can write here with it.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from core.auth import JWTAuth
from core.pagination import LimitOffsetPagination
from core.schemas import error_responses
from core.throttling import PerUserThrottle
from messaging import selectors, services
from messaging.models import Conversation, ConversationMessage, ConversationQuerySet
from messaging.schemas import (
    ConversationDetailOut,
    ConversationOut,
    HistoryQuery,
    IdempotencyKey,
    MessageIn,
    MessageOut,
    MessagePageOut,
    StartOut,
)
from messaging.selectors import MessagePage

router = Router(tags=["messaging"], auth=JWTAuth())


@router.get(
    "",
    response={200: list[ConversationOut], **error_responses(401, 422)},
    summary="The caller's conversations, latest activity first",
)
@paginate(LimitOffsetPagination)
def conversation_list(request: HttpRequest) -> ConversationQuerySet:
    return selectors.conversation_list(user=request.auth)


@router.post(
    "/start/{user_id}",
    response={200: StartOut, 201: StartOut, **error_responses(400, 401, 404, 422)},
    summary="The one conversation with a user: 201 when new, 200 when it existed",
)
def conversation_start(request: HttpRequest, user_id: UUID) -> Status:
    conversation, created = services.conversation_start(user=request.auth, other_user_id=user_id)
    return Status(201 if created else 200, {"id": conversation.pk, "created": created})


@router.get(
    "/{conversation_id}",
    response={200: ConversationDetailOut, **error_responses(401, 404, 422)},
    summary="A conversation with its latest 50 messages (participants only)",
)
def conversation_detail(request: HttpRequest, conversation_id: UUID) -> Conversation:
    return selectors.conversation_get(user=request.auth, conversation_id=conversation_id)


@router.get(
    "/{conversation_id}/messages",
    response={200: MessagePageOut, **error_responses(401, 404, 422)},
    summary="Older messages, oldest first, cursor-paged by `before`",
)
def message_list(
    request: HttpRequest, conversation_id: UUID, params: Query[HistoryQuery]
) -> MessagePage:
    return selectors.message_list(
        user=request.auth, conversation_id=conversation_id, before=params.before, limit=params.limit
    )


@router.post(
    "/{conversation_id}/messages",
    response={201: MessageOut, **error_responses(401, 404, 413, 422, 429)},
    # The service reads the sender with the conversation: no separate user query.
    auth=JWTAuth(load_user=False),
    throttle=[PerUserThrottle("MESSAGE_RATE", scope="messages")],
    summary="Send a message (rate limited per user: MESSAGE_RATE a minute)",
)
def message_send(
    request: HttpRequest,
    conversation_id: UUID,
    payload: MessageIn,
    idempotency_key: IdempotencyKey = None,
) -> Status[ConversationMessage]:
    message = services.message_send(
        conversation_id=conversation_id,
        sender=request.auth,
        body=payload.body,
        idempotency_key=idempotency_key,
    )
    return Status(201, message)


@router.post(
    "/{conversation_id}/read",
    response={204: None, **error_responses(401, 404, 422)},
    summary="Mark the conversation read up to its latest message",
)
def conversation_read(request: HttpRequest, conversation_id: UUID) -> Status:
    services.conversation_mark_read(conversation_id=conversation_id, user=request.auth)
    return Status(204, None)
