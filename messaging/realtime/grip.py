"""The streams when Pushpin holds them (GRIP): the hold, the recovery, the publishes.

What Pushpin asks when `GRIP_URL` is set reaches the ninja operations here (the ASGI
route answers the stream paths otherwise, before Django sees the request); they also
carry the OpenAPI description of the two stream paths.

Pushpin delivers a published item to a held stream only when the item's `prev-id` is
the last id that stream has for the channel; otherwise it asks the app to recover
(a request to the hold's `next` link) and holds the stream's items until that answer
comes. django-eventstream's own GRIP path stalled under load for two reasons read in
Pushpin's source (1.36, the handler):

- Every first subscription to a channel makes Pushpin recover every stream on it
  about a second later, whatever the ids say. Those recoveries pass through a limiter
  of 10 per second that groups up to 100 streams whose next link is the same URI; the
  library's next link is different for every stream (it carries a signed `es-meta`
  with the user and an expiry), so 1,000 new streams meant 100 seconds of recoveries,
  each stream's messages waiting for its turn.
- Its hold also subscribes a `user-<id>` channel and puts the library's user into
  every request Pushpin makes back, which keeps those links apart too.

Here the next link is ONE path for every stream, so the limiter takes them 100 at a
time (each stream still sends a request of its own). What a recovery needs is in
Pushpin's `Grip-Last` header (each channel with the last id the stream has), so the
link needs no state of its own. The streams' channels were checked when the stream
was opened; a recovery only replays what those channels already carry, and only for a
request signed by Pushpin.

Ids chain: every event is published with `id` = its stored id and `prev-id` = the one
before it in the same channel (ids are dense per channel, `messaging.realtime.storage`), and
every hold or recovery announces as `prev-id` the last id it wrote. The event's `id:`
line is written into the published content (each stream has one channel), so no
`build-id` filter is needed, and the stream-open event carries the stream's position
as the ASGI route's does (a client dropped before its first message resumes from it).

Pushpin's recovery requests carry nothing of the stream but `Grip-Last` (only for
channels with an id; no session meta, no client header), and the channel list of the
hold that answers one replaces the stream's. So every hold also names its holder in a
channel: `stayhub-auth-<user>.<generation>.<expiry>` with id 0, never published to.
From it a recovery knows whose stream it is: it ends the stream (`stream-error`,
`unauthorized`) once the token has expired or its user logged out or was deactivated,
and subscribes again the holder's two channels without ids: `stayhub-user-<user>`
(a logout or deactivation publishes the end there, at once) and, per stream channel,
`stayhub-now-<user>-<channel>` (typing: an item without an id on an id-chained channel
would be out of sequence for Pushpin, dropped, and make it recover).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django_eventstream.event import Event
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError
from django_eventstream.storage import EventDoesNotExist
from django_eventstream.utils import add_default_headers, get_storage, make_id, sse_encode_event
from django_eventstream.views import events
from gripcontrol import Channel, HttpStreamFormat
from ninja import Router

from core.auth import request_token
from core.errors import NotAuthenticated, NotFound
from core.models import User
from core.schemas import error_responses
from core.selectors import users_token_state
from core.tokens import decode, generation, user_for_claims
from messaging.realtime.channels import ChannelManager, stream_channels
from messaging.realtime.grip_publish import publish
from messaging.realtime.live import UNAUTHORIZED as UNAUTHORIZED_EVENT
from messaging.realtime.replay import read_stored
from messaging.realtime.request import conversation_from_path, last_event_ids
from messaging.selectors import CONVERSATION_NOT_FOUND

# Pushpin's channel for a stream channel: the library's naming, so both agree.
GRIP_PREFIX = "events-"
# The holder's channels (module docstring).
AUTH_PREFIX = "stayhub-auth-"
USER_PREFIX = "stayhub-user-"
NOW_PREFIX = "stayhub-now-"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"
KEEP_ALIVE_SECONDS = 20
# Pushpin re-asks the next link after this long without activity on a stream: a net
# for a publish lost between the app and Pushpin. Streams share one bucket (one timer)
# per timeout value, so the value is spread per stream to keep those recoveries from
# all coming at once.
NEXT_LINK_TIMEOUT = (3000, 3600)
READ_BATCH = 500
MAX_CHANNELS = 10


def recover_path() -> str:
    """The next link of every held stream: one URI, so Pushpin batches its recoveries.

    A constant derived from `SECRET_KEY` rides along, so that without a `GRIP_KEY`
    (development) a forged `Grip-Sig` still cannot read channels through it.
    """
    return f"/api/chat/events/recover?k={_link_key()}"


def _link_key() -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), b"stayhub-grip-recover", hashlib.sha256)
    return digest.hexdigest()[:32]


def link_key_ok(value: str) -> bool:
    return hmac.compare_digest(value.encode(), _link_key().encode())


def grip_channel(channel: str) -> str:
    return GRIP_PREFIX + quote(channel)


def stream_channel(name: str) -> str | None:
    """The stream channel of a Pushpin channel name (None for one that is not ours)."""
    if not name.startswith(GRIP_PREFIX):
        return None
    return unquote(name[len(GRIP_PREFIX) :])


@dataclass(frozen=True)
class Holder:
    """Who holds a stream: the user, and the generation and expiry of their token."""

    user_id: str
    generation: int
    expires: int  # epoch seconds

    @classmethod
    def from_claims(cls, claims: dict) -> Holder:
        return cls(str(claims["sub"]), generation(claims), int(claims["exp"]))

    @property
    def auth_channel(self) -> str:
        return f"{AUTH_PREFIX}{self.user_id}.{self.generation}.{self.expires}"

    @classmethod
    def from_auth_channel(cls, name: str) -> Holder | None:
        try:
            user_id, gen, expires = name[len(AUTH_PREFIX) :].split(".")
            return cls(str(uuid.UUID(user_id)), int(gen), int(expires))
        except ValueError:
            return None

    def may_hold(self) -> bool:
        """Whether the token is still good: not expired, its user active, no logout since."""
        if self.expires <= time.time():
            return False
        active, current = users_token_state({self.user_id}).get(self.user_id, (False, 0))
        return active and self.generation >= current


def user_channel(user_id: object) -> str:
    return f"{USER_PREFIX}{user_id}"


def now_channel(user_id: object, channel: str) -> str:
    """Where events for `user_id` only, without ids (typing), reach their `channel` stream."""
    return f"{NOW_PREFIX}{user_id}-{quote(channel)}"


def hold(
    request: HttpRequest, body: str, last_ids: dict[str, str], holder: Holder | None
) -> HttpResponse:
    """`body` now, then Pushpin holds the stream on `last_ids`' channels from those ids,
    and on the holder's own (module docstring; None: a stream of an older version).

    `request` must have come through django-grip's middleware (`request.grip`).
    """
    instruct = request.grip.start_instruct()
    instruct.set_hold_stream()
    low, high = NEXT_LINK_TIMEOUT
    timeout = random.randint(low, high)  # noqa: S311
    if holder is not None:  # asked again when the token expires, to end the stream
        timeout = max(1, min(timeout, holder.expires - int(time.time()) + 1))
    instruct.set_next_link(recover_path(), timeout=timeout)
    for channel, last_id in last_ids.items():
        instruct.add_channel(Channel(grip_channel(channel), prev_id=str(last_id)))
    if holder is not None:
        instruct.add_channel(Channel(holder.auth_channel, prev_id="0"))
        instruct.add_channel(Channel(user_channel(holder.user_id)))
        for channel in last_ids:
            instruct.add_channel(Channel(now_channel(holder.user_id, channel)))
    instruct.set_keep_alive(KEEP_ALIVE, KEEP_ALIVE_SECONDS)
    response = HttpResponse(body, content_type="text/event-stream")
    add_default_headers(response, request=request)
    return response


def encode(event: Event) -> str:
    """One event as its stream writes it: `id:` is the stream's id (one channel)."""
    return sse_encode_event(event.type, event.data, event_id=make_id({event.channel: event.id}))


def read_after(channel: str, last_id: int) -> tuple[list[Event], int, bool]:
    """Stored events of `channel` after `last_id`: (events, the last id, whether reset).

    A trimmed `last_id` (older than retention) resets to the channel's current id, as
    the library's reads do; the caller then says `stream-reset`.
    """
    storage = get_storage()
    out: list[Event] = []
    while True:
        try:
            batch = storage.get_events(channel, last_id, limit=READ_BATCH)
        except EventDoesNotExist as exc:
            return out, int(exc.current_id), True
        out += batch
        if batch:
            last_id = int(batch[-1].id)
        if len(batch) < READ_BATCH:
            return out, last_id, False


def recover(request: HttpRequest) -> HttpResponse:
    """Pushpin's recovery: what each channel missed after the `Grip-Last` ids, then hold.

    The caller has checked that Pushpin signed the request.
    """
    last: dict[str, int] = {}
    holder: Holder | None = None
    for name, last_id in request.grip.last.items():
        if name.startswith(AUTH_PREFIX):
            holder = Holder.from_auth_channel(name)
            continue
        channel = stream_channel(name)
        if channel is None or not last_id.isdigit():
            continue
        last[channel] = int(last_id)
    if not last or len(last) > MAX_CHANNELS:
        return HttpResponse(status=400)
    if holder is not None and not holder.may_hold():
        return HttpResponse(UNAUTHORIZED_EVENT, content_type="text/event-stream")
    parts: list[str] = []
    positions: dict[str, str] = {}
    for channel, last_id in last.items():
        missed, position, reset = read_after(channel, last_id)
        if reset:
            parts.append(
                sse_encode_event(
                    "stream-reset",
                    {"channels": [channel]},
                    event_id=make_id({channel: position}),
                    json_encode=True,
                )
            )
        parts += [encode(event) for event in missed]
        positions[channel] = str(position)
    return hold(request, "".join(parts), positions, holder)


def publish_events(stored: Iterable[Event]) -> None:
    """Hand stored events to Pushpin, each chained to the one before it in its channel.

    In call order, through `messaging.realtime.grip_publish` (ZeroMQ or HTTP).
    """
    for event in stored:
        publish(
            grip_channel(event.channel),
            HttpStreamFormat(encode(event)),
            id=str(event.id),
            prev_id=str(int(event.id) - 1),
        )


def publish_now(user_id: object, channel: str, event_type: str, data: str) -> None:
    """An event without an id for `user_id`'s streams of `channel` only (typing)."""
    publish(now_channel(user_id, channel), HttpStreamFormat(sse_encode_event(event_type, data)))


def end_user_streams(sender: object, *, user_id: object, **kwargs: object) -> None:
    """`core.signals.tokens_revoked`: a logout ends the user's held streams at once."""
    if settings.GRIP_URL:
        publish_end(user_id)


def end_deactivated_streams(sender: object, instance: User, **kwargs: object) -> None:
    """`post_save` of a `User`: a deactivation ends their held streams at once."""
    if settings.GRIP_URL and not instance.is_active:
        user_id = instance.pk
        transaction.on_commit(lambda: publish_end(user_id))


def publish_expired(auth_channel: str) -> None:
    """End the streams held with one token: on its channel, chained after its id 0."""
    publish(auth_channel, HttpStreamFormat(UNAUTHORIZED_EVENT), id="1", prev_id="0")
    publish(auth_channel, HttpStreamFormat(close=True), id="2", prev_id="1")


def expiry_schedule(holder: Holder) -> None:
    """Have the worker end this token's held streams when it expires, once per token.

    Pushpin's own timer (the next link's timeout) is pushed back by every item a stream
    gets, so a busy stream would outlive its token without this.
    """
    from core.background import defer
    from messaging.tasks import held_streams_expire

    ttl = holder.expires - int(time.time())
    if ttl > 0 and cache.add(f"grip-expiry:{holder.auth_channel}", 1, timeout=ttl + 60):
        at = datetime.fromtimestamp(holder.expires, tz=UTC)
        defer(held_streams_expire, holder.auth_channel, run_after=at)


def publish_end(user_id: object) -> None:
    """End every stream `user_id` holds through Pushpin: `stream-error`, then the close."""
    channel = user_channel(user_id)
    publish(channel, HttpStreamFormat(UNAUTHORIZED_EVENT))
    publish(channel, HttpStreamFormat(close=True))


# ---------------------------------------------------------------- the ninja operations

# URL names of the two streams, in the API's namespace. `config.urls` mounts this
# router; the ASGI route (`messaging.realtime.route`) derives the paths it answers from
# these routes by name, so the two cannot part.
INBOX_STREAM = "inbox_events"
CONVERSATION_STREAM = "conversation_events"

router = Router(tags=["messaging"])

_SSE_DOC = {
    "responses": {
        200: {
            "description": (
                "Server-Sent Events: `event: message`, `id: <event id>`, `data: <Message>`; "
                "`keep-alive` events while idle. Resume with `Last-Event-ID` or "
                "`?lastEventId=`. Credential: `Authorization: Bearer <access>` or the "
                "HttpOnly access cookie set at login."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    # The route authenticates itself (header or cookie), so the scheme is documented here.
    "security": [{"JWTAuth": []}],
}


def django_stream(request: HttpRequest, segment: str | None) -> HttpResponse:
    """The stream endpoints when Django itself is asked (through Pushpin with `GRIP_URL`).

    Same checks as the ASGI route; then, for Pushpin, the same first chunk (padding,
    replay, `stream-open` with the stream's position as its id) and hold instructions
    whose ids chain, with the one recovery link. A request that did not come through
    Pushpin gets the library's own view. Follow-ups on streams opened by an older
    version carry the library's signed `es-meta` and its next link; the library's view
    still answers them.
    """
    grip_data = getattr(request, "grip", None)
    proxied = grip_data is not None and grip_data.proxied
    es_meta = request.GET.get("es-meta")
    if proxied and es_meta:
        try:
            jwt.decode(es_meta, settings.SECRET_KEY.encode(), algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("Invalid stream continuation.") from exc
        return events(request)
    claims = decode(request_token(request), "access")
    user = user_for_claims(claims)
    conversation_id = conversation_from_path(segment)
    channels = stream_channels(user.pk, conversation_id)
    manager = ChannelManager()
    if not all(manager.can_read_channel(user, channel) for channel in channels):
        raise NotFound(CONVERSATION_NOT_FOUND)
    last_ids = last_event_ids(request, channels)  # a bad id is a 400 here too
    request.user = user
    if not proxied:
        return events(request, channels=channels)
    event_request = EventRequest()
    event_request.channels = set(channels)
    event_request.channel_last_ids = last_ids
    event_request.is_next = event_request.is_recover = False
    event_request.user = user
    try:
        replay = read_stored(event_request)
    except EventPermissionError as exc:
        raise NotFound(CONVERSATION_NOT_FOUND) from exc
    position = event_request.channel_last_ids
    # Imported here: the ASGI route imports this module (the streams' URL names).
    from messaging.realtime.route import PADDING, stream_open

    holder = Holder.from_claims(claims)
    expiry_schedule(holder)
    return hold(request, PADDING + replay + stream_open(position), position, holder)


@router.get("/events/recover", auth=None, include_in_schema=False)
def grip_recover(request: HttpRequest) -> HttpResponse:
    """Pushpin's recovery link for every held stream (see the module docstring)."""
    grip_data = getattr(request, "grip", None)
    if grip_data is None or not grip_data.proxied or not link_key_ok(request.GET.get("k", "")):
        raise NotFound("Not found.")
    return recover(request)


@router.get(
    "/events",
    url_name=INBOX_STREAM,
    auth=None,
    response=error_responses(400, 401, 429),
    openapi_extra=_SSE_DOC,
    summary="The caller's inbox stream: message events of all their conversations",
)
def inbox_events(request: HttpRequest) -> HttpResponse:
    return django_stream(request, None)


@router.get(
    "/{conversation_id}/events",
    url_name=CONVERSATION_STREAM,
    auth=None,
    response=error_responses(400, 401, 404, 429),
    openapi_extra=_SSE_DOC,
    summary="A conversation's stream of message events (participants only)",
)
def conversation_events(request: HttpRequest, conversation_id: str) -> HttpResponse:
    return django_stream(request, conversation_id)
