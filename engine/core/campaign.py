"""Campaigns: one contest of an organisation run as many rounds (the pure half).

A campaign (say, 23 weekly rounds and a live final) has an id, a title, its owner, who may
take part (:class:`~engine.core.contest.Eligibility`), a description and rules text, prize
rules as data (:class:`PrizeRule`) and a time zone (the organisation's, by default
``Asia/Ho_Chi_Minh``) in which its times are read and shown. Its rounds are ordinary
contests (window rounds, optionally a live final) created through the contest store with
``Contest.campaign`` naming the campaign.

This module holds the model and its checks (:func:`check_campaign`), the weekly rule that
schedules every round at once (:func:`weekly_windows`, DST-safe through :mod:`zoneinfo`),
the reading and showing of times (:func:`parse_instant`, :func:`local_iso`) and the
campaign report (:func:`build_report`): every figure computed from plain facts, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from engine.core.contest import (
    CONTEST_ID_PATTERN,
    AttemptsAllowed,
    AttemptSeconds,
    BoardUpdates,
    Contest,
    Eligibility,
    LiveTiming,
    Problem,
    ScoringRules,
    SecondsBetweenAttempts,
    Shards,
    WindowRanking,
    WindowTiming,
)
from engine.core.lifecycle import Mode, State
from question_bank.draws import DrawRules
from question_bank.ids import BankId, ContestId, MemberId, OrgId, ProvinceId, QuestionId, UnitId

__all__ = [
    "DEFAULT_ZONE",
    "WEEKDAYS",
    "AreaRow",
    "Campaign",
    "CampaignReport",
    "CampaignSpec",
    "FinalSpec",
    "MemberFacts",
    "MemberRow",
    "PrizeRule",
    "RoundFacts",
    "RoundReport",
    "ScheduleSpec",
    "WeeklyRule",
    "CampaignView",
    "RoundView",
    "build_report",
    "campaign_view",
    "check_campaign",
    "check_schedule",
    "local_iso",
    "parse_instant",
    "round_id",
    "schedule_problems",
    "weekly_windows",
    "zone_of",
]

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MAX_ROUNDS = 260
"""Most rounds one schedule creates (five years of weekly rounds)."""

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Instant = int | str
"""A time as epoch milliseconds, or ISO 8601 text with a zone (``2027-01-04T08:00+07:00``)."""
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class _Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class PrizeRule(_Struct, frozen=True):
    """A prize rule, as data: the *top* best of each *per* (round, or the whole campaign)
    within *scope* (everyone, or each province or unit) win *prize*."""

    top: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    per: Literal["round", "campaign"] = "round"
    scope: Literal["global", "province", "unit"] = "global"
    prize: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CampaignSpec(_Struct, frozen=True):
    """A campaign as an organiser writes it (``POST /api/campaigns``)."""

    title: Title
    id: ContestId | None = None
    """Chosen by the organiser, or generated (``k-`` and 12 hex digits)."""
    description: Text = ""
    rules: Text = ""
    """The rules text shown to members."""
    prizes: list[PrizeRule] = []
    eligibility: Eligibility = Eligibility()
    zone: str | None = None
    """An IANA time zone; ``None``: :data:`DEFAULT_ZONE`."""


class Campaign(_Struct, frozen=True):
    """A stored campaign."""

    id: ContestId
    org: OrgId
    title: str
    description: str = ""
    rules: str = ""
    prizes: list[PrizeRule] = []
    eligibility: Eligibility = Eligibility()
    zone: str = DEFAULT_ZONE
    created_at: int = 0

    def owned_by(self, org: OrgId | str) -> bool:
        return self.org == org


class WeeklyRule(_Struct, frozen=True):
    """Every week, open on *opens_on* at *opens_at* and close at the next *closes_on*
    *closes_at* (local time of the campaign's zone), *weeks* times, starting with the first
    *opens_on* on or after *starting* (a local date ``YYYY-MM-DD``, or an instant)."""

    weeks: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROUNDS)]
    starting: Instant
    opens_on: Weekday = "monday"
    opens_at: str = "08:00"
    closes_on: Weekday = "sunday"
    closes_at: str = "22:00"


class FinalSpec(_Struct, frozen=True):
    """The campaign's live final: :class:`~engine.core.contest.LiveTiming` with its start
    as epoch ms or ISO 8601 with a zone, and its member *shards*."""

    starts_at: Instant
    question_seconds: Annotated[int, msgspec.Meta(ge=1, le=600)] = 10
    reveal_seconds: Annotated[int, msgspec.Meta(ge=0, le=600)] = 5
    leaderboard_seconds: Annotated[int, msgspec.Meta(ge=0, le=600)] = 0
    elimination: bool = False
    shards: Shards = 1
    """Member shards of the final (1-32), as a live contest's
    :attr:`~engine.core.contest.ContestSpec.shards`."""
    scoring: ScoringRules = ScoringRules()
    """Speed points and streak bonuses of the final, as a live contest's
    :attr:`~engine.core.contest.ContestSpec.scoring` (the weekly rounds have neither)."""

    def timing(self, starts_at: int) -> LiveTiming:
        return LiveTiming(
            starts_at=starts_at,
            question_seconds=self.question_seconds,
            reveal_seconds=self.reveal_seconds,
            leaderboard_seconds=self.leaderboard_seconds,
            elimination=self.elimination,
        )


class ScheduleSpec(_Struct, frozen=True):
    """``POST /api/campaigns/{id}/rounds``: every round at once, each a window contest from
    *bank* with *draw* and the round rules below (a window contest's
    :class:`~engine.core.contest.WindowTiming` without its times, same defaults);
    optionally a live *final*; *schedule*: move each to ``scheduled``."""

    rule: WeeklyRule
    bank: BankId
    draw: DrawRules
    bank_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    attempt_seconds: AttemptSeconds = 600
    attempts_allowed: AttemptsAllowed = 1
    prediction_question: QuestionId | None = None
    """A ``prediction`` question of the pinned bank version, asked in every round: the
    final ranking's prediction tie-break."""
    ranking: WindowRanking = WindowRanking()
    """Which attempt counts and the further tie-break keys, in every round."""
    min_seconds_between_attempts: SecondsBetweenAttempts = 0
    board_updates: BoardUpdates = "answer"
    title: Annotated[str, msgspec.Meta(max_length=150)] = ""
    """Each round's title before its number (default: the campaign's title)."""
    final: FinalSpec | None = None
    final_draw: DrawRules | None = None
    """The live final's draw (default: *draw*)."""
    schedule: bool = True

    def window(self, opens_at: int, closes_at: int) -> WindowTiming:
        """A round's window: its times and the spec's round rules."""
        return WindowTiming(
            opens_at=opens_at,
            closes_at=closes_at,
            attempt_seconds=self.attempt_seconds,
            attempts_allowed=self.attempts_allowed,
            prediction_question=self.prediction_question,
            ranking=self.ranking,
            min_seconds_between_attempts=self.min_seconds_between_attempts,
            board_updates=self.board_updates,
        )


def schedule_problems(problems: list[Problem], spec: ScheduleSpec, *, final: bool) -> list[Problem]:
    """A round's contest problems (:func:`~engine.core.contest.check_spec`) located in
    *spec*: a window round's ``window.ranking.tie_break[1]`` is the spec's
    ``ranking.tie_break[1]``; the live final's ``draw`` is ``final_draw`` when it has its own,
    its ``live.*`` and ``shards`` are ``final.*``."""
    located = []
    for problem in problems:
        field = str(problem.get("field", ""))
        head, dot, rest = field.partition(".")
        if not final and head == "window" and dot:
            field = rest
        elif final and head == "live" and dot:
            field = f"final.{rest}"
        elif final and (field == "shards" or head == "scoring"):
            field = f"final.{field}"
        elif final and field == "draw" and spec.final_draw is not None:
            field = "final_draw"
        located.append({**problem, "field": field})
    return located


def _problem(field: str, message: str) -> Problem:
    return {"field": field, "message": message}


def zone_of(name: str) -> ZoneInfo | None:
    """The IANA zone *name*, or ``None`` if there is none by that name."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def check_campaign(spec: CampaignSpec) -> list[Problem]:
    """Every problem of *spec* (field + message); empty if it can be stored."""
    problems: list[Problem] = []
    if spec.id is not None and not CONTEST_ID_PATTERN.fullmatch(spec.id):
        problems.append(
            _problem("id", "must be 1-64 letters, digits, '_', '.' or '-', starting with one")
        )
    elif spec.id is not None and len(spec.id) > 56:
        problems.append(_problem("id", "must be at most 56 characters (its rounds add '-r123')"))
    if spec.zone is not None and zone_of(spec.zone) is None:
        problems.append(_problem("zone", f"{spec.zone!r} is not an IANA time zone"))
    return problems


def parse_instant(value: Instant, zone: ZoneInfo, *, field: str) -> int | Problem:
    """*value* (epoch ms, ISO 8601 with a zone, or a local date ``YYYY-MM-DD`` read as its
    midnight in *zone*) as epoch ms, or the problem with it."""
    if isinstance(value, int):
        if value < 0:
            return _problem(field, "must be epoch milliseconds >= 0")
        return value
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=zone)
        else:
            moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return _problem(field, f"{value!r} is not ISO 8601 (2027-01-04T08:00+07:00) or epoch ms")
    if moment.tzinfo is None:
        return _problem(field, f"{value!r} has no zone: add one (+07:00, Z)")
    return int(moment.timestamp() * 1000)


def local_iso(ms: int, zone: ZoneInfo) -> str:
    """Epoch ms *ms* as ISO 8601 in *zone*, with its offset (``2027-01-04T08:00:00+07:00``)."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat(timespec="seconds")


def _clock(text: str) -> dt.time | None:
    match = _CLOCK.fullmatch(text)
    return None if match is None else dt.time(int(match.group(1)), int(match.group(2)))


def _local_ms(day: dt.date, at: dt.time, zone: ZoneInfo) -> int:
    """The instant of local *day* *at* in *zone*. A time skipped by a DST change (the gap)
    is read with the offset before the change, as :mod:`zoneinfo` does (fold 0)."""
    return int(dt.datetime.combine(day, at, tzinfo=zone).timestamp() * 1000)


def check_schedule(rule: WeeklyRule, zone: ZoneInfo) -> list[Problem]:
    """The problems of *rule* in *zone* (empty: :func:`weekly_windows` can run)."""
    problems: list[Problem] = []
    for name in ("opens_at", "closes_at"):
        if _clock(getattr(rule, name)) is None:
            problems.append(_problem(f"rule.{name}", "must be a local time HH:MM (24 h)"))
    start = parse_instant(rule.starting, zone, field="rule.starting")
    if isinstance(start, dict):
        problems.append(start)
    return problems


def weekly_windows(rule: WeeklyRule, zone: ZoneInfo) -> list[tuple[int, int]]:
    """``(opens_at, closes_at)`` in epoch ms of each of the *rule*'s weeks in *zone*.

    Round *k* opens on the *k*-th *opens_on* on or after the starting day, at *opens_at*
    local time (whatever the offset that day: a DST change moves the instant, not the local
    time); it closes at the first *closes_on* *closes_at* after that, so at most a week
    later and never after the next round opens. Call :func:`check_schedule` first.
    """
    opens_clock, closes_clock = _clock(rule.opens_at), _clock(rule.closes_at)
    start = parse_instant(rule.starting, zone, field="rule.starting")
    if opens_clock is None or closes_clock is None or isinstance(start, dict):
        raise ValueError("check_schedule() first: the rule has problems")
    first = dt.datetime.fromtimestamp(start / 1000, tz=zone).date()
    first += dt.timedelta(days=(WEEKDAYS.index(rule.opens_on) - first.weekday()) % 7)
    span = (WEEKDAYS.index(rule.closes_on) - WEEKDAYS.index(rule.opens_on)) % 7
    if span == 0 and closes_clock <= opens_clock:
        span = 7
    windows = []
    for week in range(rule.weeks):
        day = first + dt.timedelta(weeks=week)
        opens = _local_ms(day, opens_clock, zone)
        closes = _local_ms(day + dt.timedelta(days=span), closes_clock, zone)
        windows.append((opens, closes))
    return windows


def round_id(campaign: ContestId | str, number: int) -> ContestId:
    """The contest id of a campaign's round *number* (1-based): ``<campaign>-r01``."""
    return ContestId(f"{campaign}-r{number:02d}")


class RoundView(msgspec.Struct, frozen=True, kw_only=True):
    """One round as a campaign shows it: times in epoch ms and in the campaign's zone."""

    id: ContestId
    title: str
    mode: Mode
    state: State
    opens_at: int
    """A window round's opening, a live final's start (ms)."""
    closes_at: int | None
    opens_local: str
    closes_local: str | None
    window: WindowTiming | None = None
    """A window round's window: its times again, its attempts and round rules (prediction
    question, ranking, delay between attempts, board updates); ``None`` for a live final."""


class CampaignView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /api/campaigns/{id}``: the campaign and its rounds with their states."""

    campaign: Campaign
    rounds: list[RoundView]


def campaign_view(campaign: Campaign, rounds: list[Contest]) -> CampaignView:
    """*campaign* with *rounds* (its contests), times shown in the campaign's zone."""
    zone = zone_of(campaign.zone) or ZoneInfo(DEFAULT_ZONE)
    return CampaignView(
        campaign=campaign,
        rounds=[
            RoundView(
                id=c.id,
                title=c.title,
                mode=c.mode,
                state=c.state,
                opens_at=c.starts_at,
                closes_at=c.closes_at,
                opens_local=local_iso(c.starts_at, zone),
                closes_local=None if c.closes_at is None else local_iso(c.closes_at, zone),
                window=c.window,
            )
            for c in rounds
        ],
    )


# ---------------------------------------------------------------------- the report


class MemberFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One member's part in one round: who they are and how many attempts they started."""

    member: MemberId
    name: str = ""
    province: ProvinceId = ProvinceId("")
    unit: UnitId = UnitId("")
    attempts: int = 0


class RoundFacts(msgspec.Struct, frozen=True, kw_only=True):
    round: ContestId
    members: list[MemberFacts] = []


class AreaRow(msgspec.Struct, frozen=True, kw_only=True):
    """Participation of one province (``unit`` empty) or one unit."""

    province: ProvinceId
    unit: UnitId = UnitId("")
    registered: int = 0
    """Registered members (a province: the sum over its units); 0 if unknown."""
    participants: int = 0
    """Distinct members who started at least one attempt."""
    attempts: int = 0
    participation_rate: float | None = None
    """participants / registered, or ``None`` when registered is 0."""


class RoundReport(msgspec.Struct, frozen=True, kw_only=True):
    round: ContestId
    """``total`` for the whole campaign."""
    participants: int
    attempts: int
    provinces: list[AreaRow]
    units: list[AreaRow]


class MemberRow(msgspec.Struct, frozen=True, kw_only=True):
    member: MemberId
    name: str
    province: ProvinceId
    unit: UnitId
    rounds: list[ContestId]
    """The rounds the member took part in, in campaign order."""
    attempts: int


class CampaignReport(msgspec.Struct, frozen=True, kw_only=True):
    campaign: ContestId
    rounds: list[RoundReport]
    total: RoundReport
    members: list[MemberRow]


def _rate(participants: int, registered: int) -> float | None:
    return round(participants / registered, 4) if registered else None


def _round_report(
    name: ContestId,
    members: list[MemberFacts],
    units: dict[UnitId, tuple[ProvinceId, int]],
) -> RoundReport:
    by_unit: dict[tuple[ProvinceId, UnitId], tuple[set[MemberId], int]] = {}
    by_province: dict[ProvinceId, tuple[set[MemberId], int]] = {}
    for facts in members:
        seen, attempts = by_unit.get((facts.province, facts.unit), (set(), 0))
        by_unit[(facts.province, facts.unit)] = (seen | {facts.member}, attempts + facts.attempts)
        seen, attempts = by_province.get(facts.province, (set(), 0))
        by_province[facts.province] = (seen | {facts.member}, attempts + facts.attempts)
    province_registered: dict[ProvinceId, int] = {}
    for province, count in units.values():
        province_registered[province] = province_registered.get(province, 0) + count
    unit_rows = []
    for (province, unit), (seen, attempts) in sorted(by_unit.items()):
        registered = units[unit][1] if unit in units and units[unit][0] == province else 0
        unit_rows.append(
            AreaRow(
                province=province,
                unit=unit,
                registered=registered,
                participants=len(seen),
                attempts=attempts,
                participation_rate=_rate(len(seen), registered),
            )
        )
    province_rows = []
    for province, (seen, attempts) in sorted(by_province.items()):
        registered = province_registered.get(province, 0)
        province_rows.append(
            AreaRow(
                province=province,
                registered=registered,
                participants=len(seen),
                attempts=attempts,
                participation_rate=_rate(len(seen), registered),
            )
        )
    return RoundReport(
        round=name,
        participants=len({f.member for f in members}),
        attempts=sum(f.attempts for f in members),
        provinces=province_rows,
        units=unit_rows,
    )


def build_report(
    campaign: ContestId,
    rounds: list[RoundFacts],
    units: dict[UnitId, tuple[ProvinceId, int]],
    *,
    province: ProvinceId | None = None,
) -> CampaignReport:
    """Participants and attempts per province and unit, per round and in total, with the
    participation rate against *units*' registered members (unit -> (province, members)),
    and each member's rounds. A member counts in the province and unit of their latest
    round. *province*: only that province's members (a provincial organisation's slice)."""
    latest: dict[MemberId, MemberFacts] = {}
    for facts in rounds:
        for seen in facts.members:
            latest[seen.member] = seen
    if province is not None:
        units = {u: v for u, v in units.items() if v[0] == province}
    kept = [
        RoundFacts(
            round=facts.round,
            members=[
                msgspec.structs.replace(
                    m, province=latest[m.member].province, unit=latest[m.member].unit
                )
                for m in facts.members
                if province is None or latest[m.member].province == province
            ],
        )
        for facts in rounds
    ]
    everyone = [m for facts in kept for m in facts.members]
    members = []
    for member in sorted({m.member for m in everyone}):
        who = latest[member]
        members.append(
            MemberRow(
                member=member,
                name=who.name,
                province=who.province,
                unit=who.unit,
                rounds=[f.round for f in kept if any(m.member == member for m in f.members)],
                attempts=sum(m.attempts for m in everyone if m.member == member),
            )
        )
    return CampaignReport(
        campaign=campaign,
        rounds=[_round_report(f.round, f.members, units) for f in kept],
        total=_round_report(ContestId("total"), everyone, units),
        members=members,
    )
