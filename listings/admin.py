"""Admin for listings, favorites and reservations; lists stay one query per page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from listings.models import Favorite, Property, Reservation


class FavoriteInline(admin.TabularInline):
    model = Favorite
    extra = 0
    fields = ["user", "created_at"]
    readonly_fields = ["user", "created_at"]
    can_delete = True
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Property | None = None) -> bool:
        return False


class ReservationInline(admin.TabularInline):
    model = Reservation
    extra = 0
    fields = [
        "guest",
        "status",
        "start_date",
        "end_date",
        "guests",
        "number_of_nights",
        "total_price",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Property | None = None) -> bool:
        return False


@admin.register(Property)
class PropertyAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "landlord",
        "country",
        "category",
        "price_per_night",
        "guests",
        "favorites_count",
        "created_at",
    ]
    list_filter = ["country_code", "category"]
    search_fields = ["title", "country", "landlord__email", "landlord__name"]
    list_select_related = ["landlord"]
    autocomplete_fields = ["landlord"]
    date_hierarchy = "created_at"
    inlines = [FavoriteInline, ReservationInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Property]:
        return super().get_queryset(request).annotate(_favorites_count=Count("favorites"))

    @admin.display(description="favorites", ordering="_favorites_count")
    def favorites_count(self, obj: Property) -> int:
        return obj._favorites_count


@admin.register(Favorite)
class FavoriteAdmin(admin.ModelAdmin):
    list_display = ["user", "property", "created_at"]
    list_select_related = ["user", "property"]
    search_fields = ["user__email", "property__title"]
    autocomplete_fields = ["user", "property"]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """Nights and price are the server's to compute; the admin only shows them."""

    list_display = [
        "property",
        "guest",
        "start_date",
        "end_date",
        "guests",
        "number_of_nights",
        "total_price",
        "status",
    ]
    list_select_related = ["property", "guest"]
    list_filter = ["status", "start_date"]
    search_fields = ["property__title", "guest__email"]
    autocomplete_fields = ["property", "guest"]
    readonly_fields = ["number_of_nights", "total_price", "created_at", "expires_at"]
    date_hierarchy = "start_date"

    def save_model(self, request: HttpRequest, obj: Reservation, form: Any, change: bool) -> None:
        obj.price()
        super().save_model(request, obj, form, change)
