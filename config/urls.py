"""URL map: the API (with every app's router), admin, media, and the pages."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from core.api import api
from core.server.health import readyz
from core.views import admin_login
from listings.api import reservations_router
from listings.api import router as listings_router
from messaging.api import router as messaging_router
from messaging.realtime.grip import router as streams_router

api.add_router("/properties", listings_router)
api.add_router("/reservations", reservations_router)
# The stream endpoints first: "/chat/events" must not be taken for a conversation id.
api.add_router("/chat", streams_router)
api.add_router("/chat", messaging_router)

urlpatterns = [
    path("api/", api.urls),
    # /healthz is answered before Django (core.server.edge)
    path("readyz", readyz),
    path("readyz/", readyz),
    # The admin's login counts against AUTH_RATE like the API's and the pages'.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    # Uploaded images, served by the app itself so one process serves everything.
    re_path(
        rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$",
        serve,
        {"document_root": settings.MEDIA_ROOT},
    ),
    # Pages for people (server-rendered, on the same API).
    path("", include("core.urls")),
    path("", include("listings.urls")),
    path("", include("messaging.urls")),
]
