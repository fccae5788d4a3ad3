"""The asyncio side of a [`SocketCore`][socketwire.client.state.SocketCore]'s ack timers.

The core only asks for timers ([`SocketCore.timers()`][SocketCore.timers]); this runs them with
``loop.call_later``. Shared by the client socket and the test client's socket, which drive
the same core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from socketwire.client.state import CancelAckTimer, SocketCore, StartAckTimer, TimerAction

__all__ = ["AckTimers"]


class AckTimers:
    """Starts and cancels the ack timers a [`SocketCore`][SocketCore] asks for.

    Args:
        core: the core whose [`SocketCore.ack_timed_out()`][SocketCore.ack_timed_out] a fired timer
            calls.
        flush: called right after, to handle what the timeout produced (the caller's
            ``_flush``).
    """

    def __init__(self, core: SocketCore, flush: Callable[[], None]) -> None:
        self._core = core
        self._flush = flush
        self._handles: dict[int, asyncio.TimerHandle] = {}

    def apply(self, timers: Iterable[TimerAction]) -> None:
        """Start or cancel ``timers`` (from [`SocketCore.timers()`][SocketCore.timers]) on the
        running loop."""
        for timer in timers:
            if isinstance(timer, StartAckTimer):
                self._handles[timer.ack_id] = asyncio.get_running_loop().call_later(
                    timer.seconds, self._fired, timer.ack_id
                )
            elif isinstance(timer, CancelAckTimer):
                handle = self._handles.pop(timer.ack_id, None)
                if handle is not None:
                    handle.cancel()

    def cancel_all(self) -> None:
        """Cancel every pending timer (the acks stay unsettled in the core)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _fired(self, ack_id: int) -> None:
        self._handles.pop(ack_id, None)
        self._core.ack_timed_out(ack_id)
        self._flush()
