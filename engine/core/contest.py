"""Contest definitions: what an organiser sends (:class:`ContestSpec`), what is stored
(:class:`Contest`), and the pure checks a definition must pass.

A contest is created by one organisation from one of its banks, pinned to a bank version
at creation (a later edit of the bank never changes a running contest). Its mode is
``live`` (a synchronised show: :class:`LiveTiming`) or ``window`` (a self-paced attempt
between ``opens_at`` and ``closes_at``: :class:`WindowTiming`); exactly the matching one of
``live`` / ``window`` is given. Times are integer milliseconds since the epoch; durations
named ``*_seconds`` are whole seconds.

Eligibility: empty lists let every member in; otherwise a member whose province is in
``provinces`` *or* whose unit is in ``units`` may join. A provincial organisation's contest
with no eligibility given is limited to that organisation's province.

:func:`check_spec` lists every problem of a definition at once (field + message), given
the pinned bank; :class:`~engine.contests.store.ContestStore` raises
:class:`~engine.core.errors.ContestInvalid` with them. Storage, transitions and the scheduler's
queries live in :mod:`engine.contests.store`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from engine.core import lifecycle
from engine.core.lifecycle import Event, Mode, State
from question_bank.draws import DrawRules, check_rules
from question_bank.ids import (
    STORED_ID_PATTERN,
    BankId,
    ContestId,
    MemberId,
    OrgId,
    ProvinceId,
    QuestionId,
    UnitId,
)
from question_bank.models import Bank, Prediction
from scoring.keys import MAX_SHARDS

__all__ = [
    "AttemptSeconds",
    "AttemptsAllowed",
    "BoardUpdates",
    "CONTEST_ID_PATTERN",
    "Contest",
    "ContestSpec",
    "CountedAttempt",
    "Eligibility",
    "LiveTiming",
    "MODE_RULES",
    "ModeRules",
    "Problem",
    "ScoringRules",
    "SecondsBetweenAttempts",
    "Shards",
    "TieBreakKey",
    "Transition",
    "WindowRanking",
    "WindowTiming",
    "check_spec",
    "located",
]

CONTEST_ID_PATTERN = STORED_ID_PATTERN
"""Contest ids become part of Redis key names (the hash tag): no ``:``, ``{`` or ``}``."""

Millis = Annotated[int, msgspec.Meta(ge=0)]
Shards = Annotated[int, msgspec.Meta(ge=1, le=MAX_SHARDS)]
"""Member shards of a contest (docs/scoring.md, "Sharded live shows"): 1..32."""
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class LiveTiming(_Struct, frozen=True):
    """A live show: questions released to everyone at once from ``starts_at``."""

    starts_at: Millis
    """When the first question is released (ms)."""
    question_seconds: Annotated[int, msgspec.Meta(ge=1, le=600)] = 10
    """Time to answer a question, unless the question sets its own ``time_limit``."""
    reveal_seconds: Annotated[int, msgspec.Meta(ge=0, le=600)] = 5
    """How long the reveal (correct answer, distribution) is shown."""
    leaderboard_seconds: Annotated[int, msgspec.Meta(ge=0, le=600)] = 0
    """How long the leaderboard is shown before the next question (0: with the reveal)."""
    elimination: bool = False
    """A wrong or missing answer eliminates the member, who then only watches."""


CountedAttempt = Literal["best", "last", "first"]
"""Which attempt of a member counts (``scoring.ranking.Counts``)."""
TieBreakKey = Literal["earliest_start", "fewest_attempts"]
"""A further tie-break key (``scoring.ranking.TieBreak``)."""
AttemptSeconds = Annotated[int, msgspec.Meta(ge=10, le=86_400)]
"""Time for one attempt of a window round (10 s to a day)."""
AttemptsAllowed = Annotated[int, msgspec.Meta(ge=0, le=100)]
"""Attempts a member may start in a window round (0: no limit)."""
SecondsBetweenAttempts = Annotated[int, msgspec.Meta(ge=0, le=604_800)]
"""Least delay between a member's attempts (0 to a week)."""
BoardUpdates = Literal["answer", "attempt"]
"""When a window round's best attempts and boards are written (docs/scoring.md, "Board
updates per attempt")."""


class WindowRanking(_Struct, frozen=True):
    """How a window round's final ranking is made (docs/scoring.md, "Ranking rules")."""

    counts: CountedAttempt = "best"
    """The attempt that counts: ``best`` (score, then less time used), ``last`` or ``first``."""
    tie_break: Annotated[list[TieBreakKey], msgspec.Meta(max_length=2)] = []
    """Further keys after score, prediction distance, time used and submission time, in
    order: ``earliest_start`` (the counted attempt's start), ``fewest_attempts`` (attempts
    taken to first reach the counted score)."""


class WindowTiming(_Struct, frozen=True):
    """A window round: each member takes a timed attempt between ``opens_at`` and ``closes_at``."""

    opens_at: Millis
    closes_at: Millis
    attempt_seconds: AttemptSeconds = 600
    """Time for one attempt; an attempt also ends when the round closes."""
    attempts_allowed: AttemptsAllowed = 1
    """Attempts a member may start (``ranking.counts`` says which counts); 0 for no limit."""
    prediction_question: QuestionId | None = None
    """A ``prediction`` question of the bank asked at submission, for the final tie-break."""
    ranking: WindowRanking = WindowRanking()
    """Which attempt counts and the further tie-break keys (defaults: the best, none)."""
    min_seconds_between_attempts: SecondsBetweenAttempts = 0
    """Least time from the end of a member's attempt (submitted, or its deadline) to their
    next start; an earlier start is refused ``attempt_too_soon`` (0: no delay)."""
    board_updates: BoardUpdates = "answer"
    """When the member's best attempt, totals, times and the boards are written:
    ``answer`` (the default) after every answer, so the boards show open attempts as they
    stand; ``attempt`` once, when the attempt ends (submitted, expired, or cut by the
    round's close), so a member's open attempt is not on the boards and they appear when
    their first attempt ends. The final standings are the same either way; ``attempt``
    costs Redis less per answer (docs/scoring.md, "Board updates per attempt")."""


class ScoringRules(_Struct, frozen=True):
    """Scoring options (docs/scoring.md, rule 2). Speed points and streaks are for live shows."""

    speed: bool = False
    """``round(P * fraction * (1 - (t / T) / 2))``: full points at once, half at the deadline."""
    streak_step: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    """Bonus points per consecutive fully correct answer (0: no streak bonus)."""
    streak_cap: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 0
    """Most steps of bonus a streak earns."""


class Eligibility(_Struct, frozen=True):
    """Who may take part: everyone, or members of the listed provinces or units."""

    provinces: list[ProvinceId] = []
    units: list[UnitId] = []

    @property
    def restricted(self) -> bool:
        return bool(self.provinces or self.units)

    def allows(self, province: ProvinceId | str, unit: UnitId | str) -> bool:
        """Whether a member of *province* and *unit* may join."""
        if not self.restricted:
            return True
        return province in self.provinces or unit in self.units


class ContestSpec(_Struct, frozen=True):
    """A contest as an organiser writes it (``POST /api/contests``, ``PUT`` while a draft)."""

    title: Title
    mode: Mode
    bank: BankId
    draw: DrawRules
    id: ContestId | None = None
    """Chosen by the organiser, or generated (``c-`` and 12 hex digits)."""
    description: Annotated[str, msgspec.Meta(max_length=5_000)] = ""
    bank_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """The bank version to pin; ``None``: the bank's latest version at creation."""
    live: LiveTiming | None = None
    window: WindowTiming | None = None
    scoring: ScoringRules = ScoringRules()
    eligibility: Eligibility = Eligibility()
    shards: Shards = 1
    """Member shards of a live show (1-32): each shard's answers, totals and boards on its
    own Redis Cluster slot, so one show's answers spread over several primaries. 1 (the
    default): the whole contest on one slot. Window rounds have one shard."""


class Transition(_Struct, frozen=True):
    """One lifecycle move, as recorded in the contest's history."""

    event: Event
    state: State
    """The state it led to."""
    at: Millis


class Contest(_Struct, frozen=True):
    """A stored contest: the organiser's definition, pinned, with its owner and state."""

    id: ContestId
    org: OrgId
    title: str
    mode: Mode
    bank: BankId
    bank_version: int
    draw: DrawRules
    description: str = ""
    live: LiveTiming | None = None
    window: WindowTiming | None = None
    scoring: ScoringRules = ScoringRules()
    eligibility: Eligibility = Eligibility()
    state: State = "draft"
    created_at: Millis = 0
    updated_at: Millis = 0
    history: list[Transition] = []
    campaign: ContestId | None = None
    """The campaign this contest is a round (or the final) of (engine.core.campaign)."""
    shards: Shards = 1
    """Member shards (:attr:`ContestSpec.shards`)."""

    @property
    def starts_at(self) -> int:
        """When members are let in: a live show's start or a window round's ``opens_at``."""
        if self.live is not None:
            return self.live.starts_at
        assert self.window is not None
        return self.window.opens_at

    @property
    def closes_at(self) -> int | None:
        """When a window round closes; ``None`` for a live show (its conductor closes it)."""
        return None if self.window is None else self.window.closes_at

    def due_event(self, now_ms: int) -> Event | None:
        """The timed lifecycle event due at *now_ms* (:func:`engine.core.lifecycle.due_event`)."""
        return lifecycle.due_event(
            self.mode, self.state, now_ms, starts_at=self.starts_at, closes_at=self.closes_at
        )

    def allows(self, province: ProvinceId | str, unit: UnitId | str) -> bool:
        return self.eligibility.allows(province, unit)

    def owned_by(self, org: OrgId | str) -> bool:
        return self.org == org

    def draw_seed_member(self, member: MemberId | str) -> str:
        """The member part of a draw seed: the member in a window round, ``*`` in a live
        show (one draw for everyone, ``draw_seed(contest, "*", 0)``)."""
        return "*" if MODE_RULES[self.mode].one_draw else str(member)

    def meta(self) -> dict[str, str]:
        """The fields of the contest's ``meta`` hash that the scoring scripts and gateways
        read (strings, as Redis stores them). Scripts add their own runtime fields
        (``current``, ``closed_idx`` ...), which these never overwrite."""
        fields = {
            "org": self.org,
            "mode": self.mode,
            "state": self.state,
            "bank": self.bank,
            "bank_version": str(self.bank_version),
            "speed": "1" if self.scoring.speed else "0",
            "streak_step": str(self.scoring.streak_step),
            "streak_cap": str(self.scoring.streak_cap),
            "eliminate": "1" if self.live is not None and self.live.elimination else "0",
            "starts_at": str(self.starts_at),
        }
        if self.window is not None:
            fields["closes_at"] = str(self.window.closes_at)
            fields["attempt_ms"] = str(self.window.attempt_seconds * 1000)
            fields["attempts_allowed"] = str(self.window.attempts_allowed)
            fields["board_updates"] = self.window.board_updates
        if self.live is not None:
            fields["question_ms"] = str(self.live.question_seconds * 1000)
        return fields


class ModeRules(msgspec.Struct, frozen=True, kw_only=True):
    """What the pure checks need to know of a contest mode."""

    timing: Literal["live", "window"]
    """The definition's field that holds its timing."""
    one_draw: bool
    """Everyone gets the same draw (seed member ``*``), not a draw of their own."""
    speed_and_streak: bool
    """Speed points and streak bonuses apply."""
    shards: bool
    """Members may be spread over several shards (``shards`` > 1)."""


MODE_RULES: dict[Mode, ModeRules] = {
    "live": ModeRules(timing="live", one_draw=True, speed_and_streak=True, shards=True),
    "window": ModeRules(timing="window", one_draw=False, speed_and_streak=False, shards=False),
}
"""The pure rules of each mode (the I/O behaviour of a mode is :mod:`engine.contests.modes`)."""


Problem = dict[str, Any]
"""One problem of a definition: ``{"field": "window.closes_at", "message": "..."}``."""


def _problem(field: str, message: str) -> Problem:
    return {"field": field, "message": message}


_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def located(error: msgspec.ValidationError) -> Problem:
    """msgspec's ``Expected `int`, got `str` - at `$.window.opens_at``` as a problem with its
    field (``window.opens_at``) and message apart."""
    text = str(error)
    match = _AT_PATH.search(text)
    return _problem(match.group(1) if match else "", _AT_PATH.sub("", text))


def check_spec(
    spec: ContestSpec,
    bank: Bank | None,
    *,
    now_ms: int,
    bank_problem: str | None = None,
) -> list[Problem]:
    """Every problem of *spec* given its pinned *bank* (``None`` if not found: say why in
    *bank_problem*), at time *now_ms*. An empty list means the definition can run."""
    problems: list[Problem] = []
    if spec.id is not None and not CONTEST_ID_PATTERN.fullmatch(spec.id):
        problems.append(
            _problem("id", "must be 1-64 letters, digits, '_', '.' or '-', starting with one")
        )
    rules = MODE_RULES[spec.mode]
    if getattr(spec, rules.timing) is None:
        problems.append(_problem(spec.mode, f"a {spec.mode} contest needs its {spec.mode} timing"))
    for other in (r.timing for r in MODE_RULES.values() if r is not rules):
        if getattr(spec, other) is not None:
            problems.append(_problem(other, f"a {spec.mode} contest has no {other} timing"))
    if spec.window is not None:
        window = spec.window
        if window.closes_at <= window.opens_at:
            problems.append(_problem("window.closes_at", "must be after opens_at"))
        if window.closes_at <= now_ms:
            problems.append(_problem("window.closes_at", "is already past"))
        keys = window.ranking.tie_break
        for i, key in enumerate(keys):
            if key in keys[:i]:
                problems.append(
                    _problem(f"window.ranking.tie_break[{i}]", f"{key!r} is listed twice")
                )
        gap = window.min_seconds_between_attempts
        if gap and window.attempts_allowed == 1:
            problems.append(
                _problem("window.min_seconds_between_attempts", "needs attempts_allowed above 1")
            )
        elif gap * 1000 >= window.closes_at - window.opens_at > 0:
            problems.append(
                _problem("window.min_seconds_between_attempts", "is not shorter than the window")
            )
    if spec.shards > 1 and not rules.shards:
        problems.append(
            _problem("shards", f"a {spec.mode} contest has one shard (sharding is for live shows)")
        )
    if not rules.speed_and_streak and (spec.scoring.speed or spec.scoring.streak_step):
        problems.append(
            _problem("scoring", "speed points and streak bonuses apply to live shows only")
        )
    if spec.scoring.streak_step and not spec.scoring.streak_cap:
        problems.append(_problem("scoring.streak_cap", "must be at least 1 with a streak_step"))
    if bank is None:
        problems.append(_problem("bank", bank_problem or f"no bank {spec.bank!r}"))
        return problems
    for shortfall in check_rules(bank, spec.draw):
        problems.append(_problem("draw", shortfall))
    if spec.window is not None and spec.window.prediction_question is not None:
        qid = spec.window.prediction_question
        question = next((q for q in bank.questions if q.id == qid), None)
        if question is None:
            problems.append(
                _problem("window.prediction_question", f"no question {qid!r} in the bank")
            )
        elif not isinstance(question, Prediction):
            problems.append(
                _problem("window.prediction_question", f"question {qid!r} is not a prediction")
            )
    return problems
