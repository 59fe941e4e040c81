"""People and a conversation between them, shared by the messaging tests."""

import pytest

from core.models import User
from messaging import services
from messaging.models import Conversation
from tests.conftest import make_user


@pytest.fixture
def alice(db: None) -> User:
    return make_user(name="Alice")


@pytest.fixture
def bob(db: None) -> User:
    return make_user(name="Bob")


@pytest.fixture
def carol(db: None) -> User:
    return make_user(name="Carol")


@pytest.fixture
def chat(alice: User, bob: User) -> Conversation:
    return services.conversation_start(user=alice, other_user_id=bob.pk)[0]
