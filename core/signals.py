"""What accounts tell the rest of the service, without knowing who listens.

`tokens_revoked(user_id=...)` is sent once a logout has moved a user's token generation
on (after commit), so that whatever holds that user's streams can end them at once;
a deactivation is the `User` model's own `post_save` with `is_active` false.
"""

from django.dispatch import Signal

tokens_revoked = Signal()
