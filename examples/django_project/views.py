"""The project's one view."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

__all__ = ["ping"]


async def ping(request: HttpRequest) -> JsonResponse:
    """A plain Django view answering JSON."""
    return JsonResponse({"pong": "django"})
