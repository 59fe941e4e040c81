"""The messaging router (mounted at /api/chat on the one NinjaAPI in config.urls).

Every operation takes the Bearer header only: the HttpOnly cookie is for the
streams, the pages and the photo downloads (reads), so no cross-site form can write
here with it. `users_router` (mounted at /api/users) holds blocking.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pydantic
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, HttpRequest
from ninja import Query, Router, Status
from ninja.errors import ValidationError
from ninja.pagination import paginate

from core.auth import JWTAuth
from core.errors import BadRequest, Invalid, NotFound, UnsupportedMediaType
from core.pagination import LimitOffsetPagination
from core.schemas import UserOut, error_responses
from core.throttling import PerUserThrottle
from messaging import selectors, services
from messaging.images import MAX_IMAGES
from messaging.models import (
    BODY_MAX_LENGTH,
    Conversation,
    ConversationMessage,
    ConversationQuerySet,
)
from messaging.schemas import (
    ConversationDetailOut,
    ConversationOut,
    HistoryQuery,
    IdempotencyKey,
    MessageIn,
    MessageOut,
    MessagePageOut,
    ReportIn,
    ReportOut,
    StartOut,
)
from messaging.selectors import MessagePage

router = Router(tags=["messaging"], auth=JWTAuth())
_IMAGE_DOC = {
    "responses": {
        200: {
            "description": "The image (`Cache-Control: private`).",
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/webp": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    "security": [{"JWTAuth": []}],
}


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


_SEND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": MessageIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "body": {"type": "string", "maxLength": BODY_MAX_LENGTH},
                        "images": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "maxItems": MAX_IMAGES,
                        },
                    },
                    "required": ["images"],
                }
            },
        },
    }
}


@router.post(
    "/{conversation_id}/messages",
    response={201: MessageOut, **error_responses(400, 401, 403, 404, 413, 415, 422, 429)},
    # The service reads the sender with the conversation: no separate user query.
    auth=JWTAuth(load_user=False),
    throttle=[PerUserThrottle("MESSAGE_RATE", scope="messages")],
    openapi_extra=_SEND_BODY,
    summary="Send a message, as JSON `{body}` or multipart with 1 to 4 `images` "
    "(rate limited per user: MESSAGE_RATE a minute)",
)
def message_send(
    request: HttpRequest, conversation_id: UUID, idempotency_key: IdempotencyKey = None
) -> Status[ConversationMessage]:
    body, images = send_input(request)
    message = services.message_send(
        conversation_id=conversation_id,
        sender=request.auth,
        body=body,
        images=images,
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


@router.post(
    "/{conversation_id}/typing",
    response={204: None, **error_responses(401, 404, 422)},
    summary="Tell the other participant the caller is typing (at most one every 3 s is sent)",
)
def conversation_typing(request: HttpRequest, conversation_id: UUID) -> Status:
    services.conversation_typing(conversation_id=conversation_id, user=request.auth)
    return Status(204, None)


@router.post(
    "/{conversation_id}/messages/{message_id}/report",
    response={200: ReportOut, 201: ReportOut, **error_responses(400, 401, 404, 422)},
    summary="Report the other participant's message to staff (once: a repeat answers 200)",
)
def message_report(
    request: HttpRequest, conversation_id: UUID, message_id: UUID, payload: ReportIn
) -> Status:
    report, created = services.message_report(
        user=request.auth,
        conversation_id=conversation_id,
        message_id=message_id,
        reason=payload.reason,
        note=payload.note,
    )
    return Status(201 if created else 200, report)


@router.get(
    "/{conversation_id}/attachments/{attachment_id}",
    auth=JWTAuth(cookie=True),
    response={200: None, **error_responses(401, 404, 422)},
    openapi_extra=_IMAGE_DOC,
    summary="A photo of a message (the two participants only; Bearer or the cookie)",
)
def attachment_file(request: HttpRequest, conversation_id: UUID, attachment_id: UUID) -> Any:
    return _attachment_response(request, conversation_id, attachment_id, thumbnail=False)


@router.get(
    "/{conversation_id}/attachments/{attachment_id}/thumbnail",
    auth=JWTAuth(cookie=True),
    response={200: None, **error_responses(401, 404, 422)},
    openapi_extra=_IMAGE_DOC,
    summary="A photo's thumbnail, at most 320 px wide (same access as the photo)",
)
def attachment_thumbnail(request: HttpRequest, conversation_id: UUID, attachment_id: UUID) -> Any:
    return _attachment_response(request, conversation_id, attachment_id, thumbnail=True)


def _attachment_response(
    request: HttpRequest, conversation_id: UUID, attachment_id: UUID, *, thumbnail: bool
) -> FileResponse:
    attachment = selectors.attachment_for_download(
        user=request.auth, conversation_id=conversation_id, attachment_id=attachment_id
    )
    file = attachment.thumbnail if thumbnail else attachment.image
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise NotFound("Attachment not found.") from exc
    response = FileResponse(handle, content_type=attachment.content_type)
    # The participants' browsers may keep it (its address never changes), no one else.
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def send_input(request: HttpRequest) -> tuple[Any, list[UploadedFile]]:
    """`(body, images)` of a send: JSON `{body}`, or multipart `body` and `images`."""
    if request.content_type == "multipart/form-data":
        images = request.FILES.getlist("images")
        if not images:
            raise Invalid("A multipart message needs 1 to 4 `images`.")
        if set(request.FILES) - {"images"}:
            raise Invalid("Send photos as `images`.")
        return request.POST.get("body", ""), images
    if request.content_type not in ("application/json", ""):
        raise UnsupportedMediaType("Send JSON, or multipart/form-data with images.")
    try:
        data = json.loads(request.body or b"null")
    except ValueError as exc:
        raise BadRequest("Malformed JSON.") from exc
    try:
        return MessageIn.model_validate(data).body, []
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [
                {**error, "loc": ["body", "payload", *error["loc"]]}
                for error in exc.errors(
                    include_url=False, include_context=False, include_input=False
                )
            ]
        ) from exc


users_router = Router(tags=["safety"], auth=JWTAuth())


@users_router.get(
    "/me/blocked",
    response={200: list[UserOut], **error_responses(401, 422)},
    summary="The users the caller blocks",
)
@paginate(LimitOffsetPagination)
def blocked_list(request: HttpRequest) -> Any:
    return selectors.blocked_users(user=request.auth)


@users_router.post(
    "/{user_id}/block",
    url_name="user_block",
    response={204: None, **error_responses(400, 401, 404, 422)},
    summary="Block a user: neither can write to or book with the other (idempotent)",
)
def user_block(request: HttpRequest, user_id: UUID) -> Status:
    services.user_block(user=request.auth, other_user_id=user_id)
    return Status(204, None)


@users_router.delete(
    "/{user_id}/block",
    response={204: None, **error_responses(400, 401, 404, 422)},
    summary="Lift the caller's block of a user (idempotent)",
)
def user_unblock(request: HttpRequest, user_id: UUID) -> Status:
    services.user_unblock(user=request.auth, other_user_id=user_id)
    return Status(204, None)
