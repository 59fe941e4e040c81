from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models kept beside the code that uses them (messaging.notifications).
        from messaging.notifications import models  # noqa: F401
