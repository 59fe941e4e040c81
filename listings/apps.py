"""The listings app: properties, favorites and stays."""

from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "listings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Messaging masks contact details until two people have a stay (messaging.stays):
        # the stays are ours, so we tell it how to know.
        from listings.selectors import stay_confirmed_between
        from messaging.stays import stay_check_install

        stay_check_install(stay_confirmed_between)
