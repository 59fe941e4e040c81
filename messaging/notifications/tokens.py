"""Unsubscribe tokens: signed (django.core.signing), naming the user, no login needed.

The token is the credential of the unsubscribe link, so it carries a salt of its own
(a value signed for anything else never passes) and no expiry: a link in an email
read months later must still work. It names the user by id only (no email address in
links that mail systems log).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core import signing

_signer = signing.Signer(salt="stayhub.notifications.unsubscribe")


def unsubscribe_token(user_id: Any) -> str:
    return _signer.sign(uuid.UUID(str(user_id)).hex)


def unsubscribe_user_id(token: str) -> str | None:
    """The user id the token names, or None when it was not signed here."""
    try:
        return str(uuid.UUID(hex=_signer.unsign(token)))
    except (signing.BadSignature, ValueError):
        return None
