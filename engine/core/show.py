"""The live show's phase logic, free of I/O: state and the time in, steps and a wake-up out.

A live show is a sequence of phases per question ``i``::

    pending ──(starts_at)──▶ question 0 ──(deadline)──▶ reveal 0 ──▶ leaderboard 0
        ──▶ question 1 ──▶ ... ──▶ leaderboard n-1 ──▶ done

:class:`ShowState` is what the conductor keeps in Redis: the question index, the phase,
when the phase began and ends (ms, Redis clock) and whether the phase's *entry steps* are
done. Entering a phase has steps (open the question and broadcast it; close it, then
broadcast the reveal; broadcast the leaderboard; end the show), listed by
:func:`entry_steps` from the state alone. :func:`decide` is the whole logic:

* entry steps not done yet (a new phase, or a conductor died in the middle of them) →
  do them again: every step is idempotent, keyed by ``(index, phase)``;
* the phase has not ended → sleep until it does;
* it has ended → the next phase (:func:`successor`) and its entry steps.

The driver (:mod:`engine.live.conductor`) writes the new state *before* doing the steps and
marks them done after, both by compare-and-set on ``(index, phase)`` under its lease, so a
conductor that takes over from a dead one resumes with no question skipped or repeated.
The correct answer is only ever in the reveal's steps, and :class:`CloseQuestion` comes
first among them.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from question_bank.ids import QuestionId

__all__ = [
    "CloseQuestion",
    "EndShow",
    "OpenQuestion",
    "Phase",
    "PublishLeaderboard",
    "PublishQuestion",
    "PublishReveal",
    "ShowPlan",
    "ShowState",
    "Step",
    "Tick",
    "decide",
    "entry_steps",
    "initial_state",
    "successor",
]


class Phase(StrEnum):
    PENDING = "pending"
    """Before the first question."""
    QUESTION = "question"
    """Question ``index`` is open until ``ends`` (its deadline)."""
    REVEAL = "reveal"
    """Question ``index`` is closed; its correct answer and distribution are shown."""
    LEADERBOARD = "leaderboard"
    """The leaderboard after question ``index``."""
    DONE = "done"
    """The show is over."""


class ShowPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the show will do, fixed when it starts (stored with its state in Redis)."""

    starts_at: int
    """When question 0 is released (ms)."""
    questions: list[QuestionId]
    """The questions, in order."""
    question_ms: list[int]
    """Time to answer each question (ms), same length as ``questions``."""
    reveal_ms: int = 5_000
    """How long the reveal is shown."""
    leaderboard_ms: int = 0
    """How long the leaderboard is shown before the next question (0: no separate pause)."""
    elimination: bool = False
    """A wrong or missing answer eliminates the member (closing a question eliminates)."""

    def __post_init__(self) -> None:
        if len(self.questions) != len(self.question_ms):
            raise ValueError("questions and question_ms must have the same length")
        if any(ms <= 0 for ms in self.question_ms) or self.reveal_ms < 0:
            raise ValueError("question times must be positive and reveal time not negative")
        if self.leaderboard_ms < 0:
            raise ValueError("leaderboard time must not be negative")

    @property
    def count(self) -> int:
        return len(self.questions)


class ShowState(msgspec.Struct, frozen=True, kw_only=True):
    """Where the show is; one Redis hash, written only by the conductor holding the lease."""

    index: int = -1
    """Current question, 0-based; -1 before the first."""
    phase: Phase = Phase.PENDING
    since: int = 0
    """When this phase began (ms). For a question: when it opened."""
    ends: int = 0
    """When this phase ends (ms). For a question: its deadline."""
    entered: bool = False
    """Whether this phase's entry steps are all done."""

    @property
    def key(self) -> tuple[int, Phase]:
        """What the steps of this phase are keyed by."""
        return (self.index, self.phase)


class OpenQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """Open question ``index`` for answers from ``opens`` to ``deadline`` (idempotent)."""

    index: int
    question: QuestionId
    opens: int
    deadline: int


class PublishQuestion(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    question: QuestionId
    opens: int
    deadline: int


class CloseQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """Close question ``index`` (refuse further answers; eliminate when the plan says so)."""

    index: int
    question: QuestionId
    eliminate: bool


class PublishReveal(msgspec.Struct, frozen=True, kw_only=True):
    """Broadcast the correct answer and the distribution; only after :class:`CloseQuestion`."""

    index: int
    question: QuestionId


class PublishLeaderboard(msgspec.Struct, frozen=True, kw_only=True):
    index: int


class EndShow(msgspec.Struct, frozen=True, kw_only=True):
    """The show is over: close the contest and tell everyone."""


Step = OpenQuestion | PublishQuestion | CloseQuestion | PublishReveal | PublishLeaderboard | EndShow


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`decide` asks the driver to do now."""

    state: ShowState | None
    """The state to write before the steps (``None``: keep the stored one)."""
    steps: tuple[Step, ...] = ()
    """Steps to do now, in order, then mark ``state`` entered."""
    wake_at: int | None = None
    """When to call :func:`decide` again (ms); ``None``: the show is over."""


def initial_state(plan: ShowPlan) -> ShowState:
    """The state of a show not started yet: pending until ``starts_at``."""
    return ShowState(index=-1, phase=Phase.PENDING, since=0, ends=plan.starts_at, entered=True)


def _question(plan: ShowPlan, index: int, now: int) -> ShowState:
    return ShowState(
        index=index, phase=Phase.QUESTION, since=now, ends=now + plan.question_ms[index]
    )


def successor(plan: ShowPlan, state: ShowState, now: int) -> ShowState:
    """The phase after *state*, beginning at *now*."""
    match state.phase:
        case Phase.PENDING:
            if plan.count == 0:
                return ShowState(index=-1, phase=Phase.DONE, since=now, ends=now)
            return _question(plan, 0, now)
        case Phase.QUESTION:
            return ShowState(
                index=state.index, phase=Phase.REVEAL, since=now, ends=now + plan.reveal_ms
            )
        case Phase.REVEAL:
            return ShowState(
                index=state.index,
                phase=Phase.LEADERBOARD,
                since=now,
                ends=now + plan.leaderboard_ms,
            )
        case Phase.LEADERBOARD:
            if state.index + 1 < plan.count:
                return _question(plan, state.index + 1, now)
            return ShowState(index=state.index, phase=Phase.DONE, since=now, ends=now)
        case Phase.DONE:
            return state
    raise AssertionError(state.phase)  # pragma: no cover


def entry_steps(plan: ShowPlan, state: ShowState) -> tuple[Step, ...]:
    """The steps of entering *state*'s phase; each is idempotent for its ``(index, phase)``."""
    match state.phase:
        case Phase.QUESTION:
            qid = plan.questions[state.index]
            return (
                OpenQuestion(
                    index=state.index, question=qid, opens=state.since, deadline=state.ends
                ),
                PublishQuestion(
                    index=state.index, question=qid, opens=state.since, deadline=state.ends
                ),
            )
        case Phase.REVEAL:
            qid = plan.questions[state.index]
            return (
                CloseQuestion(index=state.index, question=qid, eliminate=plan.elimination),
                PublishReveal(index=state.index, question=qid),
            )
        case Phase.LEADERBOARD:
            return (PublishLeaderboard(index=state.index),)
        case Phase.DONE:
            return (EndShow(),)
        case Phase.PENDING:
            return ()
    raise AssertionError(state.phase)  # pragma: no cover


def decide(plan: ShowPlan, state: ShowState, now: int) -> Tick:
    """What to do at *now* (ms, Redis clock) in *state*."""
    if not state.entered:
        return Tick(
            state=state,
            steps=entry_steps(plan, state),
            wake_at=None if state.phase is Phase.DONE else state.ends,
        )
    if state.phase is Phase.DONE:
        return Tick(state=None, wake_at=None)
    if now < state.ends:
        return Tick(state=None, wake_at=state.ends)
    new = successor(plan, state, now)
    return Tick(
        state=new,
        steps=entry_steps(plan, new),
        wake_at=None if new.phase is Phase.DONE else new.ends,
    )
