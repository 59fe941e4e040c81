"""Admin for support staff: conversations with both sides' read state, messages, emails,
and the reports of messages, each shown in its context, with the actions staff take."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.services import user_deactivate
from messaging import services
from messaging.models import Block, Conversation, ConversationMessage, Participant, Report
from messaging.notifications.models import UnreadEmail

# Messages shown before and after a reported one.
CONTEXT_MESSAGES = 5


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
    readonly_fields = ("created_at", "masked", "hidden_at")
    list_filter = ("masked", ("hidden_at", admin.EmptyFieldListFilter))
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


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Reports, newest first; the page of one shows the message among its neighbours.

    Actions (on the list, for the selected reports): hide the reported messages (their
    body then answers as `HIDDEN_BODY` everywhere, photos gone), deactivate the
    senders, or dismiss the reports.
    """

    list_display = (
        "created_at",
        "reason",
        "status",
        "reporter",
        "reported_user",
        "short_body",
        "is_hidden",
    )
    list_filter = ("status", "reason")
    list_select_related = ("reporter", "message__created_by")
    search_fields = ("message__body", "reporter__email", "message__created_by__email", "note")
    date_hierarchy = "created_at"
    readonly_fields = (
        "message",
        "reporter",
        "reported_user",
        "reason",
        "note",
        "created_at",
        "handled_by",
        "handled_at",
        "in_context",
    )
    fields = (*readonly_fields[:6], "status", *readonly_fields[6:])
    actions = ("hide_messages", "deactivate_senders", "dismiss")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # reports come from participants, through the API

    @admin.display(description="sender")
    def reported_user(self, obj: Report) -> object:
        return obj.message.created_by

    @admin.display(description="message")
    def short_body(self, obj: Report) -> str:
        return obj.message.body[:80]

    @admin.display(description="hidden", boolean=True)
    def is_hidden(self, obj: Report) -> bool:
        return obj.message.hidden_at is not None

    @admin.display(description="the message in its conversation")
    def in_context(self, obj: Report) -> SafeString:
        """Up to CONTEXT_MESSAGES messages before and after the reported one (marked)."""
        reported = obj.message
        around = ConversationMessage.objects.filter(
            conversation_id=reported.conversation_id
        ).select_related("created_by")
        before = list(
            around.filter(created_at__lt=reported.created_at).order_by("-created_at", "-id")[
                :CONTEXT_MESSAGES
            ]
        )[::-1]
        after = list(
            around.filter(created_at__gt=reported.created_at).order_by("created_at", "id")[
                :CONTEXT_MESSAGES
            ]
        )
        rows = format_html_join(
            "",
            # No inline styles (the Content-Security-Policy refuses them): the reported
            # message is marked with <mark> and a word.
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    m.created_by,
                    format_html("<mark>{}</mark>", m.body) if m.pk == reported.pk else m.body,
                    ("REPORTED " if m.pk == reported.pk else "")
                    + ("hidden" if m.hidden_at else ("masked" if m.masked else "")),
                )
                for m in [*before, reported, *after]
            ),
        )
        return format_html(
            "<table><thead><tr><th>sent</th><th>by</th><th>message</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        return super().get_queryset(request).select_related("message__created_by", "reporter")

    @admin.action(description="Hide the reported messages (for everyone)")
    def hide_messages(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        hidden = set()
        for report in queryset.select_related("message"):
            if report.message_id not in hidden:
                services.message_hide(message=report.message, staff=request.user)
                hidden.add(report.message_id)
        self.message_user(request, f"{len(hidden)} message(s) hidden.", messages.SUCCESS)

    @admin.action(description="Deactivate the senders of the reported messages")
    def deactivate_senders(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        senders = {report.message.created_by for report in queryset}
        for sender in senders:
            user_deactivate(user=sender)
        services.reports_resolve(reports=queryset, staff=request.user)
        self.message_user(request, f"{len(senders)} user(s) deactivated.", messages.SUCCESS)

    @admin.action(description="Dismiss (nothing to do)")
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        services.reports_resolve(
            reports=queryset, staff=request.user, status=Report.Status.DISMISSED
        )


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    list_select_related = ("blocker", "blocked")
    search_fields = ("blocker__email", "blocked__email")
    raw_id_fields = ("blocker", "blocked")
