"""Server-rendered pages of the core app."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
