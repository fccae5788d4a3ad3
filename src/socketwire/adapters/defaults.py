"""The adapter a ``socketwire.Server`` built without ``adapter=`` gets in this process.

Outside a worker process it is the in-memory adapter (with recovery when the server asks
for it). A worker of ``socketwire serve --workers N`` sets the inter-worker adapter here
before it imports the application, so that an app written for one process joins its
siblings' cluster unchanged. An ``adapter=`` given to the server always wins (with
``--redis`` the workers join the Redis cluster instead).
"""

from __future__ import annotations

from socketwire.adapters.base import AdapterFactory

__all__ = ["process_default_adapter", "set_process_default_adapter"]

_default: AdapterFactory | None = None


def set_process_default_adapter(factory: AdapterFactory | None) -> None:
    """Make ``factory`` the adapter of every server built afterwards without ``adapter=``
    (None: the in-memory adapter again)."""
    global _default
    _default = factory


def process_default_adapter() -> AdapterFactory | None:
    """The factory set by `set_process_default_adapter()`, or None."""
    return _default
