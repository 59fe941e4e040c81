"""Server-rendered pages of the messaging app: the inbox and one conversation."""

from core.web import page_paths
from messaging import views

urlpatterns = [
    *page_paths("inbox", views.inbox_page, "inbox"),
    *page_paths("inbox/<uuid:conversation_id>", views.conversation_page, "conversation"),
]
