"""Server-rendered pages of the listings app."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
