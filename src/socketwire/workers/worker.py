"""One worker process of ``socketwire serve --workers N``.

The primary starts each worker as ``socketwire serve ... --worker <config>``. Before the
application is imported, `prepare()` links the worker to its primary and makes the
inter-worker adapter the process default (an application that sets ``adapter=`` keeps its
own: with ``--redis`` the workers join the Redis cluster). Then `serve()` binds the
shared port with ``SO_REUSEPORT``, makes the engine's session ids name this worker, takes
the connections other workers hand over, and serves until SIGTERM, SIGINT, or the
primary's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import asdict, dataclass

from socketwire.adapters.defaults import set_process_default_adapter
from socketwire.adapters.workers import HubLink, workers_adapter
from socketwire.engineio.sids import owner_prefix
from socketwire.io.engine import EngineServer
from socketwire.io.forwarding import forwarding_summary
from socketwire.io.handoff import Handoff, HandoffReceiver
from socketwire.io.http import HttpApp
from socketwire.io.native import NativeServer

__all__ = ["WorkerConfig", "prepare", "serve"]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What the primary tells a worker (as JSON on its command line).

    Attributes:
        index: This worker's index (0 to count - 1).
        count: How many workers there are.
        directory: Where the primary's and the workers' Unix sockets are.
        node: The node's tag (see `socketwire.engineio.sids`).
    """

    index: int
    count: int
    directory: str
    node: str

    @property
    def hub(self) -> str:
        """The primary's socket."""
        return os.path.join(self.directory, "hub.sock")

    def handoff_path(self, index: int) -> str:
        """Where worker ``index`` takes handed-over connections."""
        return os.path.join(self.directory, f"worker-{index}.sock")

    def to_json(self) -> str:
        """This config as JSON (the primary passes it on the command line)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        """Read a config written by `to_json()`.

        Raises:
            ValueError: Not such a config.
        """
        try:
            value = json.loads(text)
            config = cls(
                int(value["index"]), int(value["count"]), str(value["directory"]), value["node"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a worker configuration: {text!r}") from exc
        owner_prefix(config.index, config.node)  # checks both
        return config


def prepare(config: WorkerConfig) -> HubLink:
    """Link this process to its primary and make the inter-worker adapter the default of
    every server built from now on (call it before importing the application)."""
    link = HubLink(config.hub, config.index)
    set_process_default_adapter(workers_adapter(link))
    return link


async def serve(app: HttpApp, config: WorkerConfig, link: HubLink, host: str, port: int) -> int:
    """Serve ``app`` as worker ``config.index`` until told to stop; the exit status."""
    engine = getattr(app, "engine", None)
    if isinstance(engine, EngineServer):
        engine.sid_prefix = owner_prefix(config.index, config.node)
    paths = [config.handoff_path(i) for i in range(config.count)]
    handoff = Handoff(config.index, paths, node=config.node)
    server = NativeServer(app, host=host, port=port, reuse_port=True, handoff=handoff)
    receiver = HandoffReceiver(config.handoff_path(config.index), server.adopt)
    stop = asyncio.Event()
    try:
        await link.connect()
        link.on_lost.append(stop.set)
        await server.start()
        receiver.start()
        start = getattr(app, "start", None)
        if callable(start):
            await asyncio.wait_for(start(), 10.0)
    except Exception as exc:
        print(f"socketwire: worker {config.index} cannot start: {exc!r}", file=sys.stderr)
        receiver.close()
        await server.close()
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    link.ready()
    print(f"socketwire: worker {config.index} (pid {os.getpid()}) serving", flush=True)
    try:
        await stop.wait()
    finally:
        receiver.close()
        await server.close()
        handoff.close()
        link.close()
    stats = handoff.stats
    print(
        f"socketwire: worker {config.index} stopped: handed {stats.sent} connection(s) to "
        f"other workers, took {stats.received} over",
        flush=True,
    )
    summary = forwarding_summary(app)
    if summary is not None:
        print(f"socketwire: worker {config.index} {summary}", flush=True)
    return 0
