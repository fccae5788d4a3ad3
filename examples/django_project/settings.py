"""Django settings: just what one JSON view under ASGI needs (no database, no apps)."""

from __future__ import annotations

__all__ = [
    "ALLOWED_HOSTS",
    "DATABASES",
    "DEBUG",
    "INSTALLED_APPS",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "USE_TZ",
]

# An example, not a deployment: a real project reads its secret from the environment.
SECRET_KEY = "socketwire-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
