from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models kept beside the code that uses them (messaging.notifications).
        # Streams held by Pushpin end on a logout or deactivation (the ASGI route's own
        # streams re-check their users instead: messaging.realtime.open_streams).
        from django.db.models.signals import post_save

        from core.models import User
        from core.signals import tokens_revoked
        from messaging.notifications import models  # noqa: F401
        from messaging.realtime import grip

        tokens_revoked.connect(grip.end_user_streams, dispatch_uid="grip-end-user-streams")
        post_save.connect(
            grip.end_deactivated_streams, sender=User, dispatch_uid="grip-end-deactivated"
        )
