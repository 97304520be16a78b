"""A WebSocket client for locust users (gevent), reporting every exchange as a request.

Locust has no WebSocket user built in. This client runs on ``websocket-client`` (plain
blocking sockets, which locust's gevent monkey-patching makes cooperative). A reader
greenlet feeds every frame to a :class:`~loadtest.member.MemberState`, and reports:

* request/response pairs as locust requests with their response time: ``WS join``
  (connect + token check -> ``welcome``), ``WS answer`` (answer -> ``ack``; a refusal is
  reported as a failure named by its reason), ``WS start_attempt`` / ``WS resume``
  (-> ``attempt``), ``WS submit``, ``WS leaderboard``;
* every broadcast's delivery delay (server send time to receipt, corrected by the
  time-sync offset) under the request type ``BROADCAST`` and the message's type.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import gevent
import websocket
from gevent.event import AsyncResult

from engine.core import messages as m

from .member import MemberState

__all__ = ["EngineSocket", "RequestFailed"]


class RequestFailed(Exception):
    """The server answered with an error frame, a refusal, or not in time."""


class EngineSocket:
    """One member's connection to the gateway, driven from a locust user's greenlet."""

    def __init__(self, environment: Any, url: str, *, timeout: float = 10.0) -> None:
        self.environment = environment
        self.url = url
        self.timeout = timeout
        self.state = MemberState()
        self.ws: websocket.WebSocket | None = None
        self._reader: gevent.Greenlet | None = None
        self._pinger: gevent.Greenlet | None = None
        self._acks: dict[int, AsyncResult] = {}
        self._waiters: dict[str, list[AsyncResult]] = defaultdict(list)
        self.acked: list[m.Ack] = []
        """Every accepted ack, to check later against the audit stream."""
        self.sent: list[str] = []
        """Question ids of every answer sent (acked or not)."""

    # -- reporting

    def _fire(
        self,
        request_type: str,
        name: str,
        started: float,
        length: int = 0,
        exception: Exception | None = None,
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context={},
        )

    # -- connection

    def connect(self, token: str, *, name: str = "join") -> m.Welcome:
        """Open the socket with the token in the URL and wait for ``welcome``; a refusal
        (an ``error`` frame, or the server closing) is reported as a failed request."""
        started = time.perf_counter()
        waiter = self._expect("welcome")
        try:
            self.ws = websocket.create_connection(
                f"{self.url}?token={token}", timeout=self.timeout, enable_multithread=True
            )
            # the timeout bounds the handshake; the reader then waits as long as it takes
            self.ws.settimeout(None)
            self._reader = gevent.spawn(self._read)
            welcome = waiter.get(timeout=self.timeout)
            if not isinstance(welcome, m.Welcome):
                raise RequestFailed(f"join refused: {welcome!r}")
        except Exception as exc:
            self._fire("WS", name, started, exception=exc)
            self.close()
            raise
        self._fire("WS", name, started)
        self.send(self.state.ping())
        self._pinger = gevent.spawn(self._keep_alive)
        return welcome

    def _keep_alive(self, every: float = 25.0) -> None:
        """Time sync every *every* seconds, as docs/protocol.md asks of apps (it also keeps
        a member who only watches a live show from being closed as idle)."""
        while self.ws is not None:
            gevent.sleep(every)
            try:
                self.send(self.state.ping())
            except Exception:  # the reader notices a dead connection and fails the waiters
                return

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # the socket may already be gone; closing is best effort
                pass
            self.ws = None
        self._stop_greenlets()

    def _stop_greenlets(self) -> None:
        for greenlet in (self._reader, self._pinger):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)
        self._reader = self._pinger = None

    def drop(self) -> None:
        """Drop the connection abruptly, as a phone losing signal does (no close frame)."""
        if self.ws is not None and self.ws.sock is not None:
            self.ws.sock.close()
        self.ws = None
        self._stop_greenlets()

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.connected

    def send(self, frame: bytes) -> None:
        if self.ws is None:
            raise RequestFailed("not connected")
        self.ws.send(frame.decode(), opcode=websocket.ABNF.OPCODE_TEXT)

    def send_raw(self, data: str | bytes) -> None:
        """Send anything at all (abuse scenarios)."""
        if self.ws is None:
            raise RequestFailed("not connected")
        if isinstance(data, bytes):
            self.ws.send(data, opcode=websocket.ABNF.OPCODE_BINARY)
        else:
            self.ws.send(data)

    # -- request/response

    def _expect(self, kind: str) -> AsyncResult:
        result = AsyncResult()
        self._waiters[kind].append(result)
        return result

    def request(self, name: str, frame: bytes, expect: str) -> m.ServerMessage:
        """Send *frame* and wait for the next message of type *expect* (or an error)."""
        started = time.perf_counter()
        waiter = self._expect(expect)
        try:
            self.send(frame)
            reply = waiter.get(timeout=self.timeout)
            if isinstance(reply, m.Error):
                raise RequestFailed(f"{reply.code}: {reply.message}")
        except Exception as exc:
            self._fire("WS", name, started, exception=exc)
            raise
        self._fire("WS", name, started)
        assert not isinstance(reply, BaseException)
        return reply  # type: ignore[no-any-return]

    def answer(self, question: str, value: m.AnswerValue, *, name: str = "answer") -> m.Ack:
        """Answer and wait for the ack; a refusal is reported as a failure named by reason."""
        seq, frame = self.state.answer(question, value)
        self.sent.append(question)
        result = AsyncResult()
        self._acks[seq] = result
        started = time.perf_counter()
        try:
            self.send(frame)
            ack = result.get(timeout=self.timeout)
        except Exception as exc:
            self._acks.pop(seq, None)
            self._fire("WS", name, started, exception=exc)
            raise
        assert isinstance(ack, m.Ack)
        if ack.accepted:
            self._fire("WS", name, started)
        else:
            self._fire("WS", name, started, exception=RequestFailed(ack.reason or "refused"))
        return ack

    def wait_for(self, kind: str, timeout: float) -> m.ServerMessage | None:
        """The next message of type *kind*, or None after *timeout* seconds."""
        waiter = self._expect(kind)
        try:
            reply = waiter.get(timeout=timeout)
        except gevent.Timeout:
            if waiter in self._waiters[kind]:
                self._waiters[kind].remove(waiter)
            return None
        assert not isinstance(reply, BaseException)
        return reply  # type: ignore[no-any-return]

    # -- the reader greenlet

    def _read(self) -> None:
        ws = self.ws
        while ws is not None and ws.connected:
            try:
                frame = ws.recv()
            except Exception as exc:
                self._fail_waiters(exc)
                return
            if not frame:
                self._fail_waiters(RequestFailed("connection closed"))
                return
            try:
                msg, _latency, delivery = self.state.receive(frame)
            except Exception as exc:  # a frame we cannot decode is a failure, not a crash
                self.environment.events.request.fire(
                    request_type="WS",
                    name="decode",
                    response_time=0,
                    response_length=0,
                    exception=exc,
                    context={},
                )
                continue
            if delivery is not None:
                self.environment.events.request.fire(
                    request_type="BROADCAST",
                    name=delivery.kind,
                    response_time=max(0.0, delivery.delay_ms),
                    response_length=len(frame),
                    exception=None,
                    context={},
                )
            if isinstance(msg, m.Ack):
                if msg.accepted:
                    self.acked.append(msg)
                pending = self._acks.pop(msg.seq, None)
                if pending is not None:
                    pending.set(msg)
                continue
            kind = msg.__struct_config__.tag
            waiters = self._waiters.get(str(kind))
            if waiters:
                waiters.pop(0).set(msg)
            elif isinstance(msg, m.Error):
                # an error that answers a pending request goes to its oldest waiter
                for queue in self._waiters.values():
                    if queue:
                        queue.pop(0).set(msg)
                        break

    def _fail_waiters(self, exc: Exception) -> None:
        for queue in self._waiters.values():
            while queue:
                queue.pop(0).set_exception(exc)
        for result in self._acks.values():
            result.set_exception(exc)
        self._acks.clear()
