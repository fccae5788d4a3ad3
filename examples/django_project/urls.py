"""URL routes of the project."""

from __future__ import annotations

from django.urls import path

from .views import ping

__all__ = ["urlpatterns"]

urlpatterns = [path("ping", ping)]
