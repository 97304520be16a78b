"""The member WebSocket gateway: picows, pumping frames through sessions.

One :class:`Gateway` per process, serving its port with picows (a Cython WebSocket library
over aiofastnet's transports): each connection's :class:`Connection` is the picows listener
that receives its frames. For each connection it builds a sans-I/O
:class:`~engine.core.session.Session`, feeds it every frame with the server time and carries out
the actions it returns: send a message, close with a code, verify a join token (through
:class:`~engine.gateway.members.MemberHandlers`, which also loads the contest and the member's
state from Redis), or run a request against the scoring core. The relay
(:mod:`engine.gateway.relay`) writes contest broadcasts to the contest's joined sockets.

URL: ``ws://HOST:PORT/ws/<contest id>`` with the join token either in the query
(``?token=...``) or in a first ``join`` message. Anything else gets HTTP 404.

Frames are handled as they arrive, in the listener's callback: a frame whose actions need no
awaiting (a ``ping`` message, a refused frame, a close) is answered there and then; one that
needs Redis (a join, an answer, any request) starts a Task, which then also handles the
frames that arrived meanwhile, in order (at most :data:`MAX_PENDING` wait; past it the socket
stops being read, as websockets' ``max_queue`` did). So a member's frames are handled one
after the other as before, with no coroutine per connection while it is idle (a Task per
answer costs about 1 µs more than waking a long-lived coroutine: measured, see
:data:`MAX_PENDING`).

Limits (docs/protocol.md): a message over ``max_frame_bytes`` closes the connection with
1009 (picows' ``max_frame_size`` for one frame; the gateway for a fragmented message, which it
reassembles); a text message that is not valid UTF-8 closes it with 1007 (binary messages
go to the session as bytes, which refuses bad ones with an ``error``); past
``max_connections`` a new connection is closed with 4001; past ``max_unjoined_per_address``
connections not joined yet from one client address
(:func:`~engine.core.limits.client_address`), a new one from it gets HTTP 429 at the
handshake (close 4006 is kept for one that would pass the handshake over the cap, which
picows' synchronous handshake no longer allows); the HTTP handshake must arrive within
:data:`HANDSHAKE_TIMEOUT`; a close handshake the server starts waits :data:`CLOSE_TIMEOUT`
for the member's close frame. WebSocket pings from members are answered by picows
(``enable_auto_pong``). The session enforces the message rate, bad frames, the join and
idle deadlines, checked by one timer for all sessions (no timer per connection), which
also sends a WebSocket ping to a socket that neither sent nor was sent anything for
``ping_interval`` seconds (a broadcast to its contest counts), at most
:func:`pings_per_sweep` pings a tick (a dead peer is closed by the idle deadline, or
dropped past ``max_write_buffer``). No ``permessage-deflate``: it costs memory per
connection and CPU per member on broadcasts.

State lives in Redis: a gateway holds only its sockets, so a member who reconnects to any
process gets their state back from Redis (:meth:`MemberHandlers.join`). If the relay loses
Redis for a while, live-show members get their state again once it is back (a broadcast
may have been missed); members of a cancelled or deleted contest are closed with 4504.
Every few seconds (:data:`PRESENCE_SECONDS`) the gateway also reads the state of each
contest it has members of, so the members of a contest that vanished from Redis (it lost
its data, or a cancel broadcast was missed) are closed with 4504 too. While Redis does
not answer, nobody is closed: requests get ``unavailable`` error frames until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import resource
import socket
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiofastnet
import msgspec
from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]
from redis.exceptions import RedisClusterException, RedisError

from engine.contests.presence import publish_counts, withdraw
from engine.core import messages as m
from engine.core.errors import (
    AttemptTooSoon,
    BackendError,
    CloseCode,
    ContestNotFound,
    ErrorCode,
    PeerError,
)
from engine.core.limits import AddressCounts, Limits, client_address, connections_within
from engine.core.session import Authenticate, Close, Dispatch, Send, Session, State
from engine.core.settings import Settings, trusted_networks
from engine.gateway.frames import is_open, write_text
from engine.gateway.gcfreeze import Departed, FreezePolicy, apply
from engine.gateway.members import Joined, MemberHandlers
from engine.gateway.relay import Peek, Relay
from engine.runtime.clock import ServerClock
from engine.runtime.counters import child
from engine.runtime.metrics import (
    ERRORS,
    MESSAGES_IN,
    MESSAGES_OUT,
    WS_CLOSES,
    WS_CONNECTIONS,
    WS_CONNECTS,
    WS_DROPPED,
    WS_REFUSED,
    watch_gc,
)
from engine.runtime.redisconn import AsyncRedis
from engine.window.notices import AttemptsExpired
from question_bank.ids import ContestId
from scoring.errors import ScoringError
from scoring.keys import ContestKeys

if TYPE_CHECKING:
    from multidict import CIMultiDict

__all__ = ["Connection", "Gateway", "contest_of_path", "pings_per_sweep"]

log = logging.getLogger(__name__)
_WS_LOG = logging.getLogger("engine.gateway.server.picows")
"""picows' logger for the gateway's connections. It logs every connection opened and closed
at INFO, which at tens of thousands of members costs real CPU, and a member's protocol
error (an oversize frame, a bad opcode) at ERROR although it is the member's fault: the
close-code metrics count them all instead, so it starts at CRITICAL (set its level lower to
see them). The gateway's own failures are logged by :data:`log`."""
if _WS_LOG.level == logging.NOTSET:
    _WS_LOG.setLevel(logging.CRITICAL)

PATH_PREFIX = "/ws/"
_FOLLOW_UP_ERRORS = (
    PeerError,
    BackendError,
    ScoringError,
    RedisError,
    RedisClusterException,
    msgspec.MsgspecError,
)
LISTEN_BACKLOG = 65535
"""Connections the kernel queues for the gateway before it accepts them (capped by
``net.core.somaxconn``, 4096 by default). asyncio's ``create_server`` calls ``listen()``
again on a socket it is given, with 100 unless told: under an opening storm that queue
overflowed and the SYNs dropped were retried by the clients after 1, 3, 7 s."""

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a new connection has to send its HTTP upgrade request (websockets'
``open_timeout``, which the gateway had before picows)."""
CLOSE_TIMEOUT = 2.0
"""Seconds a close handshake the server started waits for the member's close frame before
the socket is dropped."""
MAX_PENDING = 8
"""Frames of one connection that wait while an earlier one is being handled (a join, an
answer); past it the socket is not read until they are (websockets' ``max_queue``).

A frame that needs Redis is handled by a Task started for it, which then handles the frames
queued meanwhile. That costs about 3.0 µs a frame against 2.0 µs for waking a long-lived
coroutine per connection fed by a queue (uvloop, 2,000 connections, a future resolved by a
batch as the answer batcher does), about 10 µs of a member's 1.6–7 ms attempt, and keeps no
Task or coroutine frame for the thousands of members who are between answers."""
READ_BUFFER = 2048
"""Initial bytes of each connection's read buffer (picows' default is 16 KiB: 300 MB for
19,000 members); it grows if a member sends more at once."""

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_NO_STATUS = 1005
"""The close code of a close frame without one (RFC 6455 §7.1.5)."""
_ABNORMAL = 1006
"""The close code counted for a connection lost without a close frame from the member."""
_PROTOCOL_ERROR = 1002
_INVALID_TEXT = 1007
_TOO_BIG = 1009
_INTERNAL = 1011

SWEEP_SECONDS = 1.0
"""How often the one timer checks every session's deadline."""
RESYNC_CHUNK = 100
"""Members whose state is re-read at once after the relay lost Redis."""
PRESENCE_SECONDS = 5.0
"""How often the members-online counts are written to Redis, and the contests that have
members here are checked for having vanished."""


def pings_per_sweep(max_connections: int, ping_interval: float, sweep_seconds: float) -> int:
    """The most WebSocket pings one sweep tick writes: twice the pings a tick needs when
    all ``max_connections`` members are silent (``max_connections × sweep_seconds /
    ping_interval``). The sockets due beyond it get theirs on the next ticks, so the
    members of a room that falls quiet at once (after a long connect phase, or when a
    show ends) are pinged over about ``ping_interval / 2`` seconds instead of in one tick
    (defaults: 1,900 a tick, 19,000 sockets over 10 s); no ping is later than that."""
    if ping_interval <= 0:
        return 0
    return max(1, math.ceil(2 * max_connections * sweep_seconds / ping_interval))


def contest_of_path(path: str) -> tuple[ContestId | None, str | None]:
    """``/ws/<contest>?token=...`` -> (contest, token); (None, None) for another path."""
    parts = urlsplit(path)
    if not parts.path.startswith(PATH_PREFIX):
        return None, None
    contest = parts.path[len(PATH_PREFIX) :].strip("/")
    if not contest or "/" in contest or len(contest) > 128:
        return None, None
    tokens = parse_qs(parts.query).get("token")
    return ContestId(contest), (tokens[0] if tokens else None)


class _Headers:
    """picows' request headers as :func:`~engine.core.limits.client_address` reads them."""

    __slots__ = ("headers",)

    def __init__(self, headers: CIMultiDict[str]) -> None:
        self.headers = headers

    def get_all(self, key: str) -> list[str]:
        return self.headers.getall(key, [])


class Connection(WSListener):
    """One member's socket (the picows listener of its connection), their session and, once
    joined, who they are."""

    __slots__ = (
        "address",
        "admitted",
        "busy",
        "clock",
        "closer",
        "contest",
        "fragments",
        "gateway",
        "joined",
        "paused",
        "pending",
        "pinged",
        "session",
        "task",
        "text",
        "token",
        "transport",
    )

    def __init__(
        self,
        gateway: Gateway,
        session: Session,
        contest: ContestId,
        address: str | None,
        token: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.session = session
        self.contest = contest
        self.address = address
        """The client address this connection counts against until it joins, then None."""
        self.token = token
        """The join token of the URL, until the connection opens."""
        self.transport: WSTransport
        self.clock = gateway.clock.of(ContestKeys(contest, gateway.settings.key_prefix).meta)
        """The clock of the node holding the contest (the same as the gateway's on one Redis)."""
        self.admitted = False
        """Passed the connection limits: counted, and cleaned up when it goes."""
        self.joined: Joined | None = None
        self.pinged = 0
        """When the gateway last sent this socket a WebSocket ping (ms); a broadcast to its
        contest is stamped once for the room (``Relay.last_broadcast``)."""
        self.busy = False
        """A Task is handling one of its frames; the next ones wait in :attr:`pending`."""
        self.task: asyncio.Task[None] | None = None
        self.pending: deque[str | bytes] | None = None
        self.paused = False
        """Reading is paused: :data:`MAX_PENDING` frames wait."""
        self.fragments: bytearray | None = None
        """The payload so far of a fragmented message, until its last frame."""
        self.text = False
        """Whether the fragmented message under way is a text message."""
        self.closer: asyncio.TimerHandle | None = None
        """Drops the socket if the member does not answer the server's close frame."""

    # picows' callbacks. An exception escaping one would make picows close with 1011 and
    # log it where nobody looks (_WS_LOG): each catches its own and logs it.

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        try:
            self.gateway._admit(self)
        except Exception:
            log.exception("could not open a member connection")
            self.gateway._close(self, _INTERNAL, "internal error")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        data: str | bytes | None
        try:
            if kind is _TEXT and frame.fin and self.fragments is None:
                data = frame.get_payload_as_utf8_text()
            elif kind is _BINARY and frame.fin and self.fragments is None:
                data = frame.get_payload_as_bytes()
            elif kind is _CLOSE:
                self.gateway._close_received(self, frame)
                return
            elif kind is _TEXT or kind is _BINARY or kind is _CONTINUATION:
                data = self._fragment(frame)
            else:  # PING (picows answered it) or PONG
                return
        except UnicodeDecodeError:
            self.gateway._close(self, _INVALID_TEXT, "invalid UTF-8 in a text message")
            return
        if data is None or not self.admitted or transport.is_close_frame_sent:
            return
        if self.busy:
            self._wait(data)
            return
        try:
            self.gateway._receive(self, data)
        except Exception:
            log.exception("could not handle a member's frame")
            self.gateway._close(self, _INTERNAL, "internal error")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.closer is not None:
            self.closer.cancel()
            self.closer = None
        self.pending = None
        if self.admitted:
            try:
                self.gateway._gone(self)
            except Exception:
                log.exception("could not clean up a member connection")

    # frames

    def _fragment(self, frame: WSFrame) -> str | bytes | None:
        """Add one frame of a fragmented message (RFC 6455 §5.4); the whole message once its
        last frame is in, else None. A continuation with no message under way, or a new
        message inside one, closes with 1002; a message over ``max_frame_bytes`` in all with
        1009; a text message that is not valid UTF-8 raises UnicodeDecodeError (1007)."""
        parts = self.fragments
        if (frame.msg_type is _CONTINUATION) is (parts is None):
            self.gateway._close(self, _PROTOCOL_ERROR, "unexpected continuation or data frame")
            return None
        if parts is None:
            parts = self.fragments = bytearray()
            self.text = frame.msg_type is _TEXT
        if len(parts) + frame.payload_size > self.gateway.limits.max_frame_bytes:
            self.fragments = None
            self.gateway._close(self, _TOO_BIG, "message too big")
            return None
        parts += frame.get_payload_as_memoryview()
        if not frame.fin:
            return None
        self.fragments = None
        return parts.decode() if self.text else bytes(parts)

    def _wait(self, data: str | bytes) -> None:
        """Queue a frame that arrived while an earlier one is being handled."""
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        pending.append(data)
        if len(pending) >= MAX_PENDING and not self.paused:
            self.paused = True
            self.transport.underlying_transport.pause_reading()

    def _next(self) -> str | bytes | None:
        """The next queued frame, if any (reading resumes below :data:`MAX_PENDING`)."""
        pending = self.pending
        if not pending:
            return None
        data = pending.popleft()
        if self.paused and len(pending) < MAX_PENDING:
            self.paused = False
            self.transport.underlying_transport.resume_reading()
        return data


def _answer_of(actions: list[Any]) -> m.Answer | None:
    """The answer, if *actions* are just one answer to dispatch (the hot path, which skips
    the general action loop)."""
    if len(actions) == 1 and type(action := actions[0]) is Dispatch:
        request = action.request
        if type(request) is m.Answer:
            return request
    return None


def _sync_only(actions: list[Any]) -> bool:
    """Whether *actions* need no awaiting (sends and closes only)."""
    return all(type(action) is Send or type(action) is Close for action in actions)


def _within_open_files(limits: Limits) -> Limits:
    """*limits* with ``max_connections`` within this process's open-file limit
    (:func:`~engine.core.limits.connections_within`), saying so in the log if it was
    lowered: a worker set above it failed its joined members' Redis calls with EMFILE
    under a storm instead of refusing new members with 4001."""
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if open_files == resource.RLIM_INFINITY:
        return limits
    within = connections_within(limits, open_files)
    if within.max_connections < limits.max_connections:
        log.warning(
            "max_connections %d is above what the open-file limit (%d) allows: using %d",
            limits.max_connections,
            open_files,
            within.max_connections,
        )
    return within


class Gateway:
    """The member gateway of one process. ``await start()``, then ``await close()``."""

    def __init__(
        self,
        settings: Settings,
        redis_client: AsyncRedis,
        *,
        handlers: MemberHandlers | None = None,
        gateway_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.limits = _within_open_files(Limits.from_settings(settings))
        self.trusted_proxies = trusted_networks(settings.trusted_proxies)
        self.unjoined = AddressCounts(self.limits.max_unjoined_per_address)
        """Connections not joined yet, per client address."""
        self.clock = ServerClock()
        self.id = gateway_id or uuid.uuid4().hex[:12]
        self.handlers = handlers or MemberHandlers(settings, redis_client, clock=self.clock)
        self.connections: set[Connection] = set()
        self.rooms: defaultdict[ContestId, set[Connection]] = defaultdict(set)
        self.members: set[Connection] = set()
        """The joined connections."""
        self.by_member: dict[tuple[ContestId, str], Connection] = {}
        self._joining: Counter[ContestId] = Counter()
        """Joins under way per contest (the relay keeps watching their contests)."""
        self.relay = Relay(
            redis_client,
            self.rooms,
            prefix=settings.key_prefix,
            clock=self.clock,
            after=self._after_broadcast,
            resubscribed=self._resync,
            notice=self._attempts_expired,
        )
        self.server: asyncio.AbstractServer | None = None
        self.stopping = False
        """close() has begun: a connection that completes its handshake now gets 4000."""
        self.sweep_seconds = SWEEP_SECONDS
        self.presence_seconds = PRESENCE_SECONDS
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: set[ContestId] = set()
        self._answers_in = child(MESSAGES_IN, "answer")
        self._acks_out = child(MESSAGES_OUT, "ack")
        self._answers = 0
        """Answers and acks since the sweep last added them to the metrics (an answer is
        counted in ints; the prometheus counters, a pid check and an mmap write each,
        once a tick)."""
        self._acks = 0
        self.gc_policy = FreezePolicy()
        """When the sweep freezes the members' objects out of the collector's walks."""
        self.departed = Departed()
        """The connections of members who left that are still alive (the policy's count)."""
        self._ws_log = logging.LoggerAdapter(_WS_LOG, {})
        """picows makes a child ``logging.Logger`` per connection of a ``Logger`` it is given
        (a few µs and a few hundred bytes each), and none of an adapter."""

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, host: str | None = None, port: int | None = None, *, sock: socket.socket | None = None
    ) -> Gateway:
        """Listen on *host*:*port* (settings by default), or on an already bound *sock*."""
        watch_gc()
        await self.clock.sync(self.redis)
        await self.handlers.start()
        await self.relay.start()
        kwargs: dict[str, Any] = {}
        if sock is not None:
            kwargs["sock"] = sock
        else:
            kwargs["host"] = host if host is not None else self.settings.host
            kwargs["port"] = port if port is not None else self.settings.ws_port
        self.stopping = False
        self.server = await aiofastnet.create_server(
            asyncio.get_running_loop(), self._protocol, backlog=LISTEN_BACKLOG, **kwargs
        )
        self._tasks = [
            asyncio.create_task(self._sweep(), name="gateway-sweep"),
            asyncio.create_task(self._presence(), name="gateway-presence"),
        ]
        return self

    def _protocol(self) -> Any:
        """A picows protocol for one new connection: what ``picows.ws_create_server`` makes,
        but whose listener factory (:meth:`_upgrade`) can read the peer's address off the
        transport, which a factory given to ``ws_create_server`` cannot see. Pings come from
        the sweep (no auto ping); picows answers the members' pings (auto pong)."""
        protocol: Any = None

        def upgrade(request: WSUpgradeRequest) -> Connection | WSUpgradeResponseWithListener:
            return self._upgrade(protocol.transport, request)

        protocol = WSProtocol(
            None,  # host and port: a client's
            None,  # path: a client's
            False,  # is_client_side
            upgrade,
            self._ws_log,
            True,  # disconnect_on_exception
            HANDSHAKE_TIMEOUT,
            False,  # enable_auto_ping
            20.0,  # auto_ping_idle_timeout
            20.0,  # auto_ping_reply_timeout
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # enable_auto_pong
            self.limits.max_frame_bytes,
            None,  # extra_headers: a client's
            READ_BUFFER,
        )
        return protocol

    @property
    def port(self) -> int:
        assert self.server is not None
        sockets = self.server.sockets  # type: ignore[attr-defined]
        port: int = sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        """Stop accepting, close every member with 4000 (reconnect elsewhere), clean up."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._count_answers()
        if self.server is not None:
            self.stopping = True
            self.server.close()
            conns = list(self.connections)
            for conn in conns:
                self._close(conn, CloseCode.SERVER_RESTART, "server restart")
            gone = [asyncio.ensure_future(conn.transport.wait_disconnected()) for conn in conns]
            if gone:
                # Each is dropped CLOSE_TIMEOUT after its close frame if its member is silent.
                await asyncio.wait(gone, timeout=CLOSE_TIMEOUT + 1)
            # What is left: handshakes under way, connections refused past the limits.
            self.server.abort_clients()  # type: ignore[attr-defined]
            await self.server.wait_closed()
            self.server = None
            # Requests still awaiting Redis for members who are gone now.
            busy = [conn.task for conn in conns if conn.task is not None]
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
        await self.relay.close()
        with contextlib.suppress(Exception):
            await withdraw(self.redis, self.id, list(self._reported), self.settings.key_prefix)
        await self.handlers.close()

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ connections

    def _upgrade(
        self, transport: WSTransport, request: WSUpgradeRequest
    ) -> Connection | WSUpgradeResponseWithListener:
        """The handshake: a listener for the connection, or the HTTP error it gets."""
        try:
            path = request.path.decode("ascii")
        except UnicodeDecodeError:
            path = ""
        contest, token = contest_of_path(path)
        if contest is None:
            child(WS_REFUSED, "bad_path").inc()
            response = WSUpgradeResponse.create_error_response(404, b"use /ws/<contest id>\n")
            return WSUpgradeResponseWithListener(response, None)
        peer = transport.underlying_transport.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        address = client_address(host, _Headers(request.headers), self.trusted_proxies)
        if self.unjoined.full(address):
            child(WS_REFUSED, "address_full").inc()
            body = b"too many connections from your address have not joined yet\n"
            response = WSUpgradeResponse.create_error_response(
                429, body, extra_headers={"Retry-After": "5"}
            )
            return WSUpgradeResponseWithListener(response, None)
        return Connection(self, Session(self.limits, self.clock()), contest, address, token)

    def _admit(self, conn: Connection) -> None:
        """The handshake is done: count the connection in, or close it past the limits."""
        if self.stopping:
            self._close(conn, CloseCode.SERVER_RESTART, "server restart")
            return
        if len(self.connections) >= self.limits.max_connections:
            child(WS_REFUSED, "server_full").inc()
            self._close(conn, CloseCode.SERVER_FULL, "server full")
            return
        address = conn.address
        assert address is not None
        if self.unjoined.full(address):  # kept from websockets: others passed meanwhile
            child(WS_REFUSED, "address_full").inc()
            self._close(conn, CloseCode.ADDRESS_FULL, "too many unjoined connections")
            return
        self.unjoined.add(address)
        conn.admitted = True
        self.connections.add(conn)
        WS_CONNECTS.inc()
        WS_CONNECTIONS.inc()
        token, conn.token = conn.token, None
        actions = conn.session.start(conn.clock(), token)
        if actions:
            self._act(conn, actions)

    def _receive(self, conn: Connection, data: str | bytes) -> None:
        """One frame of a member with no frame being handled: its session's actions carried
        out at once if they need no awaiting, else in a Task (:meth:`_handle`)."""
        actions = conn.session.receive(data, conn.clock())
        if actions:
            self._act(conn, actions)

    def _act(self, conn: Connection, actions: list[Any]) -> None:
        if (answer := _answer_of(actions)) is not None:  # the hot path
            self._handle(conn, self._answer(conn, answer))
        elif _sync_only(actions):
            self._run_now(conn, actions)
        else:
            self._handle(conn, self._run(conn, actions))

    def _handle(self, conn: Connection, work: Coroutine[Any, Any, None]) -> None:
        """Run *work* in a Task that then handles the frames queued meanwhile."""
        conn.busy = True
        conn.task = asyncio.create_task(self._then_queued(conn, work))

    async def _then_queued(self, conn: Connection, work: Coroutine[Any, Any, None]) -> None:
        session = conn.session
        try:
            await work
            while (data := conn._next()) is not None:
                if session.state is State.CLOSED or not is_open(conn.transport):
                    continue
                actions = session.receive(data, conn.clock())
                if (answer := _answer_of(actions)) is not None:
                    await self._answer(conn, answer)
                else:
                    await self._run(conn, actions)
        except Exception:
            log.exception("could not handle a member's frame")
            self._close(conn, _INTERNAL, "internal error")
        finally:
            conn.busy = False
            conn.task = None

    def _gone(self, conn: Connection) -> None:
        """The connection is gone (picows called ``on_ws_disconnected``): clean up, count its
        close code (the member's close frame's, 1006 without one)."""
        conn.session.closed()
        self._release(conn)
        self._leave(conn)
        WS_CONNECTIONS.dec()
        handshake = conn.transport.close_handshake
        received = handshake.recv if handshake is not None else None
        code = _ABNORMAL if received is None else (int(received.code.value) or _NO_STATUS)
        child(WS_CLOSES, str(code)).inc()

    def _release(self, conn: Connection) -> None:
        """The connection joined or ended: it no longer counts as not joined."""
        if conn.address is not None:
            if conn.admitted:
                self.unjoined.remove(conn.address)
            conn.address = None

    def _leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._unjoin(conn)

    def _unjoin(self, conn: Connection) -> None:
        """Take a joined member out of the broadcast rooms."""
        if conn.joined is not None:
            room = self.rooms.get(conn.contest)
            if room is not None:
                room.discard(conn)
            if conn in self.members:
                self.members.discard(conn)
                self.departed.add(conn)
            key = (conn.contest, str(conn.joined.member.id))
            if self.by_member.get(key) is conn:
                del self.by_member[key]

    def _run_now(self, conn: Connection, actions: list[Any]) -> None:
        """Carry out sends and closes (no awaiting)."""
        for action in actions:
            if type(action) is Send:
                self._send(conn, action.message)
            else:
                self._close(conn, action.code, action.reason)

    async def _run(self, conn: Connection, actions: list[Any]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    self._send(conn, message)
                case Close(code=code, reason=reason):
                    self._close(conn, code, reason)
                case Authenticate(token=token):
                    child(MESSAGES_IN, "join").inc()
                    await self._authenticate(conn, token)
                case Dispatch(request=request):
                    child(MESSAGES_IN, type(request).__struct_config__.tag or "").inc()
                    await self._dispatch(conn, request)

    def _send(self, conn: Connection, message: m.ServerMessage) -> None:
        tag = type(message).__struct_config__.tag
        child(MESSAGES_OUT, str(tag)).inc()
        if isinstance(message, m.Error):
            child(ERRORS, message.code).inc()
            if message.code in (ErrorCode.BAD_MESSAGE, ErrorCode.UNKNOWN_TYPE):
                child(MESSAGES_IN, "invalid").inc()
        elif isinstance(message, m.Pong):
            child(MESSAGES_IN, "ping").inc()
        # Ignored by picows once the close frame is sent or the socket is gone.
        conn.transport.send(_TEXT, m.encode(message))

    async def _unwatch_if_empty(self, contest: ContestId) -> None:
        """A refused join: stop the relay's subscription it made if nobody else uses it (no
        member in the room, no other join of the contest under way)."""
        if not self.rooms.get(contest) and self._joining[contest] <= 1:
            await self.relay.unwatch(contest)

    def _close(self, conn: Connection, code: int, reason: str) -> None:
        """Start the close handshake: the close frame now (after what was written before it),
        the socket dropped if the member has not answered it within :data:`CLOSE_TIMEOUT`.
        Nothing if the handshake started already or the socket is gone."""
        transport = conn.transport
        if not is_open(transport):
            return
        transport.send_close(WSCloseCode(code), reason[:120].encode())
        conn.closer = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT, transport.disconnect, False
        )

    def _close_received(self, conn: Connection, frame: WSFrame) -> None:
        """The member's close frame: the answer to ours, or theirs, which is echoed (a frame
        without a code with 1000). The server then closes the TCP connection (RFC 6455 §7.1.1)."""
        transport = conn.transport
        if not transport.is_close_frame_sent:
            code = frame.get_close_code()
            transport.send_close(code if code.value else WSCloseCode.OK)
        conn.session.closed()
        transport.disconnect()

    async def _authenticate(self, conn: Connection, token: str) -> None:
        self._joining[conn.contest] += 1
        try:
            # Before the join reads the contest's state: no broadcast falls in between.
            await self.relay.watch(conn.contest)
            joined = await self.handlers.join(token, conn.contest)
        except PeerError as exc:
            await self._unwatch_if_empty(conn.contest)
            await self._run(conn, conn.session.refused(exc))
            return
        except (BackendError, ScoringError, RedisError, RedisClusterException, OSError):
            await self._unwatch_if_empty(conn.contest)
            self._send(conn, m.Error(code=ErrorCode.UNAVAILABLE))
            self._close(conn, CloseCode.UNAVAILABLE, "redis unavailable")
            return
        finally:
            self._joining[conn.contest] -= 1
            if not self._joining[conn.contest]:
                del self._joining[conn.contest]
        if conn not in self.connections:  # it went away during the join: nothing to add
            await self._unwatch_if_empty(conn.contest)
            return
        conn.joined = joined
        self._release(conn)
        self.rooms[conn.contest].add(conn)
        self.members.add(conn)
        self.gc_policy.join()
        previous = self.by_member.get((conn.contest, str(joined.member.id)))
        self.by_member[(conn.contest, str(joined.member.id))] = conn
        if previous is not None and previous is not conn:
            # One connection per member and contest in a process: the newest wins.
            previous.session.closed()
            self._unjoin(previous)
            self._close(previous, CloseCode.REPLACED, "joined on another connection")
        actions = conn.session.joined(joined.welcome, self.clock())
        await self._run(conn, actions)
        for message in await self._safely(conn, self.handlers.resume(joined)):
            self._send(conn, message)

    async def _answer(self, conn: Connection, request: m.Answer) -> None:
        """One answer: scored through the batcher, then its ``ack`` (or ``error``)."""
        assert conn.joined is not None
        self._answers += 1
        try:
            reply: m.ServerMessage = await self.handlers.answer(conn.joined, request)
        except Exception as exc:  # the same error frames as any other request
            reply = _error_of(exc, request.seq)
        else:
            self._acks += 1
            # Written at once, without _send's metrics (the sweep counts acks in bulk).
            # picows skips a socket that is closing; the answer stays accepted in Redis
            # and a reconnecting member gets it back on resume.
            conn.transport.send(_TEXT, m.encode(reply))
            return
        self._send(conn, reply)

    async def _dispatch(self, conn: Connection, request: Any) -> None:
        assert conn.joined is not None
        seq = request.seq if isinstance(request, m.Answer) else None
        work = self.handlers.handle(conn.joined, request)
        for message in await self._safely(conn, work, seq):
            self._send(conn, message)

    async def _safely(
        self, conn: Connection, work: Any, seq: int | None = None
    ) -> list[m.ServerMessage]:
        """Await *work*; turn a typed error into an error frame. Never lets one member's
        failure escape into the process."""
        try:
            result: list[m.ServerMessage] = await work
            return result
        except Exception as exc:
            return [_error_of(exc, seq)]

    # ------------------------------------------------------------------ timers

    async def _sweep(self) -> None:
        """One timer for every connection: the session deadlines (join, idle), and a
        WebSocket ping to each socket with no traffic either way for ``ping_interval``.

        The pings replace a keepalive per connection (websockets', which the gateway had
        before picows, ran a task, a timeout and a pong future per connection every
        ``ping_interval`` seconds). A member who is answering or
        sending its own ``ping`` messages gets no WebSocket ping at all, and neither does a
        joined member whose contest had a broadcast within ``ping_interval`` (the relay
        stamps each contest's last broadcast once, :attr:`Relay.last_broadcast`): the
        frame already kept its NAT and proxies open. A dead peer is closed by the idle
        deadline (4002), whether or not it would have answered a ping, or dropped once its
        unsent broadcasts pass ``max_write_buffer``. A tick writes at most
        :func:`pings_per_sweep` pings; the sockets due beyond it keep their turn for the
        next ticks. (In the 50,000- and 100,000-member swarm runs, websockets' keepalive
        was 12–26% of a worker's samples.)

        Each tick then adds the answers and acks counted since the last one to the metrics,
        and carries out :class:`~engine.gateway.gcfreeze.FreezePolicy`'s decision: after
        each batch of joins the members' objects are frozen out of the collector's full
        walks (which stalled a worker for about a second mid-question at 5,000 members),
        and they are all walked again only once enough departed connections linger.
        """
        while True:
            await asyncio.sleep(self.sweep_seconds)
            self._sweep_connections(self.clock())
            self._count_answers()
            departed = self.departed
            apply(self.gc_policy.tick(len(self.members), len(departed)), departed)

    def _sweep_connections(self, now: int) -> None:
        """One tick's deadlines, slow readers and pings (:meth:`_sweep`). A function of its
        own, so that no connection stays referenced by the sweep's locals between ticks
        (the last one swept would otherwise stay alive until the next socket is swept)."""
        ping_ms = int(self.settings.ping_interval * 1000)
        unsent_cap = self.settings.max_write_buffer
        last_broadcast = self.relay.last_broadcast
        pings = pings_per_sweep(
            self.limits.max_connections, self.settings.ping_interval, self.sweep_seconds
        )
        for conn in list(self.connections):
            session = conn.session
            transport = conn.transport
            wire = transport.underlying_transport
            if unsent_cap and wire.get_write_buffer_size() > unsent_cap:
                self._drop_slow_reader(conn)
            elif session.deadline <= now:
                actions = session.expire(now)
                if actions:
                    self._run_now(conn, actions)  # closes only
            elif pings and now - max(session.last_frame, conn.pinged) >= ping_ms:
                heard = last_broadcast.get(conn.contest, 0) if conn.joined else 0
                if now - heard >= ping_ms:
                    pings -= 1
                    conn.pinged = now
                    if is_open(transport):
                        transport.send_ping(b"")

    def _count_answers(self) -> None:
        """Add the answers and acks counted since the last tick to the metrics."""
        if self._answers:
            self._answers_in.inc(self._answers)
            self._answers = 0
        if self._acks:
            self._acks_out.inc(self._acks)
            self._acks = 0

    def _drop_slow_reader(self, conn: Connection) -> None:
        """Drop a connection whose unsent bytes passed ``max_write_buffer``: its member does
        not read (broadcasts are written without waiting, so nothing else bounds them). A
        close frame would wait behind those bytes, so the socket is aborted; the handler's
        cleanup runs as for any lost connection."""
        child(WS_DROPPED, "slow_reader").inc()
        member = conn.joined.member.id if conn.joined is not None else "not joined"
        log.info("dropped a connection that stopped reading (member %s)", member)
        conn.transport.disconnect(False)

    async def _presence(self) -> None:
        while True:
            await self._report_presence()
            await self._close_vanished()
            await asyncio.sleep(self.presence_seconds)
            with contextlib.suppress(Exception):
                await self.clock.sync(self.redis)

    async def _close_vanished(self) -> None:
        """Close, with 4504, the members of each contest that is gone from Redis (it lost
        its data: FLUSHALL, restarted without its AOF) or was cancelled or deleted while
        the relay missed the broadcast. Nothing is closed while Redis does not answer."""
        for contest in [c for c, room in self.rooms.items() if room]:
            try:
                await self.handlers.contest(contest, fresh=True)
            except ContestNotFound:
                log.warning("contest %s is gone from Redis: closing its members", contest)
                self._close_room(contest)
            except (BackendError, RedisError, RedisClusterException, OSError):
                return
            except Exception:  # keep the presence timer alive whatever a read raises
                log.exception("could not check whether contest %s still exists", contest)

    async def _report_presence(self) -> None:
        counts = {contest: len(room) for contest, room in self.rooms.items()}
        counts.update({c: 0 for c in self._reported if c not in counts})
        self._reported = {c for c, n in counts.items() if n}
        for contest in [c for c, room in self.rooms.items() if not room]:
            del self.rooms[contest]
        for contest in [c for c in self.relay.watched if c not in self.rooms]:
            if not self._joining.get(contest):
                await self.relay.unwatch(contest)
        for contest in [c for c in self.relay.last_broadcast if c not in self.rooms]:
            del self.relay.last_broadcast[contest]
        try:
            await publish_counts(
                self.redis, self.id, counts, self.clock(), self.settings.key_prefix
            )
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("could not record members online: %s", exc)

    # ------------------------------------------------------------------ broadcasts

    async def _resync(self) -> None:
        """The relay lost Redis for a while and broadcasts were missed: send every member of
        a live show here their state again (the open question, or the final standing), and
        every window member whose open attempt expired meanwhile that attempt."""
        conns = [c for c in list(self.members) if c.joined is not None]
        for contest in {c.contest for c in conns}:
            self.handlers.forget(contest)
        for start in range(0, len(conns), RESYNC_CHUNK):
            chunk = conns[start : start + RESYNC_CHUNK]
            replies = await asyncio.gather(
                *(self._resync_one(conn) for conn in chunk), return_exceptions=True
            )
            for conn, messages in zip(chunk, replies, strict=True):
                if isinstance(messages, BaseException):
                    log.warning("resync of a member failed: %s", messages)
                    continue
                for message in messages:
                    write_text((conn,), m.encode(message))

    async def _resync_one(self, conn: Connection) -> list[m.ServerMessage]:
        assert conn.joined is not None
        return await self.handlers.resync(conn.joined)

    def _close_room(self, contest: ContestId) -> None:
        """Close every member of *contest* here with 4504: the contest is gone."""
        for conn in list(self.rooms.get(contest, ())):
            if conn in self.members:
                conn.session.closed()
                self._unjoin(conn)
                self._close(conn, CloseCode.CONTEST_NOT_FOUND, "contest gone")

    async def _after_broadcast(self, contest: ContestId, peek: Peek, frame: bytes) -> None:
        """Follow a relayed broadcast with each local member's own message, if any."""
        if peek.type == "state":
            self.handlers.forget(contest)  # the next read sees the new state
        members = self.members
        conns = [c for c in list(self.rooms.get(contest, ())) if c in members]
        joined = [c.joined for c in conns if c.joined is not None]
        if not joined:
            return
        if peek.type == "state" and _gone(frame):
            # Cancelled or deleted: there is nothing left to take part in.
            self._close_room(contest)
            return
        try:
            personal = await self.handlers.follow_up(contest, peek.type, frame, joined)
        except _FOLLOW_UP_ERRORS as exc:
            log.warning("follow-up of %s in %s failed: %s", peek.type, contest, exc)
            return
        for conn in conns:
            if conn.joined is None:
                continue
            message = personal.get(conn.joined.member.id)
            if message is not None:
                # Written without awaiting, like the broadcast itself: a slow member's
                # full buffer must not hold up the next member's result.
                child(MESSAGES_OUT, str(type(message).__struct_config__.tag)).inc()
                write_text((conn,), m.encode(message))

    async def _attempts_expired(self, contest: ContestId, notice: AttemptsExpired) -> None:
        """The server expired these window attempts: push each member connected here their
        attempt (state ``expired``), a chunk of members at a time."""
        local = [
            (conn, number)
            for member, number in notice.expired
            if (conn := self.by_member.get((contest, str(member)))) is not None
        ]
        for start in range(0, len(local), RESYNC_CHUNK):
            chunk = local[start : start + RESYNC_CHUNK]
            replies = await asyncio.gather(
                *(self._expired_one(conn, number) for conn, number in chunk),
                return_exceptions=True,
            )
            for (conn, _), message in zip(chunk, replies, strict=True):
                if isinstance(message, BaseException):
                    log.warning("telling a member their attempt expired failed: %s", message)
                elif message is not None:
                    child(MESSAGES_OUT, "attempt").inc()
                    write_text((conn,), m.encode(message))

    async def _expired_one(self, conn: Connection, number: int) -> m.AttemptState | None:
        if conn.joined is None:
            return None
        return await self.handlers.expired(conn.joined, number)


def _error_of(exc: Exception, seq: int | None) -> m.Error:
    """The error frame a member gets for a request that failed with *exc*."""
    if isinstance(exc, AttemptTooSoon):
        return m.Error(
            code=exc.code, message=exc.message, seq=seq, retry_after_ms=exc.retry_after_ms
        )
    if isinstance(exc, PeerError):
        return m.Error(code=exc.code, message=exc.message, seq=seq)
    if isinstance(exc, (BackendError, ScoringError, RedisError, RedisClusterException, OSError)):
        return m.Error(code=ErrorCode.UNAVAILABLE, message=str(exc)[:200], seq=seq)
    log.error("request of member failed", exc_info=exc)
    return m.Error(code=ErrorCode.INTERNAL, seq=seq)


def _gone(frame: bytes) -> bool:
    """Whether a ``state`` broadcast says the contest was cancelled or deleted."""
    try:
        change = m.decode_server(frame)
    except msgspec.MsgspecError:
        return False
    return isinstance(change, m.StateChanged) and change.state in ("cancelled", "deleted")
