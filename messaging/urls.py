"""Server-rendered pages of the messaging app: the inbox, one conversation, unsubscribe."""

from core.web import page_paths
from messaging import views
from messaging.notifications.views import unsubscribe_page

urlpatterns = [
    *page_paths("inbox", views.inbox_page, "inbox"),
    *page_paths("inbox/<uuid:conversation_id>", views.conversation_page, "conversation"),
    *page_paths("unsubscribe/<str:token>", unsubscribe_page, "unsubscribe"),
]
