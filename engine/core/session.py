"""One member's session, sans-I/O: frames and the time in, actions out.

The gateway owns the socket, Redis and the clock; a :class:`Session` owns the rules of one
connection: the join handshake, decoding and refusing frames, the message rate, the idle
and join deadlines, and which requests go on to the scoring core. It never awaits, never
reads a clock and never touches Redis, so its tests feed it frames and times and look at
what it returns. The model is the design of websockets' sans-I/O ``protocol.py``; the
gateway that drives a session serves its sockets with picows (:mod:`engine.gateway.server`).

Each call returns a list of actions for the gateway to carry out, in order::

    Send(message)         write this server message to the member
    Close(code, reason)   close the connection with this code (after the sends before it)
    Authenticate(token)   verify the join token and load the contest, then call
                          Session.joined(welcome) or Session.refused(error)
    Dispatch(request)     a request that needs Redis (answer, attempts, leaderboard);
                          the gateway answers it with Send actions of its own

States::

    CONNECTED --join--> JOINING --joined--> JOINED
        |                  |--refused--> CLOSED (or CONNECTED, if the refusal does not close)
        '--join deadline (CONNECTED only), flood, bad frames, idle (any state)--> CLOSED

The join deadline (``join_ms`` from the connection's opening) closes only a connection that
has sent no join (token in the URL or ``join`` frame) in time. Once a join is under way
(JOINING: the gateway is verifying the token) it is not closed for being slow: a busy
gateway must not discard work it has started. The idle deadline still bounds it.

:attr:`Session.deadline` is the next time (ms) the gateway must call
:meth:`Session.expire`; the gateway checks every session's deadline from one timer.
"""

from __future__ import annotations

import enum

import msgspec

from engine.core import messages as m
from engine.core.errors import CloseCode, ErrorCode, PeerError
from engine.core.limits import Limits, TokenBucket

__all__ = ["Action", "Authenticate", "Close", "Dispatch", "Send", "Session", "State"]


class Send(msgspec.Struct, frozen=True):
    message: m.ServerMessage


class Close(msgspec.Struct, frozen=True):
    code: int
    reason: str = ""


class Authenticate(msgspec.Struct, frozen=True):
    token: str


Request = m.Answer | m.StartAttempt | m.Resume | m.Submit | m.LeaderboardRequest


class Dispatch(msgspec.Struct, frozen=True):
    request: Request


Action = Send | Close | Authenticate | Dispatch


class State(enum.Enum):
    CONNECTED = "connected"
    JOINING = "joining"
    JOINED = "joined"
    CLOSED = "closed"


_REFUSED = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)
"""What the frame decoder raises for a frame it refuses. msgspec raises UnicodeDecodeError
for a binary frame with invalid UTF-8 in a string value (a text message never gets here
with invalid UTF-8: the gateway decodes it first, with picows'
``get_payload_as_utf8_text`` or its own reassembly of a fragmented one, and closes 1007),
and RecursionError for JSON nested deeper than Python's recursion limit (about 1000 ``[``
fit in a 4 KiB frame): both are bad input, not a crash."""

TOO_DEEP = "the frame's JSON is nested too deeply"


def classify(exc: Exception) -> ErrorCode:
    """The error code of a frame the decoder refused."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError) and text.endswith("at `$.type`"):
        return ErrorCode.UNKNOWN_TYPE
    return ErrorCode.BAD_MESSAGE


class Session:
    """The rules of one member's connection. See the module docstring."""

    __slots__ = (
        "bad_frames",
        "bucket",
        "deadline",
        "floods",
        "last_frame",
        "limits",
        "opened",
        "state",
        "welcome",
    )

    def __init__(self, limits: Limits, now: int) -> None:
        self.limits = limits
        self.state = State.CONNECTED
        self.bucket = TokenBucket(rate=limits.messages_per_second, burst=limits.burst, now=now)
        self.opened = now
        self.last_frame = now
        self.bad_frames = 0
        self.floods = 0
        self.welcome: m.Welcome | None = None
        self.deadline = now
        self._reset_deadline()

    # ------------------------------------------------------------------ events in

    def start(self, now: int, token: str | None = None) -> list[Action]:
        """The connection opened; *token* is the one from the URL query, if any."""
        if token is None:
            return []
        return self._join(token)

    def receive(self, frame: str | bytes, now: int) -> list[Action]:
        """A data frame arrived from the member."""
        if self.state is State.CLOSED:
            return []
        self.last_frame = now
        self._reset_deadline()
        if not self.bucket.take(now):
            self.floods += 1
            if self.floods > self.limits.flood_strikes:
                return self._close(CloseCode.FLOOD, "message rate limit exceeded")
            refused = m.Error(
                code=ErrorCode.RATE_LIMITED, message="too many messages", seq=_seq_of(frame)
            )
            return [Send(refused)]
        self.floods = 0
        try:
            message = m.decode_client(frame)
        except _REFUSED as exc:
            self.bad_frames += 1
            if self.bad_frames > self.limits.bad_frame_strikes:
                return self._close(CloseCode.BAD_PROTOCOL, "too many bad frames")
            text = TOO_DEEP if isinstance(exc, RecursionError) else str(exc)[:200]
            error = m.Error(code=classify(exc), message=text, seq=_seq_of(frame))
            return [Send(error)]
        self.bad_frames = 0
        return self._handle(message, now)

    def joined(self, welcome: m.Welcome, now: int) -> list[Action]:
        """The gateway verified the token and loaded the contest."""
        if self.state is not State.JOINING:
            return []
        self.state = State.JOINED
        self.welcome = welcome
        self._reset_deadline()
        return [Send(welcome)]

    def refused(self, error: PeerError) -> list[Action]:
        """The gateway refused the join: tell the member why, then close if it must."""
        if self.state is not State.JOINING:
            return []
        actions: list[Action] = [Send(m.Error(code=error.code, message=error.message))]
        if error.close is not None:
            return actions + self._close(error.close, error.code)
        self.state = State.CONNECTED
        self._reset_deadline()
        return actions

    def expire(self, now: int) -> list[Action]:
        """The gateway's timer: close the connection if a deadline has passed."""
        if self.state is State.CLOSED or now < self.deadline:
            return []
        if self.state is State.CONNECTED and now >= self._join_deadline():
            return self._close(CloseCode.BAD_PROTOCOL, "no join in time")
        if now >= self.last_frame + self.limits.idle_ms:
            return self._close(CloseCode.IDLE_TIMEOUT, "idle")
        self._reset_deadline()
        return []

    def closed(self) -> None:
        """The connection is gone (either side closed it)."""
        self.state = State.CLOSED

    # ------------------------------------------------------------------ internals

    def _handle(self, message: m.ClientMessage, now: int) -> list[Action]:
        match message:
            case m.Ping(t=t):
                return [Send(m.Pong(t=t, server_time=now))]
            case m.Join(token=token):
                if self.state is not State.CONNECTED:
                    return [Send(m.Error(code=ErrorCode.ALREADY_JOINED))]
                return self._join(token)
            case _ if self.state is not State.JOINED:
                seq = message.seq if isinstance(message, m.Answer) else None
                return [Send(m.Error(code=ErrorCode.NOT_JOINED, seq=seq))]
            case _:
                return [Dispatch(message)]

    def _join(self, token: str) -> list[Action]:
        self.state = State.JOINING
        self._reset_deadline()
        return [Authenticate(token)]

    def _close(self, code: int, reason: str) -> list[Action]:
        self.state = State.CLOSED
        return [Close(code, reason)]

    def _join_deadline(self) -> int:
        return self.opened + self.limits.join_ms

    def _reset_deadline(self) -> None:
        idle = self.last_frame + self.limits.idle_ms
        if self.state is not State.CONNECTED:
            self.deadline = idle
        else:
            self.deadline = min(idle, self._join_deadline())


class _Seq(msgspec.Struct):
    """The one field of a refused frame the error echoes back."""

    seq: int | None = None


_decode_seq = msgspec.json.Decoder(_Seq).decode


def _seq_of(frame: str | bytes) -> int | None:
    """The ``seq`` of a frame that was refused before it was read (rate limit) or could
    not be read as a message (wrong fields, unknown type), so the app knows which of its
    answers got no ``ack``; ``None`` if the frame is not a JSON object with an integer
    ``seq``."""
    try:
        return _decode_seq(frame).seq
    except _REFUSED:
        return None
