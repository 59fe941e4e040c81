"""The messaging router (mounted on the one NinjaAPI in config.urls)."""

from ninja import Router

router = Router(tags=["messaging"])
