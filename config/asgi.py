"""ASGI entry point: `uvicorn config.asgi:application` serves everything.

The two SSE stream paths are answered by `messaging.streams.StreamRoute` in front of
Django's handler, so that an open stream holds no thread (see that module); every
other request, and Pushpin's stream requests under GRIP, go to Django, through
`core.asgi_handler` (Django's ASGI handler with a request's middleware and view in one
thread hop, on a reused thread that keeps its database connection).
"""

import os

from core import gc_tuning
from core.asgi_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
gc_tuning.configure()

django_application = get_asgi_application()

from messaging.streams import StreamRoute  # noqa: E402  (needs the apps loaded above)

application = StreamRoute(django_application)
