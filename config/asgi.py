"""ASGI entry point: `uvicorn config.asgi:application` serves everything (see core.server)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from core.server.app import get_asgi_application

application = get_asgi_application()
