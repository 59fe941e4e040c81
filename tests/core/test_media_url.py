"""core.schemas.media_url: the same URL a FieldFile gives, without the FieldFile's cycle."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.db.models.fields.files import FieldFile

from core.models import User
from core.schemas import media_url
from messaging.models import ConversationMessage
from messaging.schemas import message_payload
from messaging.services import conversation_start, message_send
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def with_avatar(name: str, avatar: str) -> User:
    user = make_user(name=name)
    User.objects.filter(pk=user.pk).update(avatar=avatar)
    return User.objects.get(pk=user.pk)  # the column as loaded: a name, not yet a file


def test_the_url_is_the_file_url_whether_loaded_accessed_or_deferred(settings) -> None:
    user = with_avatar("Ann", "avatars/ann.png")
    assert media_url(user, "avatar") == "/media/avatars/ann.png"
    deferred = User.objects.only("id").get(pk=user.pk)
    assert media_url(deferred, "avatar") == "/media/avatars/ann.png"
    assert media_url(user, "avatar") == user.avatar.url  # now through the FieldFile
    assert isinstance(user.__dict__["avatar"], FieldFile)
    assert media_url(user, "avatar") == "/media/avatars/ann.png"
    settings.PUBLIC_URL = "https://stayhub.example"
    assert media_url(user, "avatar") == "https://stayhub.example/media/avatars/ann.png"
    assert media_url(make_user(name="Ben"), "avatar") is None


def test_serializing_a_message_leaves_its_users_to_reference_counting() -> None:
    """No FieldFile <-> instance cycle: what the GC would have to find and free."""
    ann, ben = with_avatar("Ann", "avatars/ann.png"), with_avatar("Ben", "avatars/ben.png")
    conversation, _ = conversation_start(user=ann, other_user_id=ben.pk)
    sent = message_send(conversation_id=conversation.pk, sender=ann, body="hi")
    gc.disable()
    try:
        message = ConversationMessage.objects.with_people().get(pk=sent.pk)
        users = [weakref.ref(message.created_by), weakref.ref(message.sent_to)]
        payload = message_payload(message)
        del message
        assert [user() for user in users] == [None, None]  # freed without the GC
    finally:
        gc.enable()
    assert payload["created_by"]["avatar_url"] == "/media/avatars/ann.png"
    assert payload["sent_to"]["avatar_url"] == "/media/avatars/ben.png"
