"""The member WebSocket gateway: websockets' own server, pumping frames through sessions.

One :class:`Gateway` per process. For each connection it builds a sans-I/O
:class:`~engine.core.session.Session`, feeds it every frame with the server time and carries out
the actions it returns: send a message, close with a code, verify a join token (through
:class:`~engine.gateway.members.MemberHandlers`, which also loads the contest and the member's
state from Redis), or run a request against the scoring core. The relay
(:mod:`engine.gateway.relay`) writes contest broadcasts to the contest's joined sockets.

URL: ``ws://HOST:PORT/ws/<contest id>`` with the join token either in the query
(``?token=...``) or in a first ``join`` message. Anything else gets HTTP 404.

Limits (docs/protocol.md): frames over ``max_frame_bytes`` close the connection with 1009
(websockets' ``max_size``); past ``max_connections`` a new connection is closed with 4001;
past ``max_unjoined_per_address`` connections not joined yet from one client address
(:func:`~engine.core.limits.client_address`), a new one from it gets HTTP 429 at the handshake
(or, if others passed the handshake meanwhile, close 4006);
the session enforces the message rate, bad frames, the join and idle deadlines, checked by
one timer for all sessions (no timer per connection), which also sends a WebSocket ping
to a socket that neither sent nor was sent anything for ``ping_interval`` seconds (a
broadcast to its contest counts), at most :func:`pings_per_sweep` pings a tick (a dead
peer is closed by the idle deadline, or dropped past ``max_write_buffer``). No
``permessage-deflate``: it costs memory per connection and CPU per member on broadcasts.

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
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import Coroutine
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from redis.exceptions import RedisClusterException, RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState

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
from engine.core.limits import AddressCounts, Limits, client_address
from engine.core.session import Authenticate, Close, Dispatch, Send, Session, State
from engine.core.settings import Settings, trusted_networks
from engine.gateway.frames import write_text
from engine.gateway.gcfreeze import FreezePolicy, apply
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
)
from engine.runtime.redisconn import AsyncRedis
from engine.window.notices import AttemptsExpired
from question_bank.ids import ContestId
from scoring.errors import ScoringError
from scoring.keys import ContestKeys

__all__ = ["Connection", "Gateway", "contest_of_path", "pings_per_sweep"]

log = logging.getLogger(__name__)
_WS_LOG = logging.getLogger("engine.gateway.server.websockets")
"""websockets' own logger. It logs every connection opened and closed at INFO, which at
tens of thousands of members costs real CPU; the metrics count them instead, so it starts
at WARNING (set its level to INFO to see them)."""
if _WS_LOG.level == logging.NOTSET:
    _WS_LOG.setLevel(logging.WARNING)

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


class Connection:
    """One member's socket, their session and, once joined, who they are."""

    __slots__ = ("address", "contest", "joined", "pinged", "session", "ws")

    def __init__(
        self, ws: ServerConnection, session: Session, contest: ContestId, address: str | None
    ) -> None:
        self.ws = ws
        self.session = session
        self.contest = contest
        self.address = address
        """The client address this connection counts against until it joins, then None."""
        self.joined: Joined | None = None
        self.pinged = 0
        """When the gateway last sent this socket a WebSocket ping (ms); a broadcast to its
        contest is stamped once for the room (``Relay.last_broadcast``)."""


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
        self.limits = Limits.from_settings(settings)
        self.trusted_proxies = trusted_networks(settings.trusted_proxies)
        self.unjoined = AddressCounts(self.limits.max_unjoined_per_address)
        """Connections not joined yet, per client address."""
        self.clock = ServerClock()
        self.id = gateway_id or uuid.uuid4().hex[:12]
        self.handlers = handlers or MemberHandlers(settings, redis_client, clock=self.clock)
        self.connections: set[Connection] = set()
        self.rooms: defaultdict[ContestId, set[ServerConnection]] = defaultdict(set)
        self.members: dict[ServerConnection, Connection] = {}
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
        self.server: Server | None = None
        self.sweep_seconds = SWEEP_SECONDS
        self.presence_seconds = PRESENCE_SECONDS
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: set[ContestId] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._answers_in = child(MESSAGES_IN, "answer")
        self._acks_out = child(MESSAGES_OUT, "ack")
        self._answers = 0
        """Answers and acks since the sweep last added them to the metrics (an answer is
        counted in ints; the prometheus counters, a pid check and an mmap write each,
        once a tick)."""
        self._acks = 0
        self.gc_policy = FreezePolicy()
        """When the sweep freezes the members' objects out of the collector's walks."""

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, host: str | None = None, port: int | None = None, *, sock: socket.socket | None = None
    ) -> Gateway:
        """Listen on *host*:*port* (settings by default), or on an already bound *sock*."""
        await self.clock.sync(self.redis)
        await self.handlers.start()
        await self.relay.start()
        kwargs: dict[str, Any] = {}
        if sock is not None:
            kwargs["sock"] = sock
        else:
            kwargs["host"] = host if host is not None else self.settings.host
            kwargs["port"] = port if port is not None else self.settings.ws_port
        self.server = await serve(
            self._handler,
            process_request=self._process_request,
            compression=None,
            max_size=self.limits.max_frame_bytes,
            max_queue=8,
            ping_interval=None,  # pings come from the sweep, see _sweep
            close_timeout=2,
            server_header=None,
            logger=_WS_LOG,
            backlog=LISTEN_BACKLOG,
            **kwargs,
        )
        self._tasks = [
            asyncio.create_task(self._sweep(), name="gateway-sweep"),
            asyncio.create_task(self._presence(), name="gateway-presence"),
        ]
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
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
            self.server.close(close_connections=False)
            closing = [
                conn.ws.close(CloseCode.SERVER_RESTART, "server restart")
                for conn in list(self.connections)
            ]
            await asyncio.gather(*closing, return_exceptions=True)
            await self.server.wait_closed()
            self.server = None
        await self.relay.close()
        with contextlib.suppress(Exception):
            await withdraw(self.redis, self.id, list(self._reported), self.settings.key_prefix)
        await self.handlers.close()

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ connections

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        contest, _ = contest_of_path(request.path)
        if contest is None:
            child(WS_REFUSED, "bad_path").inc()
            return Response(404, "Not Found", Headers(), b"use /ws/<contest id>\n")
        if self.unjoined.full(self._address(ws, request.headers)):
            child(WS_REFUSED, "address_full").inc()
            headers = Headers([("Retry-After", "5")])
            body = b"too many connections from your address have not joined yet\n"
            return Response(429, "Too Many Requests", headers, body)
        return None

    def _address(self, ws: ServerConnection, headers: Headers) -> str:
        """The client address a connection counts against (see engine.core.limits)."""
        peer = ws.remote_address
        host = str(peer[0]) if peer else ""
        return client_address(host, headers, self.trusted_proxies)

    def _release(self, conn: Connection) -> None:
        """The connection joined or ended: it no longer counts as not joined."""
        if conn.address is not None:
            self.unjoined.remove(conn.address)
            conn.address = None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        contest, token = contest_of_path(ws.request.path)
        assert contest is not None  # _process_request refused other paths
        if len(self.connections) >= self.limits.max_connections:
            child(WS_REFUSED, "server_full").inc()
            await self._close(ws, CloseCode.SERVER_FULL, "server full")
            return
        address = self._address(ws, ws.request.headers)
        if self.unjoined.full(address):  # others from it passed the handshake meanwhile
            child(WS_REFUSED, "address_full").inc()
            await self._close(ws, CloseCode.ADDRESS_FULL, "too many unjoined connections")
            return
        self.unjoined.add(address)
        conn = Connection(ws, Session(self.limits, self.clock()), contest, address)
        self.connections.add(conn)
        WS_CONNECTS.inc()
        WS_CONNECTIONS.inc()
        # The clock of the node holding the contest (the same as self.clock on one Redis).
        clock = self.clock.of(ContestKeys(contest, self.settings.key_prefix).meta)
        session, recv = conn.session, ws.recv
        try:
            await self._run(conn, session.start(clock(), token))
            while session.state is not State.CLOSED:
                actions = session.receive(await recv(), clock())
                # The answer, the hot path, skips the general action loop.
                if len(actions) == 1 and type(action := actions[0]) is Dispatch:
                    request = action.request
                    if type(request) is m.Answer:
                        await self._answer(conn, request)
                        continue
                await self._run(conn, actions)
        except ConnectionClosed:
            pass
        finally:
            conn.session.closed()
            self._release(conn)
            self._leave(conn)
            WS_CONNECTIONS.dec()
            code = ws.close_code if ws.close_code is not None else 1006
            child(WS_CLOSES, str(code)).inc()

    def _leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._unjoin(conn)

    def _unjoin(self, conn: Connection) -> None:
        """Take a joined member out of the broadcast rooms."""
        if conn.joined is not None:
            room = self.rooms.get(conn.contest)
            if room is not None:
                room.discard(conn.ws)
            if self.members.get(conn.ws) is conn:
                del self.members[conn.ws]
                self.gc_policy.leave()
            key = (conn.contest, str(conn.joined.member.id))
            if self.by_member.get(key) is conn:
                del self.by_member[key]

    async def _run(self, conn: Connection, actions: list[Any]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    await self._send(conn, message)
                case Close(code=code, reason=reason):
                    await self._close(conn.ws, code, reason)
                case Authenticate(token=token):
                    child(MESSAGES_IN, "join").inc()
                    await self._authenticate(conn, token)
                case Dispatch(request=request):
                    child(MESSAGES_IN, type(request).__struct_config__.tag or "").inc()
                    await self._dispatch(conn, request)

    async def _send(self, conn: Connection, message: m.ServerMessage) -> None:
        tag = type(message).__struct_config__.tag
        child(MESSAGES_OUT, str(tag)).inc()
        if isinstance(message, m.Error):
            child(ERRORS, message.code).inc()
            if message.code in (ErrorCode.BAD_MESSAGE, ErrorCode.UNKNOWN_TYPE):
                child(MESSAGES_IN, "invalid").inc()
        elif isinstance(message, m.Pong):
            child(MESSAGES_IN, "ping").inc()
        await conn.ws.send(m.encode(message), text=True)

    async def _unwatch_if_empty(self, contest: ContestId) -> None:
        """A refused join: stop the relay's subscription it made if nobody else uses it (no
        member in the room, no other join of the contest under way)."""
        if not self.rooms.get(contest) and self._joining[contest] <= 1:
            await self.relay.unwatch(contest)

    async def _close(self, ws: ServerConnection, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.close(code, reason[:120])

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
            await self._send(conn, m.Error(code=ErrorCode.UNAVAILABLE))
            await self._close(conn.ws, CloseCode.UNAVAILABLE, "redis unavailable")
            return
        finally:
            self._joining[conn.contest] -= 1
            if not self._joining[conn.contest]:
                del self._joining[conn.contest]
        conn.joined = joined
        self._release(conn)
        self.rooms[conn.contest].add(conn.ws)
        self.members[conn.ws] = conn
        self.gc_policy.join()
        previous = self.by_member.get((conn.contest, str(joined.member.id)))
        self.by_member[(conn.contest, str(joined.member.id))] = conn
        if previous is not None and previous is not conn:
            # One connection per member and contest in a process: the newest wins.
            previous.session.closed()
            self._unjoin(previous)
            self._background(
                self._close(previous.ws, CloseCode.REPLACED, "joined on another connection")
            )
        actions = conn.session.joined(joined.welcome, self.clock())
        await self._run(conn, actions)
        for message in await self._safely(conn, self.handlers.resume(joined)):
            await self._send(conn, message)

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
            # Written at once, without ``send``'s lock and drain: an ack is small, and the
            # rate limit bounds how many a member can have in flight. write_text() skips a
            # socket that is closing; the answer stays accepted in Redis and a reconnecting
            # member gets it back on resume.
            write_text((conn.ws,), m.encode(reply))
            return
        await self._send(conn, reply)

    async def _dispatch(self, conn: Connection, request: Any) -> None:
        assert conn.joined is not None
        seq = request.seq if isinstance(request, m.Answer) else None
        work = self.handlers.handle(conn.joined, request)
        for message in await self._safely(conn, work, seq):
            await self._send(conn, message)

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

        The pings replace websockets' keepalive, which runs a task, a timeout and a pong
        future per connection every ``ping_interval`` seconds. A member who is answering or
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
        walks (which stalled a worker for about a second mid-question at 5,000 members).
        """
        ping_ms = int(self.settings.ping_interval * 1000)
        unsent_cap = self.settings.max_write_buffer
        last_broadcast = self.relay.last_broadcast
        while True:
            await asyncio.sleep(self.sweep_seconds)
            now = self.clock()
            pings = pings_per_sweep(
                self.limits.max_connections, self.settings.ping_interval, self.sweep_seconds
            )
            for conn in list(self.connections):
                session = conn.session
                if unsent_cap and conn.ws.transport.get_write_buffer_size() > unsent_cap:
                    self._drop_slow_reader(conn)
                elif session.deadline <= now:
                    actions = session.expire(now)
                    if actions:
                        self._background(self._run_quietly(conn, actions))
                elif pings and now - max(session.last_frame, conn.pinged) >= ping_ms:
                    heard = last_broadcast.get(conn.contest, 0) if conn.joined else 0
                    if now - heard >= ping_ms:
                        pings -= 1
                        conn.pinged = now
                        _ping(conn.ws)
            self._count_answers()
            apply(self.gc_policy.tick(len(self.members)))

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
        conn.ws.transport.abort()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _run_quietly(self, conn: Connection, actions: list[Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._run(conn, actions)

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
        conns = [c for c in list(self.members.values()) if c.joined is not None]
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
                    write_text((conn.ws,), m.encode(message))

    async def _resync_one(self, conn: Connection) -> list[m.ServerMessage]:
        assert conn.joined is not None
        return await self.handlers.resync(conn.joined)

    def _close_room(self, contest: ContestId) -> None:
        """Close every member of *contest* here with 4504: the contest is gone."""
        member_of = self.members.get
        for ws in list(self.rooms.get(contest, ())):
            conn = member_of(ws)
            if conn is not None:
                conn.session.closed()
                self._unjoin(conn)
                self._background(self._close(conn.ws, CloseCode.CONTEST_NOT_FOUND, "contest gone"))

    async def _after_broadcast(self, contest: ContestId, peek: Peek, frame: bytes) -> None:
        """Follow a relayed broadcast with each local member's own message, if any."""
        if peek.type == "state":
            self.handlers.forget(contest)  # the next read sees the new state
        member_of = self.members.get
        conns = [c for ws in list(self.rooms.get(contest, ())) if (c := member_of(ws)) is not None]
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
                write_text((conn.ws,), m.encode(message))

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
                    write_text((conn.ws,), m.encode(message))

    async def _expired_one(self, conn: Connection, number: int) -> m.AttemptState | None:
        if conn.joined is None:
            return None
        return await self.handlers.expired(conn.joined, number)


def _ping(ws: ServerConnection) -> None:
    """Write a WebSocket ping frame now (no pong waiter: the idle deadline judges)."""
    if ws.protocol.state is WsState.OPEN:
        with contextlib.suppress(Exception):  # a socket that is going away: nothing to do
            ws.protocol.send_ping(b"")
            ws.send_data()


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
