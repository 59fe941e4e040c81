"""Server-rendered pages of the listings app."""

from django.urls import path

from core.web import page_paths
from listings import host_views, stay_views, views

urlpatterns = [
    path("", views.browse_page, name="browse"),
    *page_paths("properties/<uuid:property_id>", views.property_page, "property"),
    *page_paths("hosts/<uuid:host_id>", views.host_page, "host"),
    *page_paths("favorites", views.favorites_page, "favorites"),
    *page_paths("my/properties", views.my_properties_page, "my-properties"),
    *page_paths("my/properties/new", host_views.listing_new_page, "listing-new"),
    *page_paths(
        "my/properties/<uuid:property_id>/edit", host_views.listing_edit_page, "listing-edit"
    ),
    *page_paths("trips", stay_views.trips_page, "trips"),
    *page_paths("host/stays", stay_views.host_stays_page, "host-stays"),
    *page_paths("stays/<uuid:reservation_id>/thread", stay_views.stay_thread, "stay-thread"),
]
