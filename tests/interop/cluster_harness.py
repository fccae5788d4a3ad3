"""A Node socket.io server in a Redis or PostgreSQL cluster, and its Python peers.

The Node side is js/cluster_capture.js (driven through the ``node`` fixture of
tests/conftest.py). test_cluster_wire_vectors.py talks to it through redis-py on the same
redis-server (:class:`Cluster`), with a :class:`Capture` of everything published on the
channels it listens to. The mixed-cluster tests (test_cluster_mixed.py,
test_cluster_postgres_mixed.py) pair it with a socketwire server (:func:`start_mixed`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from conftest import WAIT, NodeDriver, NodeFactory
from integration.cluster_nodes import PyNode, adapter_factory, eventually, start_node
from socketwire.adapters.base import AdapterFactory

__all__ = [
    "Capture",
    "Cluster",
    "Mixed",
    "b64",
    "emitter_moves_sockets",
    "start_mixed",
    "wait_for_redis",
]

T = TypeVar("T")


class Capture:
    """Every message a redis-py pub/sub connection receives, in order.

    A test takes the first not-yet-taken message of a channel that decodes to something it
    wants; a message the codec cannot decode fails the test.
    """

    def __init__(self, pubsub: PubSub, name: str) -> None:
        self.pubsub = pubsub
        self.messages: list[tuple[str, bytes]] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(), name=f"capture:{name}")

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message["type"] in ("message", "pmessage", "smessage"):
                self.messages.append((message["channel"].decode(), message["data"]))
                self._changed.set()

    async def take(
        self,
        channel: str,
        decode: Callable[[bytes], T],
        match: Callable[[T], bool] = lambda _: True,
        what: str = "a message",
    ) -> tuple[T, bytes]:
        """Wait (up to WAIT) for, and take, the first message on ``channel`` whose decoded
        form satisfies ``match``; return it decoded, and its raw bytes."""
        deadline = time.monotonic() + WAIT
        while True:
            for index, (name, raw) in enumerate(self.messages):
                if index in self._taken or name != channel:
                    continue
                decoded = decode(raw)
                if match(decoded):
                    self._taken.add(index)
                    return decoded, raw
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n  ".join(f"{c}: {r[:200]!r}" for c, r in self.messages)
                pytest.fail(f"timed out waiting for {what} on {channel}; seen:\n  {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        """Stop reading and close the connection."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.pubsub.aclose()


async def wait_for_redis(check: Callable[[], Any], what: str) -> None:
    """Poll the awaitable ``check()`` until it returns true (bounded by WAIT)."""
    deadline = time.monotonic() + WAIT
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Cluster:
    """One Node server (``node``) and the Python peer's Redis connections."""

    node: NodeDriver
    redis: Redis
    capture: Capture
    uids: dict[str, str]
    port: int
    extra: list[Capture | PubSub] = field(default_factory=list)
    _ref: int = 0
    client_ids: dict[str, str] = field(default_factory=dict)

    async def client(self, name: str, rooms: list[str], **fields: Any) -> str:
        """Connect a socket.io-client of the Node process; return its socket id."""
        await self.node.command("client", name=name, rooms=rooms, **fields)
        event = await self.node.expect("client_connect", name=name)
        self.client_ids[name] = event["id"]
        return str(event["id"])

    def ref(self) -> int:
        """A fresh reference for a command whose result comes later."""
        self._ref += 1
        return self._ref

    async def result(self, ref: int) -> Any:
        """The value of the ``result`` event for ``ref`` (fails on an error result)."""
        event = await self.node.expect("result", ref=ref)
        assert "error" not in event, event
        return event["value"]

    async def close(self) -> None:
        """Close the Python side's connections."""
        await self.capture.close()
        for item in self.extra:
            await item.close() if isinstance(item, Capture) else await item.aclose()
        await self.redis.aclose()


@dataclass
class Mixed:
    """The two servers of a mixed cluster."""

    kind: str
    py: PyNode
    node: NodeDriver
    refs: int = 0

    async def node_client(self, name: str, rooms: list[str], **fields: Any) -> str:
        """Connect a client of the Node process to the Node server; its socket id."""
        await self.node.command("client", name=name, rooms=rooms, **fields)
        return str((await self.node.expect("client_connect", name=name))["id"])

    async def node_result(self, cmd: str, **fields: Any) -> Any:
        """Run a Node command whose value comes later; the value (fails on an error)."""
        self.refs += 1
        await self.node.command(cmd, ref=self.refs, **fields)
        event = await self.node.expect("result", ref=self.refs)
        assert "error" not in event, event
        return event["value"]

    async def node_got(self, name: str, ev: str) -> list[Any]:
        """Wait for the Node client ``name`` to receive ``ev``; its arguments."""
        return list((await self.node.expect("client_ev", name=name, ev=ev))["args"])


@contextlib.asynccontextmanager
async def start_mixed(
    kind: str,
    url: str,
    node: NodeFactory,
    py_factory: AdapterFactory | None = None,
    node_options: dict[str, Any] | None = None,
) -> AsyncIterator[Mixed]:
    """A Node server and a socketwire server with adapter ``kind``, counting each other.

    ``py_factory`` replaces socketwire's default adapter of ``kind``; ``node_options`` are
    passed to Node's ``createAdapter``.
    """
    broker = "postgres" if kind == "postgres" else "redis"
    args = {broker: url, "adapter": kind, "options": node_options or {}}
    driver = await node("cluster_capture.js", args)
    await driver.expect("ready")
    py = await start_node(py_factory or adapter_factory(kind, url))
    cluster = Mixed(kind, py, driver)
    try:

        async def both_counted() -> bool:
            node_count = await cluster.node_result("server_count", nsp="/")
            return node_count == 2 and await py.adapter().server_count() == 2

        await eventually(both_counted, "each server to count the other")
        yield cluster
    finally:
        await py.close()


def b64(data: bytes) -> dict[str, str]:
    """Binary in the Node driver's JSON."""
    return {"$bin": base64.b64encode(data).decode()}


async def emitter_moves_sockets(emitter: Any, py: PyNode, room: str, count: int) -> None:
    """``emitter`` (any socketwire emitter) makes the ``count`` sockets of ``room``, on every
    server, join room ``"er"``, then leave it; ``py`` sees both through fetch_sockets."""
    await emitter.in_(room).sockets_join("er")

    async def all_in_er() -> bool:
        return len(await py.sio.in_("er").fetch_sockets()) == count

    await eventually(all_in_er, "the emitter's sockets_join")
    await emitter.in_("er").sockets_leave("er")

    async def none_in_er() -> bool:
        return not await py.sio.in_("er").fetch_sockets()

    await eventually(none_in_er, "the emitter's sockets_leave")
