"""Listeners of an Engine.IO connection's events (engine.io-client's emitter, and the
server's engine sockets).

engine.io-client calls its listeners synchronously, as the event happens; so does
[`EngineEmitter`][EngineEmitter]: a plain listener runs inline on the event loop (it must not
block),
a coroutine function's coroutine runs as a task. A listener that raises is logged and does
not stop the others, nor the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ENGINE_EVENTS", "EngineEmitter"]

logger = logging.getLogger("socketwire.client")

#: The events of [`EngineClient`][socketwire.io.client_transports.EngineClient], with
#: engine.io-client's names and arguments.
ENGINE_EVENTS = frozenset(
    {
        "open",  # () the handshake arrived
        "handshake",  # (handshake: Handshake)
        "packet",  # (packet: engineio Packet) every packet received
        "packetCreate",  # (packet) every packet queued for sending (message, pong)
        "drain",  # () everything queued was written
        "message",  # (data: str | bytes)
        "ping",  # ()
        "upgrading",  # (transport name) the probe answered, polling pauses
        "upgrade",  # (transport name) the session moved to the WebSocket
        "upgradeError",  # (description) the probe failed; polling goes on
        "error",  # (failure: TransportFailure) before "close" with "transport error"
        "close",  # (reason, description)
    }
)

#: Events that need the session's ``verbose_events``.
VERBOSE_EVENTS = frozenset({"packet", "packetCreate", "drain"})

_tasks: set[asyncio.Task[Any]] = set()


class EngineEmitter:
    """``on``/``once``/``off`` and synchronous delivery of engine events.

    Args:
        events: The events listeners may be added to (the client's by default).
        aliases: Other names of some of them (JS spellings), mapped to theirs.
        log: Where a listener's failure is logged.
    """

    def __init__(
        self,
        events: frozenset[str] = ENGINE_EVENTS,
        aliases: Mapping[str, str] | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self._listeners: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        self._events = events
        self._aliases = aliases or {}
        self._log = log

    def on(self, event: str, listener: Callable[..., Any]) -> None:
        """Call ``listener`` on every ``event`` (see [`ENGINE_EVENTS`][ENGINE_EVENTS]).

        Raises:
            ValueError: not an engine event.
        """
        self._add(event, listener, once=False)

    def once(self, event: str, listener: Callable[..., Any]) -> None:
        """Call ``listener`` on the next ``event`` only."""
        self._add(event, listener, once=True)

    def off(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` from ``event`` (every listener of ``event`` when None)."""
        event = self._aliases.get(event, event)
        if listener is None:
            self._listeners.pop(event, None)
            return
        entries = self._listeners.get(event, [])
        for i, (fn, _) in enumerate(entries):
            if fn == listener:
                del entries[i]
                return

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The listeners of ``event``, in order."""
        event = self._aliases.get(event, event)
        return [fn for fn, _ in self._listeners.get(event, ())]

    def wants_verbose(self) -> bool:
        """Someone listens to ``packet``, ``packetCreate`` or ``drain``."""
        return any(self._listeners.get(event) for event in VERBOSE_EVENTS)

    def emit(self, event: str, *args: Any) -> None:
        """Call the listeners of ``event`` now, in order."""
        entries = self._listeners.get(event)
        if not entries:
            return
        self._listeners[event] = [entry for entry in entries if not entry[1]]
        for fn, _ in list(entries):
            try:
                result = fn(*args)
            except Exception:
                self._log.exception("engine %r listener %r failed", event, fn)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                _tasks.add(task)
                task.add_done_callback(_done)

    def has(self, event: str) -> bool:
        """Some listener waits for ``event``."""
        return bool(self._listeners.get(event))

    def _add(self, event: str, listener: Callable[..., Any], *, once: bool) -> None:
        event = self._aliases.get(event, event)
        if event not in self._events:
            raise ValueError(f"unknown engine event {event!r}: one of {sorted(self._events)}")
        self._listeners.setdefault(event, []).append((listener, once))


def _done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("engine listener failed", exc_info=task.exception())
