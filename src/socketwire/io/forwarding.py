"""Requests for a session another node owns, forwarded through the cluster (no stickiness).

Behind a load balancer without sticky sessions, a node receives polling requests and
WebSocket upgrades for sessions other nodes own. The session id names its owner
(`socketwire.engineio.sids.owner_of`), so the node that received the request (the
*opener*) sends it straight to the owner's channel, and the owner's Engine.IO server answers
it as if it had received it (`socketwire.engineio.forwarding` has the messages):

- **Polling GET or POST**: the request (method, target, headers, the whole body) goes to the
  owner; its answer comes back and is relayed. A long-poll that the client leaves is
  aborted on the owner too (`ForwardType.ABORT`), as a local one would be.
- **WebSocket upgrade**: the owner decides; once it accepts, the opener completes the
  handshake and relays every message both ways for the WebSocket's life (a *tunnel*,
  `socketwire.io.tunnels`).
- **A session whose owner is gone** gets the JS answer for an unknown session ("Session ID
  unknown", code 1): at once when nobody listens on the owner's channel (a publish that
  reaches no one); for a request or tunnel already under way, within one to two
  `CHECK_INTERVAL` (each node checks that the nodes it waits for still listen); and after
  ``forward_timeout`` seconds (a long-poll: ``ping_interval + ping_timeout`` more) when a
  listener never answers. Nothing waits without a bound.

The channel is the cluster adapter's (`socketwire.io.node_channel.NodeChannel`; the
Redis adapters give one: `socketwire.adapters.redis_forwarding`). Bounds: at most
`MAX_PENDING` requests and tunnels each way; a message over ``max_buffered_bytes +
max_http_buffer_size`` (plus 64 KiB) is neither sent nor accepted; a malformed message is
dropped and counted.

The one difference a client can see: a POST whose client goes away before its body arrived
is not forwarded (the owner does not close the session then, as it would for a local POST;
the heartbeat ends it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from socketwire.engineio.forwarding import (
    Forward,
    ForwardBody,
    ForwardType,
    ForwardWireError,
    HttpAnswerMessage,
    HttpRequestMessage,
    TunnelClose,
    TunnelData,
    TunnelFlow,
    UpgradeAnswer,
    decode_forward,
    encode_forward,
)
from socketwire.engineio.http import HttpErrorCode, error_answer, upgrade_error_answer
from socketwire.engineio.sids import owner_of
from socketwire.handlers import spawn
from socketwire.io.engine_socket import http_response
from socketwire.io.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
)
from socketwire.io.node_channel import (
    ForwardingEngine,
    ForwardStats,
    NodeChannel,
    RelayedRequest,
    Sent,
    describe,
)
from socketwire.io.tunnels import RemoteWebSocket, TunnelRelay

__all__ = ["CHECK_INTERVAL", "MAX_PENDING", "Forwarder", "forwarding_summary"]

logger = logging.getLogger("socketwire.forwarding")

#: Requests (and tunnels) under way at once, each way; over it a request for another
#: node's session is answered as an unknown session.
MAX_PENDING: Final = 10_000
#: Seconds between two checks that the nodes this one waits for (or tunnels to) still
#: listen; two checks that find nobody make a node gone.
CHECK_INTERVAL: Final = 1.0
#: Seconds between two attempts to listen made by requests (not by `Forwarder.start()`).
RETRY_AFTER: Final = 1.0
#: Seconds [`Forwarder.close()`][Forwarder.close] waits for its last messages to be sent.
CLOSE_DRAIN: Final = 1.0
_MESSAGE_MARGIN: Final = 64 * 1024


def forwarding_summary(app: object) -> str | None:
    """What ``app``'s forwarder did (`ForwardStats.summary()`), or None when ``app``
    (a ``socketwire.Server`` or an ``EngineServer``) does not forward."""
    engine = getattr(app, "engine", app)
    forwarder = getattr(engine, "forwarder", None)
    return forwarder.stats.summary() if isinstance(forwarder, Forwarder) else None


@dataclass(eq=False)
class _Waiting:
    """A request sent to its owner, waiting for the answer."""

    owner: str
    future: asyncio.Future[ForwardBody | None]
    #: why the future holds None: "gone", "timeout", "unsent" or "closed"
    reason: str = ""

    def settle(self, value: ForwardBody | None, reason: str = "") -> None:
        if not self.future.done():
            self.reason = reason
            self.future.set_result(value)


class Forwarder:
    """One node's forwarding: its requests for other nodes' sessions, and theirs for its own.

    Args:
        channel: The cluster's channel between nodes.
        engine: This node's Engine.IO server.
    """

    def __init__(self, channel: NodeChannel, engine: ForwardingEngine) -> None:
        self.channel = channel
        self.engine = engine
        self.stats = ForwardStats()
        options = engine.options
        #: The largest message sent or accepted.
        self.max_message = (
            options.max_buffered_bytes + options.max_http_buffer_size + _MESSAGE_MARGIN
        )
        # From a random start: a worker restarted under the same id does not reuse the
        # numbers its predecessor's requests and tunnels still hold on other nodes.
        self._ids = itertools.count(secrets.randbelow(2**40) + 1)
        self._waiting: dict[int, _Waiting] = {}
        self._relays: dict[int, TunnelRelay] = {}
        self._served: dict[tuple[str, int], RelayedRequest] = {}
        self._tunnels: dict[tuple[str, int], RemoteWebSocket] = {}
        self._suspects: dict[str, int] = {}
        self._subscribed = False
        self._attempt: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._unsent = 0
        self._drained: asyncio.Event | None = None
        self._closed = False
        self._failed_at = -float("inf")

    # -- starting ------------------------------------------------------------------------

    @property
    def me(self) -> str:
        """This node's id: what its session ids start with (the engine's ``sid_prefix``)."""
        return self.engine.sid_prefix

    async def start(self) -> None:
        """Listen on this node's channel; raises if the broker cannot be reached. Later
        calls return at once."""
        if self._subscribed or self._closed:
            return
        task = self._attempt
        if task is None or task.done():
            task = self._attempt = asyncio.ensure_future(self._subscribe())
        await asyncio.shield(task)

    async def ready(self) -> bool:
        """Whether this node listens: `start()` if needed, waiting at most
        ``forward_timeout``, and without raising."""
        if self._subscribed:
            return True
        attempt = self._attempt
        idle = attempt is None or attempt.done()
        if self._closed or (idle and time.monotonic() - self._failed_at < RETRY_AFTER):
            return False
        try:
            async with asyncio.timeout(self.engine.options.forward_timeout):
                await self.start()
        except Exception as exc:
            self._failed_at = time.monotonic()
            logger.warning("cannot listen for forwarded requests yet: %r", exc)
            return False
        return self._subscribed

    @property
    def listening(self) -> bool:
        """Whether this node listens on its channel (`start()` succeeded)."""
        return self._subscribed

    async def _subscribe(self) -> None:
        await self.channel.subscribe(self.me, self._receive)
        self._subscribed = True
        if self._watchdog is None and not self._closed:
            self._watchdog = asyncio.create_task(self._watch(), name="forwarding:watchdog")

    async def close(self) -> None:
        """Fail what waits, close the tunnels, let the last messages go, stop listening."""
        if self._closed:
            return
        self._closed = True
        for waiting in list(self._waiting.values()):
            waiting.settle(None, "closed")
        for relay in list(self._relays.values()):
            relay.owner_gone(1001)
        for request in list(self._served.values()):
            request.abort()
        if self._unsent:
            drained = self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_DRAIN):
                    await drained.wait()
        for task in (self._watchdog, self._attempt):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watchdog = self._attempt = None
        await self.channel.close()

    # -- the opener's side ---------------------------------------------------------------

    def remote_owner(self, sid: str) -> str | None:
        """The id of the node owning ``sid`` when it is another node (else None: this
        node's session, or not an id any node makes)."""
        owner = owner_of(sid)
        if owner is None or owner == self.me or self._closed:
            return None
        return owner

    async def forward_http(
        self, owner: str, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse | None:
        """Have ``owner`` answer polling ``request``; None when it cannot (answer "Session
        ID unknown" then). ``headers`` go on an answer given here (a body over the limit)."""
        if not await self.ready() or not self._room():
            return None
        body = b""
        if request.method == "POST":
            try:
                body = await request.read_body(self.engine.options.max_http_buffer_size)
            except BodyTooLargeError:
                return HttpResponse(413, headers)
            except (ClientDisconnectedError, BodyTimeoutError):
                return HttpResponse(400, headers)
        rid, waiting = self._expect(owner)
        self.stats.forwarded += 1
        self._send(owner, ForwardType.REQUEST, rid, describe(request, body), waiting)
        options = self.engine.options
        bound = options.forward_timeout
        if request.method == "GET":
            bound += options.ping_interval + options.ping_timeout
        answer = await self._answer(waiting, rid, bound, request)
        if waiting.reason == "left":
            return HttpResponse(400, headers)
        if not isinstance(answer, HttpAnswerMessage):
            return None
        return HttpResponse(answer.status, list(answer.headers), answer.body)

    async def forward_upgrade(
        self, owner: str, request: HttpRequest
    ) -> HttpResponse | WebSocketAccept | None:
        """Have ``owner`` decide on WebSocket ``request``: its refusal, or the acceptance
        whose WebSocket this node relays; None when it cannot answer."""
        if not await self.ready() or not self._room():
            return None
        rid, waiting = self._expect(owner)
        options = self.engine.options
        relay = TunnelRelay(
            self,
            owner,
            rid,
            max_buffered=options.max_buffered_bytes,
            window=max(options.max_http_buffer_size, 64 * 1024),
        )
        self._relays[rid] = relay
        self._send(owner, ForwardType.UPGRADE, rid, describe(request, b""), waiting)
        answer = await self._answer(waiting, rid, options.forward_timeout, None)
        if not isinstance(answer, UpgradeAnswer):
            self._relays.pop(rid, None)
            return None
        if not answer.accepted:
            self._relays.pop(rid, None)
            return HttpResponse(answer.status, list(answer.headers), answer.body)
        self.stats.tunnels += 1
        relay.expect_attach(options.forward_timeout)
        return WebSocketAccept(
            attach=relay.attach,
            max_message_size=options.max_http_buffer_size,
            compression=options.per_message_deflate,
            headers=list(answer.headers),
        )

    def _room(self) -> bool:
        if len(self._waiting) + len(self._relays) >= MAX_PENDING:
            self._refuse()
            return False
        return True

    def _refuse(self) -> None:
        self.stats.refused += 1
        refused = self.stats.refused
        # One warning for the first, then one per thousand: clients choose how many.
        if refused == 1 or refused % 1000 == 0:
            logger.warning(
                "%d forwarded requests under way (the bound): %d refused so far",
                MAX_PENDING,
                refused,
            )

    def _expect(self, owner: str) -> tuple[int, _Waiting]:
        rid = next(self._ids)
        waiting = _Waiting(owner, asyncio.get_running_loop().create_future())
        self._waiting[rid] = waiting
        return rid, waiting

    async def _answer(
        self, waiting: _Waiting, rid: int, bound: float, request: HttpRequest | None
    ) -> ForwardBody | None:
        """The owner's answer, or None: it is gone, it did not answer in time, or
        ``request``'s client left first (``waiting.reason`` is then ``"left"``, and the
        owner is told)."""
        watch: asyncio.Future[None] | None = None
        owned = False

        def left(_: object) -> None:
            waiting.settle(None, "left")

        try:
            if request is not None:
                watch, owned = _disconnection(request)
                watch.add_done_callback(left)
            try:
                async with asyncio.timeout(bound):
                    answer = await asyncio.shield(waiting.future)
            except TimeoutError:
                waiting.settle(None, "timeout")
                answer = None
        finally:
            self._waiting.pop(rid, None)
            if watch is not None:
                watch.remove_done_callback(left)
                if owned:
                    watch.cancel()
        if answer is not None:
            return answer
        if waiting.reason == "left":
            self._send(waiting.owner, ForwardType.ABORT, rid, None, None)
            return None
        if waiting.reason == "timeout":
            self.stats.timeouts += 1
            logger.warning(
                "node %s did not answer request %d within %.1f s", waiting.owner, rid, bound
            )
        elif waiting.reason in ("gone", "unsent"):
            self.stats.unreachable += 1
            logger.debug("node %s is gone (request %d: %s)", waiting.owner, rid, waiting.reason)
        return None

    # -- the owner's side ----------------------------------------------------------------

    async def _serve_request(self, sender: str, rid: int, request: RelayedRequest) -> None:
        try:
            if not self._mine(request):
                response = http_response(error_answer(HttpErrorCode.UNKNOWN_SID), [])
            else:
                try:
                    response = await self.engine.handle_http(request)
                except Exception:
                    logger.exception("answering a request forwarded by node %s failed", sender)
                    response = HttpResponse(500, [], b"Internal Server Error")
            answer = HttpAnswerMessage(response.status, tuple(response.headers), response.body)
        finally:
            self._served.pop((sender, rid), None)
        self.stats.served += 1
        if request.aborted:
            return
        if len(answer.body) > self.max_message - _MESSAGE_MARGIN:
            logger.error(
                "the answer to request %d of node %s is %d bytes, over the limit: 500",
                rid,
                sender,
                len(answer.body),
            )
            answer = HttpAnswerMessage(500, (), b"")
        self._send(sender, ForwardType.RESPONSE, rid, answer, None)

    async def _serve_upgrade(self, sender: str, rid: int, request: RelayedRequest) -> None:
        decision: HttpResponse | WebSocketAccept
        try:
            if not self._mine(request):
                decision = http_response(upgrade_error_answer(HttpErrorCode.UNKNOWN_SID), [])
            else:
                try:
                    decision = await self.engine.handle_websocket(request)
                except Exception:
                    logger.exception("an upgrade forwarded by node %s failed", sender)
                    decision = HttpResponse(500, [], b"Internal Server Error")
        finally:
            self._served.pop((sender, rid), None)
        if request.aborted:
            # The opener gave up (or is gone): accept nothing.
            return
        if isinstance(decision, HttpResponse):
            answer = UpgradeAnswer(False, decision.status, tuple(decision.headers), decision.body)
            self._send(sender, ForwardType.UPGRADE_RESPONSE, rid, answer, None)
            return
        remote = RemoteWebSocket(self, sender, rid, max_held=self.engine.options.max_buffered_bytes)
        self._tunnels[(sender, rid)] = remote
        self.stats.served_tunnels += 1
        accepted = UpgradeAnswer(True, 101, tuple(decision.headers))
        self._send(sender, ForwardType.UPGRADE_RESPONSE, rid, accepted, None)
        try:
            handler = decision.attach(remote)
        except Exception:
            logger.exception("attaching a WebSocket forwarded by node %s failed", sender)
            remote.close(1011)
            return
        remote.bind(handler)

    def _answer_unknown(self, sender: str, rid: int, *, upgrade: bool) -> None:
        """Answer a request from ``sender`` at once as for an unknown session."""
        refusal = upgrade_error_answer if upgrade else error_answer
        response = http_response(refusal(HttpErrorCode.UNKNOWN_SID), [])
        headers = tuple(response.headers)
        if upgrade:
            answer = UpgradeAnswer(False, response.status, headers, response.body)
            self._send(sender, ForwardType.UPGRADE_RESPONSE, rid, answer, None)
        else:
            body = HttpAnswerMessage(response.status, headers, response.body)
            self._send(sender, ForwardType.RESPONSE, rid, body, None)

    def _mine(self, request: RelayedRequest) -> bool:
        sid = request.query.get("sid")
        return sid is not None and owner_of(sid) == self.me and self.engine.owns(request.path)

    # -- the channel ---------------------------------------------------------------------

    def send(
        self,
        peer: str,
        kind: ForwardType,
        rid: int,
        body: ForwardBody | None,
        done: Sent | None = None,
    ) -> bool:
        """Publish one message to ``peer``; False when it is too large to (``done`` then
        gets None). Used by the tunnels too."""
        message = (
            Forward(kind, self.me, peer, rid)
            if body is None
            else Forward(kind, self.me, peer, rid, body)
        )
        data = encode_forward(message)
        if len(data) > self.max_message:
            logger.error(
                "not sending a %s of %d bytes to node %s: over the limit",
                kind.name,
                len(data),
                peer,
            )
            if done is not None:
                done(None)
            return False
        self._unsent += 1

        def sent(receivers: int | None) -> None:
            self._unsent -= 1
            if self._unsent == 0 and self._drained is not None:
                self._drained.set()
            if done is not None:
                done(receivers)

        self.channel.publish(peer, data, sent)
        return True

    def _send(
        self,
        peer: str,
        kind: ForwardType,
        rid: int,
        body: ForwardBody | None,
        waiting: _Waiting | None,
    ) -> None:
        if waiting is None:
            self.send(peer, kind, rid, body)
            return

        def done(receivers: int | None) -> None:
            if receivers is None:
                waiting.settle(None, "unsent")
            elif receivers == 0:
                waiting.settle(None, "gone")

        self.send(peer, kind, rid, body, done)

    def forget_relay(self, rid: int) -> None:
        """A tunnel opened here ended."""
        self._relays.pop(rid, None)

    def forget_tunnel(self, peer: str, rid: int) -> None:
        """A tunnel served here ended."""
        self._tunnels.pop((peer, rid), None)

    def _receive(self, data: bytes) -> None:
        try:
            message = decode_forward(data, max_size=self.max_message)
        except ForwardWireError as exc:
            self._malformed(str(exc))
            return
        if message.recipient != self.me:
            self._malformed(f"a message for node {message.recipient}")
            return
        sender, rid, body, kind = message.sender, message.request_id, message.body, message.type
        if kind is ForwardType.REQUEST or kind is ForwardType.UPGRADE:
            assert isinstance(body, HttpRequestMessage)
            if self._closed:
                return
            if len(self._served) + len(self._tunnels) >= MAX_PENDING:
                self._refuse()
                self._answer_unknown(sender, rid, upgrade=kind is ForwardType.UPGRADE)
                return
            request = RelayedRequest(body, asyncio.get_running_loop())
            self._served[(sender, rid)] = request
            serve = self._serve_request if kind is ForwardType.REQUEST else self._serve_upgrade
            spawn(serve(sender, rid, request))
        elif kind is ForwardType.RESPONSE or kind is ForwardType.UPGRADE_RESPONSE:
            waiting = self._waiting.get(rid)
            if waiting is not None and waiting.owner == sender:
                waiting.settle(body)
            elif isinstance(body, UpgradeAnswer) and body.accepted:
                # Too late: free the tunnel the owner opened for nobody.
                self.send(sender, ForwardType.CLIENT_CLOSE, rid, TunnelClose(1006))
        elif kind is ForwardType.ABORT:
            served = self._served.get((sender, rid))
            if served is not None:
                served.abort()
        elif kind is ForwardType.CLIENT_MESSAGE or kind is ForwardType.CLIENT_CLOSE:
            remote = self._tunnels.get((sender, rid))
            if remote is None:
                if kind is ForwardType.CLIENT_MESSAGE:
                    # No such tunnel (its session ended, or a restarted worker took over this
                    # node id): the opener should close the client's WebSocket.
                    self.send(sender, ForwardType.SERVER_CLOSE, rid, TunnelClose(1011))
                return
            if isinstance(body, TunnelData):
                remote.client_message(body.data)
            elif isinstance(body, TunnelClose):
                remote.client_closed(body.code)
        else:
            relay = self._relays.get(rid)
            if relay is None or relay.owner != sender:
                return
            if isinstance(body, TunnelData):
                relay.server_message(body.data)
            elif isinstance(body, TunnelClose):
                relay.server_closed(body.code, body.reason)
            elif isinstance(body, TunnelFlow):
                relay.flow(body.paused)

    def _malformed(self, why: str) -> None:
        self.stats.malformed += 1
        # DEBUG: whoever can publish on the channel controls how many there are.
        logger.debug("dropped a forwarding message: %s", why)

    # -- liveness ------------------------------------------------------------------------

    def _peers(self) -> set[str]:
        peers = {waiting.owner for waiting in self._waiting.values()}
        peers.update(relay.owner for relay in self._relays.values())
        peers.update(sender for sender, _ in self._served)
        peers.update(sender for sender, _ in self._tunnels)
        return peers

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            for peer in self._peers():
                count = await self.channel.listeners(peer)
                if count is None:
                    continue
                if count > 0:
                    self._suspects.pop(peer, None)
                    continue
                misses = self._suspects.get(peer, 0) + 1
                if misses < 2:
                    self._suspects[peer] = misses
                    continue
                self._suspects.pop(peer, None)
                self._gone(peer)
            for peer in list(self._suspects):
                if peer not in self._peers():
                    del self._suspects[peer]

    def _gone(self, peer: str) -> None:
        logger.info("node %s is gone: ending its forwarded requests and WebSockets", peer)
        for waiting in list(self._waiting.values()):
            if waiting.owner == peer:
                waiting.settle(None, "gone")
        for relay in list(self._relays.values()):
            if relay.owner == peer:
                relay.owner_gone(1011)
        for (sender, _), request in list(self._served.items()):
            if sender == peer:
                request.abort()
        for (sender, _), remote in list(self._tunnels.items()):
            if sender == peer:
                remote.opener_gone()


def _disconnection(request: HttpRequest) -> tuple[asyncio.Future[None], bool]:
    """A future done when ``request``'s client leaves, and whether it is ours: the
    plumbing's own (the optional ``WatchableRequest`` capability; never cancel it), or a
    task watching ``wait_disconnected()`` (ours: cancel it when done)."""
    watch: Callable[[], asyncio.Future[None]] | None = getattr(request, "disconnected_future", None)
    if watch is not None:
        return watch(), False
    waiter: Awaitable[None] = request.wait_disconnected()
    return asyncio.ensure_future(waiter), True
