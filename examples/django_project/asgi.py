"""The ASGI entry point: Django's application, with socketwire in front of it.

Run it from the ``examples`` directory::

    uvicorn django_project.asgi:app --port 8000 --ws-per-message-deflate false

``/socket.io/`` goes to socketwire; every other path (``/ping``) to Django. Django does not
speak the ASGI lifespan protocol: socketwire answers it, and closes its sessions when the
server stops.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

import socketwire

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

# Django must be set up (get_asgi_application does it) before anything imports models.
django_app = get_asgi_application()

from .sio import sio  # noqa: E402

__all__ = ["app", "django_app"]

# uvicorn runs with --ws-per-message-deflate false (see the docstring)
app = socketwire.ASGIApp(sio, other_app=django_app, ws_compression=False)
