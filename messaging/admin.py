"""Admin for support staff: conversations with both sides' read state, messages, emails."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from messaging.models import Conversation, ConversationMessage, Participant
from messaging.notifications.models import UnreadEmail


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("last_read_at",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "user_low", "user_high", "created_at", "modified_at")
    list_select_related = ("user_low", "user_high")
    search_fields = ("id", "user_low__email", "user_high__email")
    raw_id_fields = ("user_low", "user_high")
    # Times are set by message_send; editing them would break message ordering.
    readonly_fields = ("created_at", "modified_at")
    date_hierarchy = "modified_at"
    inlines = (ParticipantInline,)


@admin.register(ConversationMessage)
class ConversationMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "created_by", "sent_to", "created_at", "short_body")
    list_select_related = ("conversation", "created_by", "sent_to")
    search_fields = ("body", "created_by__email", "sent_to__email")
    raw_id_fields = ("conversation", "created_by", "sent_to")
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, obj: ConversationMessage) -> str:
        return obj.body[:80]


@admin.register(UnreadEmail)
class UnreadEmailAdmin(admin.ModelAdmin):
    """What was emailed to whom about which conversation: read-only, for support.

    Editing a row could send an email twice (or never), so nothing here is writable.
    """

    list_display = ("recipient", "conversation", "state", "through", "sent_at", "attempts")
    list_select_related = ("recipient", "conversation")
    list_filter = ("state",)
    search_fields = ("recipient__email", "conversation__id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
