"""Server-rendered pages of the core app: signing in and out, and one's settings."""

from core import views
from core.web import page_paths

urlpatterns = [
    *page_paths("login", views.login_page, "login"),
    *page_paths("signup", views.signup_page, "signup"),
    *page_paths("logout", views.logout_page, "logout"),
    *page_paths("settings", views.settings_page, "settings"),
]
