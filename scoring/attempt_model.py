"""Window attempts as data: what the attempt scripts store and return, decoded.

The attempt hash ``P:{C}:att:<member>:<n>`` (rule 4 of docs/scoring.md) becomes an
:class:`AttemptState`; a member's best attempt (``P:{C}:best``, rule 5) a
:class:`BestAttempt`. :mod:`scoring.attempts` runs the scripts and re-exports every name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import msgspec

from question_bank.checking import Answer
from question_bank.ids import MemberId, OptionId, QuestionId

from .errors import CorruptData
from .replies import text

__all__ = [
    "AttemptState",
    "BestAttempt",
    "DrawnQuestion",
    "RecordedAnswer",
    "StartOutcome",
    "StartStatus",
    "SubmitOutcome",
    "SubmitStatus",
    "decode_attempt",
    "decode_best",
    "time_used_of",
]

StartStatus = Literal[
    "started",
    "resumed",
    "latest",
    "no_attempt",
    "not_open",
    "round_closed",
    "attempts_used",
    "too_soon",
    "redraw",
]
"""What :meth:`Attempts.start` / :meth:`Attempts.resume` did.

* ``started``: a new attempt began; ``resumed``: the open attempt is returned instead;
* ``latest``: (resume) the latest attempt, open or closed; ``no_attempt``: none yet;
* ``not_open`` / ``round_closed``: the round has not opened / has closed (Redis clock);
* ``attempts_used``: the member has started every attempt the round allows;
* ``too_soon``: the previous attempt ended less than ``min_gap_ms`` ago
  (:attr:`StartOutcome.wait_ms` says how long to wait);
* ``redraw``: the draw was made for another attempt number than the next one (another
  connection of the member started one meanwhile): draw for ``attempts_used + 1`` again.
"""

SubmitStatus = Literal[
    "submitted", "predicted", "no_attempt", "attempt_closed", "late", "prediction_required"
]
"""What :meth:`Attempts.submit` / :meth:`Attempts.predict` did (see attempt_submit.lua)."""

_STARTED_OK: Final = frozenset({"started", "resumed", "latest"})


class DrawnQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """One question of a member's draw, as the attempt stores it."""

    id: QuestionId
    points: int
    """The question's points ``P`` (the answer script computes from it)."""
    options: list[OptionId] = []
    """Option ids in the member's shuffled order (choice questions), for resume."""


class RecordedAnswer(msgspec.Struct, frozen=True):
    """An answer stored in an attempt (``a:<qid>``): rule 4 of docs/scoring.md."""

    c: str
    """The answer's distribution bucket (the choice key)."""
    f: float
    """Graded fraction."""
    p: int
    """Points earned."""
    t: int
    """Ms from the attempt's start."""
    a: Answer | None = None
    """The answer as the member gave it, in its own shape (``None``: recorded without it)."""


class AttemptState(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt exactly as stored, with the remaining time by Redis's clock."""

    member: MemberId
    number: int
    state: Literal["open", "submitted", "expired"]
    started: int
    deadline: int
    now: int
    """Redis time when this state was read (ms)."""
    questions: list[QuestionId]
    """The draw, in order."""
    options: dict[QuestionId, list[OptionId]]
    points: dict[QuestionId, int]
    answers: dict[QuestionId, RecordedAnswer]
    score: int = 0
    correct: int = 0
    answered: int = 0
    last: int | None = None
    submitted: int | None = None
    prediction: int | None = None
    time_used: int = 0
    """Rule 5: last - started while open; submitted - started; deadline - started."""

    @property
    def remaining_ms(self) -> int:
        """Ms left to answer (0 once closed or past the deadline)."""
        return max(0, self.deadline - self.now) if self.state == "open" else 0


class StartOutcome(msgspec.Struct, frozen=True, kw_only=True):
    status: StartStatus
    attempt: AttemptState | None = None
    """The attempt started, resumed or latest; ``None`` on a refusal."""
    attempts_used: int = 0
    """Attempts the member has started (including this one)."""
    now: int = 0
    best: BestAttempt | None = None
    """The member's best attempt after the call (read in the same script)."""
    wait_ms: int = 0
    """``too_soon``: ms until the member may start again."""

    @property
    def ok(self) -> bool:
        return self.status in _STARTED_OK


class SubmitOutcome(msgspec.Struct, frozen=True, kw_only=True):
    status: SubmitStatus
    attempt: AttemptState | None = None
    """The member's latest attempt after the call (``None`` if they have none)."""
    now: int = 0
    best: BestAttempt | None = None
    """The member's best attempt after the call (read in the same script)."""

    @property
    def ok(self) -> bool:
        return self.status in ("submitted", "predicted")


class BestAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """A member's best attempt (``P:{C}:best``), rule 5."""

    n: int
    score: int
    time_used: int
    submitted: int = 0
    """0 if the attempt was not submitted (expired, or still open)."""
    prediction: int | None = None
    correct: int = 0
    nq: int = 0


_best_decoder = msgspec.json.Decoder(BestAttempt, strict=False)
_answer_decoder = msgspec.json.Decoder(RecordedAnswer, strict=False)
_list_decoder = msgspec.json.Decoder(list[QuestionId])
_opt_decoder = msgspec.json.Decoder(dict[QuestionId, list[OptionId]])


def _int(fields: Mapping[str, str], name: str) -> int | None:
    value = fields.get(name)
    return None if value is None or value == "" else int(float(value))


def decode_best(data: bytes | str) -> BestAttempt:
    """Decode one ``P:{C}:best`` value (cjson writes an empty prediction as ``null``)."""
    try:
        return _best_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptData(f"bad best attempt {data!r}: {exc}") from exc


def time_used_of(
    state: str, started: int, deadline: int, last: int | None, submitted: int | None
) -> int:
    """Rule 5's time used: submitted - started; expired deadline - started; open
    last - started (``attempt_time_used`` in _lib.lua)."""
    if state == "submitted":
        return (submitted or started) - started
    if state == "expired":
        return deadline - started
    return (last or started) - started


def decode_attempt(member: MemberId, number: int, now: int, flat: Sequence[Any]) -> AttemptState:
    """An :class:`AttemptState` from the attempt hash as a flat field/value list."""
    items = [v.decode() if type(v) is bytes else text(v) for v in flat]
    fields = dict(zip(items[::2], items[1::2], strict=False))  # a lone last item: left out
    answers: dict[QuestionId, RecordedAnswer] = {}
    points: dict[QuestionId, int] = {}
    try:
        for name, value in fields.items():
            if name[:2] == "a:":
                answers[QuestionId(name[2:])] = _answer_decoder.decode(value)
            elif name[:4] == "pts:":
                points[QuestionId(name[4:])] = int(value)
        state = fields["state"]
        if state not in ("open", "submitted", "expired"):
            raise ValueError(f"unknown state {state!r}")
        started, deadline = int(fields["started"]), int(fields["deadline"])
        last, submitted = _int(fields, "last"), _int(fields, "submitted")
        used = time_used_of(state, started, deadline, last, submitted)
        return AttemptState(
            member=member,
            number=number,
            state=state,  # type: ignore[arg-type]
            started=started,
            deadline=deadline,
            now=now,
            questions=_list_decoder.decode(fields["qs"]),
            options=_opt_decoder.decode(fields.get("opt", "{}")),
            points=points,
            answers=answers,
            score=int(fields.get("score", 0)),
            correct=int(fields.get("correct", 0)),
            answered=int(fields.get("answered", 0)),
            last=last,
            submitted=submitted,
            prediction=_int(fields, "prediction"),
            time_used=used,
        )
    except (KeyError, ValueError, msgspec.DecodeError) as exc:
        raise CorruptData(f"bad attempt {member}:{number}: {exc}") from exc
