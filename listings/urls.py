"""Server-rendered pages of the listings app."""

from django.urls import path

from core.web import page_paths
from listings import views

urlpatterns = [
    path("", views.browse_page, name="browse"),
    *page_paths("properties/<uuid:property_id>", views.property_page, "property"),
    *page_paths("hosts/<uuid:host_id>", views.host_page, "host"),
    *page_paths("favorites", views.favorites_page, "favorites"),
    *page_paths("my/properties", views.my_properties_page, "my-properties"),
]
