"""The embedded demo that ``socketwire serve`` runs without an app: a chat and an echo.

Open http://127.0.0.1:3000/ after ``socketwire serve`` (or ``make serve``). See
[`socketwire.demo.app`][socketwire.demo.app] for the events it speaks.
"""

from __future__ import annotations

from socketwire.demo.app import create_app

__all__ = ["create_app"]
