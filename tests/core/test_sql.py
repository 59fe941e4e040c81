"""core.sql: rows written out must read and write exactly what the ORM does."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from core import sql
from core.models import User
from messaging.models import Conversation, ConversationMessage
from tests.conftest import make_user


def fields_of(obj: Model) -> list[tuple[str, Any, type]]:
    """Every concrete field's value, and its Python type (a str is not a datetime)."""
    values = [(f.attname, getattr(obj, f.attname)) for f in obj._meta.concrete_fields]
    return [(name, value, type(value)) for name, value in values]


def read_row(model: type[Model], pk: Any) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sql.select_list(model, 't')} FROM {model._meta.db_table} t "
            f"WHERE t.{model._meta.pk.column} = %s",
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone()


@pytest.fixture
def pair(db: None) -> tuple[User, User]:
    return make_user(name="Ann"), make_user(name="Ben", is_active=False)


@pytest.fixture
def chat(pair: tuple[User, User]) -> Conversation:
    low, high = Conversation.ordered_pair(*pair)
    return Conversation.objects.create(user_low=low, user_high=high)


def test_instance_equals_what_a_queryset_makes(pair: tuple[User, User], chat: Conversation) -> None:
    ann, ben = pair
    for model, pk in ((User, ann.pk), (User, ben.pk), (Conversation, chat.pk)):
        built = sql.instance(model, read_row(model, pk))
        assert fields_of(built) == fields_of(model.objects.get(pk=pk))
        assert built._state.adding is False
        assert built._state.db == "default"
    # the types the backend's converters give, not the driver's raw values
    built_chat = sql.instance(Conversation, read_row(Conversation, chat.pk))
    assert built_chat.modified_at.tzinfo is not None
    assert isinstance(built_chat.id, uuid.UUID)
    assert sql.instance(User, read_row(User, ben.pk)).is_active is False


def test_insert_writes_what_create_writes(pair: tuple[User, User], chat: Conversation) -> None:
    ann, ben = pair
    at = timezone.now() - timedelta(days=3, microseconds=7)
    message = ConversationMessage(
        conversation=chat, body="héllo\nthere", created_by=ann, sent_to=ben, created_at=at
    )
    sql.insert(message)
    assert message._state.adding is False
    stored = ConversationMessage.objects.get(pk=message.pk)
    assert fields_of(stored) == fields_of(message)
    assert stored.created_at == at

    by_orm = ConversationMessage.objects.create(
        conversation=chat, body="héllo\nthere", created_by=ann, sent_to=ben, created_at=at
    )
    # the same columns in the database, but for the primary key
    assert (
        read_row(ConversationMessage, message.pk)[1:]
        == read_row(ConversationMessage, by_orm.pk)[1:]
    )


def test_insert_refuses_an_instance_without_its_key(
    pair: tuple[User, User], chat: Conversation
) -> None:
    message = ConversationMessage(
        conversation=chat, body="x", created_by=pair[0], sent_to=pair[1], id=None
    )
    with pytest.raises(ValueError, match="primary key"):
        sql.insert(message)
    assert not ConversationMessage.objects.exists()
