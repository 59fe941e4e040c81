"""URL map: the API (with every app's router), admin, media, and the pages."""

import posixpath
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.static import serve

from core.api import api
from core.server.health import readyz
from core.views import admin_login
from listings.api import reservations_router
from listings.api import router as listings_router
from messaging.api import router as messaging_router
from messaging.api import users_router as safety_router
from messaging.realtime.grip import router as streams_router

api.add_router("/properties", listings_router)
api.add_router("/reservations", reservations_router)
# The stream endpoints first: "/chat/events" must not be taken for a conversation id.
api.add_router("/chat", streams_router)
api.add_router("/chat", messaging_router)
api.add_router("/users", safety_router)


def public_media(request: HttpRequest, path: str) -> HttpResponse:
    """MEDIA_ROOT's files, except whatever lies in PRIVATE_MEDIA_ROOT (message photos)."""
    wanted = (Path(settings.MEDIA_ROOT) / posixpath.normpath(path).lstrip("/")).resolve()
    if wanted.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT).resolve()):
        raise Http404("Not found.")
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("api/", api.urls),
    # /healthz is answered before Django (core.server.edge)
    path("readyz", readyz),
    path("readyz/", readyz),
    # The admin's login counts against AUTH_RATE like the API's and the pages'.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    # Uploaded images, served by the app itself so one process serves everything;
    # never the private folder (message photos: messaging.api checks who asks).
    re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", public_media),
    # Pages for people (server-rendered, on the same API).
    path("", include("core.urls")),
    path("", include("listings.urls")),
    path("", include("messaging.urls")),
]
