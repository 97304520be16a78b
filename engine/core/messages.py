"""Every message of the member WebSocket protocol, both ways, in one module.

Each message is a JSON object in one text frame, tagged by its ``type`` field::

    client -> server   ClientMessage = Join | Ping | Answer | StartAttempt | Resume
                                       | Submit | LeaderboardRequest
    server -> client   ServerMessage = Welcome | Pong | Question | Ack | Reveal | Result
                                       | Leaderboard | AttemptState | StateChanged
                                       | Closed | Error

The protocol's version is :data:`PROTOCOL_VERSION` (``welcome.protocol``). Version 2 (the
live show's reveal carries the top of the board and the score histogram; no ``result``
per member and no leaderboard broadcast after a reveal) is described with version 1's
mapping in docs/protocol.md.

Rules (msgspec's schema evolution): every struct is frozen and keyword-only; a field added
later gets a default and goes at the end; fields are never reordered, renamed or removed.
Unknown fields from a newer client are ignored; an unknown ``type`` is refused with the
error code ``unknown_type``.

Times are integer milliseconds since the epoch on the server's clock (Redis ``TIME``);
``Ping``/``Pong`` let a client learn its offset from that clock (docs/protocol.md).

:data:`decode_client` and :data:`encode` are built once, as msgspec's performance tips
advise; the gateway, the conductor and the load tests all use these. A broadcast (question
released, reveal, leaderboard, state change) is encoded once by whoever publishes it and
relayed byte for byte by every gateway.

The correct answer of a question is in :class:`Reveal` only, which is sent after the
question closes; :class:`Question` carries no weight, feedback or accepted answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from question_bank.ids import ContestId, MemberId, OptionId, ProvinceId, QuestionId, UnitId
from question_bank.models import MAX_PREDICTION

__all__ = [
    "Ack",
    "AnswerRecord",
    "AnswerValue",
    "AttemptState",
    "ClientMessage",
    "Closed",
    "ContestInfo",
    "Error",
    "Join",
    "Leaderboard",
    "LeaderboardRequest",
    "MemberInfo",
    "OptionView",
    "Ping",
    "Pong",
    "Question",
    "Result",
    "Resume",
    "Reveal",
    "ServerMessage",
    "Standing",
    "StartAttempt",
    "StateChanged",
    "Submit",
    "Answer",
    "Welcome",
    "PROTOCOL_VERSION",
    "decode_client",
    "encode_scores",
    "rank_of",
    "decode_server",
    "encode",
    "encode_text",
    "client_decoder",
    "server_decoder",
    "encoder",
]

PROTOCOL_VERSION = 2
"""The member protocol's version, sent in :class:`Welcome` (docs/protocol.md, *Versions*)."""

Millis = Annotated[int, msgspec.Meta(ge=0)]
"""Milliseconds since the epoch (server clock), or a duration in milliseconds."""

AnswerValue = bool | int | float | str | list[str]
"""An answer, by question kind:

* ``single``: the chosen option id (``"b"``);
* ``multiple``: the chosen option ids (``["a", "c"]``);
* ``true_false``: ``true`` or ``false``;
* ``numeric``: a number (``3.14``);
* ``short_text``: the typed text (``"Hà Nội"``);
* ``prediction``: a whole number (``1200``).
"""

Kind = Literal["single", "multiple", "true_false", "numeric", "short_text", "prediction"]
Mode = Literal["live", "window"]
Scope = Literal["global", "province", "unit"]
BoardUpdates = Literal["answer", "attempt"]
"""When a window round's boards take a member's attempt (``engine.core.contest.BoardUpdates``)."""

_MAX_TEXT = 1000
_MAX_TOKEN = 4096
_MAX_ID = 128

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=_MAX_ID)]
ClientTime = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class _Message(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every wire message; ``type`` is the tag."""


# ----------------------------------------------------------------------------- client


class Join(_Message, tag="join", frozen=True, kw_only=True):
    """First message of a connection, unless the token is in the URL (``/ws?token=...``)."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=_MAX_TOKEN)]
    """The signed join token the member app's backend issued (HS256 JWT)."""


class Ping(_Message, tag="ping", frozen=True, kw_only=True):
    """Time sync: the server answers :class:`Pong` at once with its own clock."""

    t: ClientTime
    """The client's clock when it sent this, in ms (echoed back as is)."""


class Answer(_Message, tag="answer", frozen=True, kw_only=True):
    """An answer to the current live question, or to a question of the open attempt."""

    question: Id
    answer: AnswerValue
    seq: ClientTime = 0
    """A number the client picks (for example 1, 2, 3...); the :class:`Ack` carries it back."""


class StartAttempt(_Message, tag="start_attempt", frozen=True, kw_only=True):
    """Window rounds: start a new attempt (or get the open one back, as :class:`Resume`)."""


class Resume(_Message, tag="resume", frozen=True, kw_only=True):
    """Ask again for the member's state: the current question (live) or the open attempt."""


class Submit(_Message, tag="submit", frozen=True, kw_only=True):
    """Window rounds: hand the open attempt in, with the prediction if the round has one."""

    prediction: Annotated[int, msgspec.Meta(ge=0, le=MAX_PREDICTION)] | None = None


class LeaderboardRequest(_Message, tag="leaderboard", frozen=True, kw_only=True):
    """Ask for a leaderboard now: top entries and the member's own standing."""

    scope: Scope = "global"
    """``province`` and ``unit`` boards are the member's own province's or unit's."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


ClientMessage = Join | Ping | Answer | StartAttempt | Resume | Submit | LeaderboardRequest
"""Every message a member's app may send."""


# ----------------------------------------------------------------------------- server


class MemberInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Who the token says the member is."""

    id: MemberId
    name: str
    province: ProvinceId
    unit: UnitId


class ContestInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a member needs to know about the contest to show it."""

    id: ContestId
    title: str
    mode: Mode
    state: str
    """Lifecycle state: ``scheduled``, ``open`` (window), ``running`` (live), ``closed``,
    ``finalized`` (see docs/lifecycle.md)."""
    starts_at: Millis | None = None
    """Live shows: when the first question is released."""
    opens_at: Millis | None = None
    """Window rounds: when attempts may start."""
    closes_at: Millis | None = None
    """Window rounds: when the round closes (open attempts close then too)."""
    question_count: int = 0
    question_ms: Millis = 0
    """Live shows: time to answer each question."""
    attempt_ms: Millis = 0
    """Window rounds: time allowed for one attempt."""
    attempts_allowed: int = 0
    attempts_used: int = 0
    has_prediction: bool = False
    """Window rounds: :class:`Submit` carries a prediction."""
    prediction_question: QuestionId | None = None
    """Window rounds with a prediction: the question id to :class:`Answer` with the
    prediction during the attempt (a later answer replaces it; :class:`Submit` may too)."""
    board_updates: BoardUpdates | None = None
    """Window rounds: when the boards take a member's attempt (the round's
    ``window.board_updates``): ``answer`` with every answer, open attempts as they stand;
    ``attempt`` only when the attempt ends (submitted or expired). ``None`` for live shows;
    absent from a server before it was added (it did not say)."""


class Welcome(_Message, tag="welcome", frozen=True, kw_only=True):
    """Answer to a good join: the server's clock, who you are, the contest and its state."""

    server_time: Millis
    member: MemberInfo
    contest: ContestInfo
    ping_interval_ms: Millis = 0
    """The server pings this often; a client that does not answer is disconnected."""
    max_messages_per_second: float = 0.0
    protocol: int = PROTOCOL_VERSION
    """The protocol version the server speaks (:data:`PROTOCOL_VERSION`); absent: 1."""


class Pong(_Message, tag="pong", frozen=True, kw_only=True):
    """Answer to :class:`Ping`: offset = ``server_time - (t + now) / 2`` on receipt."""

    t: ClientTime
    """The client time the ping carried."""
    server_time: Millis


class OptionView(msgspec.Struct, frozen=True, kw_only=True):
    """An option as a member sees it: no weight, no feedback."""

    id: OptionId
    text: str


class AnswerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An answer the server has recorded for this member."""

    answer: AnswerValue
    points: int
    at: Millis
    """Milliseconds from the question's opening (live) or the attempt's start (window)."""


class Question(_Message, tag="question", frozen=True, kw_only=True):
    """A question to answer, without its answer.

    Live shows broadcast it to everyone when it is released (``options`` then in bank
    order); window attempts send each member their own draw with options in their own
    order. ``deadline`` is on the server's clock: show ``deadline - (now + offset)``.
    """

    id: QuestionId
    index: int
    """0-based position in the show or the attempt."""
    count: int
    """How many questions the show or attempt has."""
    kind: Kind
    text: str
    points: int
    options: list[OptionView] = []
    """Choice questions (``single``, ``multiple``); ``true_false`` has none."""
    opens: Millis = 0
    deadline: Millis = 0
    sent_at: Millis = 0
    """Server clock when the frame was encoded, to measure delivery delay."""
    media_url: str | None = None
    attempt: int = 0
    """Window rounds: the attempt number; 0 in live shows."""
    yours: AnswerRecord | None = None
    """On resume: the answer the member already gave (then a second answer is refused)."""


class Ack(_Message, tag="ack", frozen=True, kw_only=True):
    """The fate of one :class:`Answer`: accepted with its points, or refused and why."""

    question: QuestionId
    seq: int = 0
    accepted: bool
    reason: str | None = None
    """Why it was refused: ``late``, ``duplicate``, ``closed``, ``not_open``,
    ``eliminated``, ``not_in_attempt``, ``attempt_closed``, ``bad_answer``."""
    points: int = 0
    total: int = 0
    """The member's total score after this answer (live) or in the attempt (window)."""
    streak: int = 0
    """Live shows with a streak bonus: the member's run of fully correct answers ending with
    this one (0 for an answer that is not fully correct, or without a streak bonus)."""


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a leaderboard."""

    rank: int
    member: MemberId
    name: str = ""
    score: int
    time_ms: Millis = 0
    province: str = ""
    unit: str = ""


class Reveal(_Message, tag="reveal", frozen=True, kw_only=True):
    """After a live question closes: the correct answer and how everyone answered."""

    question: QuestionId
    index: int
    correct: AnswerValue | None
    """Same shape as :data:`AnswerValue` for the question's kind (for ``single`` the correct
    option id, for ``multiple`` the list of options with positive weight)."""
    correct_text: str = ""
    """The correct answer in words, for display."""
    distribution: dict[str, int] = {}
    """Choice (option id, ``true``/``false``) -> how many members chose it."""
    answered: int = 0
    explanation: str = ""
    sent_at: Millis = 0
    top: list[Standing] = []
    """Protocol 2: the top of the global board after this question (ties share a rank:
    score, then less time used), as the leaderboard broadcast carried in protocol 1."""
    of: int = 0
    """Protocol 2: how many members are ranked (have an accepted answer)."""
    scores: list[int] = []
    """Protocol 2: the histogram of every ranked member's total, highest first, flat and
    delta-coded: ``[s0, n0, d1, n1, d2, n2, ...]`` means ``n0`` members have total ``s0``,
    ``n1`` have ``s0 - d1``, ``n2`` have ``s0 - d1 - d2``... A member's rank is 1 + how
    many have a higher total (:func:`rank_of`)."""


class Result(_Message, tag="result", frozen=True, kw_only=True):
    """Protocol 1 only (no longer sent): to one member after a reveal, their points for the
    question, total and rank. Protocol 2 clients compute it from their ``ack`` and the
    :class:`Reveal` (docs/protocol.md, *Versions*)."""

    question: QuestionId
    points: int
    total: int
    rank: int | None
    """``None`` until the member has an accepted answer."""
    of: int = 0
    """How many members are ranked."""
    eliminated: bool = False
    streak: int = 0


class Leaderboard(_Message, tag="leaderboard", frozen=True, kw_only=True):
    """Top of a board, sent on request (protocol 1 also broadcast it after each reveal;
    protocol 2 puts the top in :class:`Reveal`)."""

    scope: Scope = "global"
    key: str = ""
    """The province or unit of a ``province``/``unit`` board; empty for ``global``."""
    top: list[Standing]
    you: Standing | None = None
    """The member's own row (requests only; a broadcast has none)."""
    of: int = 0
    at: Millis = 0


class AttemptState(_Message, tag="attempt", frozen=True, kw_only=True):
    """Window rounds: the member's attempt, whole (on start, resume and submit)."""

    attempt: int
    """Attempt number, 1 for the first."""
    state: Literal["open", "submitted", "expired"]
    started: Millis
    deadline: Millis
    server_time: Millis
    questions: list[Question]
    """The member's draw, in order, options in the member's order."""
    answers: dict[str, AnswerRecord] = {}
    """Question id -> the recorded answer."""
    score: int = 0
    answered: int = 0
    attempts_allowed: int = 0
    best_score: int | None = None
    prediction: int | None = None


class StateChanged(_Message, tag="state", frozen=True, kw_only=True):
    """The contest moved in its lifecycle (broadcast): ``running``, ``open``, ``closed``..."""

    state: str
    at: Millis = 0


class Closed(_Message, tag="closed", frozen=True, kw_only=True):
    """The contest is over: the member's final standing (``rank`` ``None`` if not ranked)."""

    state: str = "closed"
    rank: int | None = None
    score: int = 0
    time_ms: Millis = 0
    of: int = 0
    final: bool = False
    """``True`` once finalized (prediction tie-break applied); ranks may still move before."""


class Error(_Message, tag="error", frozen=True, kw_only=True):
    """The one error frame. ``code`` is one of :class:`engine.core.errors.ErrorCode`'s values."""

    code: str
    message: str = ""
    seq: int | None = None
    """The ``seq`` of the client message it refers to, when it had one."""
    retry_after_ms: int | None = None
    """``attempt_too_soon``: ms until the member may start again (else absent)."""


ServerMessage = (
    Welcome
    | Pong
    | Question
    | Ack
    | Reveal
    | Result
    | Leaderboard
    | AttemptState
    | StateChanged
    | Closed
    | Error
)
"""Every message the server may send."""


# ----------------------------------------------------------------------------- codecs

encoder = msgspec.json.Encoder()
client_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)

encode = encoder.encode
"""Encode any message to JSON bytes."""
decode_client = client_decoder.decode
"""Decode one client frame (``str`` or ``bytes``); raises ``msgspec.ValidationError`` /
``msgspec.DecodeError`` on bad input."""
decode_server = server_decoder.decode
"""Decode one server frame (clients, tests, load tests)."""


def encode_text(message: msgspec.Struct) -> str:
    """Encode a message as ``str``, for a client library that sends ``str`` as a text frame
    (the tests' websockets clients). The gateway does not use it: it writes :func:`encode`'s
    bytes as a text frame itself (``engine.gateway.frames.write_text``)."""
    return encoder.encode(message).decode()


def encode_scores(totals: dict[int, int]) -> list[int]:
    """The :attr:`Reveal.scores` histogram of *totals* (total -> members with it; zero
    counts left out): flat, highest total first, each total after the first as the
    difference from the one before."""
    out: list[int] = []
    previous: int | None = None
    for score in sorted((s for s, n in totals.items() if n > 0), reverse=True):
        out += [score if previous is None else previous - score, totals[score]]
        previous = score
    return out


def rank_of(scores: list[int], total: int) -> int:
    """A member's rank from a :attr:`Reveal.scores` histogram: 1 + the members with a
    higher total (equal totals share a rank: 1, 2, 2, 4)."""
    above = 0
    score: int | None = None
    for i in range(0, len(scores) - 1, 2):
        score = scores[i] if score is None else score - scores[i]
        if score <= total:
            break
        above += scores[i + 1]
    return above + 1
