"""The audit stream: every accepted answer, in order; boards rebuilt from it.

``P:{C}:audit`` is a Redis stream the answer scripts append to (``audit`` in
``scoring/lua/_lib.lua``), one entry per accepted answer with the fields::

    m  member      q  question      n  attempt number (0 in live shows)
    c  choice      f  fraction      p  points          t  ms since open / attempt start
    at Redis time (ms)              pv province        u  unit
    a  the answer as given (its JSON text; absent in entries written before it was kept)

``c`` is the distribution bucket (``"a,c"`` for options a and c, ``"ha noi"`` for the text
"Hà Nội"); ``a`` the member's own answer (``["c","a"]``, ``"Hà Nội"``).

Entries with a field ``e`` are attempt events rather than answers: ``e=start`` (an
attempt began; the member is on the boards with 0 before any answer) and ``e=close``
(``t`` = the attempt's final time used: submitted - started, or deadline - started).
They are optional: without a close event an attempt's time used is its last answer's ``t``
(the rule for an open attempt).

:func:`replay` folds the stream into what the boards must hold (a pure fold,
:func:`fold`); :func:`compare` is the dry run (differences against the live keys; empty
when they agree); :func:`rebuild` writes the result under a fresh contest id.

A live answer is applied to the boards when its question closes (``close_question.lua``,
which records the last entry applied in ``P:{C}:meta`` ``applied``): :func:`compare` leaves
out the live answers after it (their question is still open), :func:`rebuild` counts them.

Live entries may also carry ``k`` (the distribution keys, a JSON list, when they are not
just ``c``) and ``s`` (``"<idx>:<streak>"`` of a fully correct answer in a show with a
streak bonus).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec

from question_bank.ids import ContestId, MemberId, QuestionId

from .errors import CorruptData, map_redis_errors
from .keys import DEFAULT_PREFIX, ContestKeys, ContestShards
from .leaderboard import composite
from .replies import text
from .scripts import AnyRedis

__all__ = [
    "AuditEntry",
    "Difference",
    "Rebuilt",
    "compare",
    "entries",
    "fold",
    "rebuild",
    "replay",
]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """Stream id (``<ms>-<seq>``)."""
    member: MemberId
    question: QuestionId
    attempt: int
    choice: str
    """The distribution bucket."""
    fraction: float
    points: int
    t: int
    at: int
    province: str
    unit: str
    event: str = ""
    """"" for an answer; ``start`` or ``close`` for attempt events."""
    answer: str = ""
    """The answer as the member gave it, as JSON text ("" if not recorded)."""
    keys: str = ""
    """Live: the distribution keys as a JSON list when they are not just ``choice``."""
    streak: str = ""
    """Live with a streak bonus: ``"<idx>:<streak>"`` of a fully correct answer."""


class Rebuilt(msgspec.Struct, kw_only=True):
    """What the boards hold according to the audit stream."""

    totals: dict[str, int]
    times: dict[str, int]
    where: dict[str, tuple[str, str]]
    """member -> (province, unit) of their latest entry."""
    unit_participants: dict[str, int]
    answers: int = 0


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    member: str
    expected: str | None
    """From the audit stream."""
    found: str | None
    """In the live key."""


def _entry(entry_id: Any, fields: dict[Any, Any]) -> AuditEntry:
    f = {text(k): text(v) for k, v in fields.items()}
    try:
        return AuditEntry(
            id=text(entry_id),
            member=MemberId(f["m"]),
            question=QuestionId(f.get("q", "")),
            attempt=int(f.get("n", "0")),
            choice=f.get("c", ""),
            fraction=float(f.get("f", "0")),
            points=int(f.get("p", "0")),
            t=int(f.get("t", "0")),
            at=int(f.get("at", "0")),
            province=f.get("pv", ""),
            unit=f.get("u", ""),
            event=f.get("e", ""),
            answer=f.get("a", ""),
            keys=f.get("k", ""),
            streak=f.get("s", ""),
        )
    except (KeyError, ValueError) as exc:
        raise CorruptData(f"audit entry {text(entry_id)}: {exc}") from exc


async def entries(
    redis: AnyRedis,
    contest: ContestId,
    prefix: str = DEFAULT_PREFIX,
    *,
    page: int = 10_000,
    shards: int = 1,
) -> AsyncIterator[AuditEntry]:
    """Every audit entry of *contest* in stream order, read in pages of *page*; of a
    member-sharded contest (*shards* > 1), every shard's stream, one after another (each
    member's entries are on one shard, in order)."""
    for keys in ContestShards(contest, prefix, shards).keys:
        async for entry in _stream(redis, keys.audit, page):
            yield entry


async def _stream(redis: AnyRedis, key: str, page: int = 10_000) -> AsyncIterator[AuditEntry]:
    """Every entry of the audit stream *key*, in pages of *page*."""
    start = "-"
    while True:
        with map_redis_errors():
            rows: Any = await redis.xrange(key, min=start, max="+", count=page)
        for entry_id, fields in rows:
            yield _entry(entry_id, fields)
        if len(rows) < page:
            return
        start = "(" + text(rows[-1][0])


def fold(stream: Iterable[AuditEntry]) -> Rebuilt:
    """Totals, times and places of every member from the audit entries (pure).

    Live (attempt 0): total = sum of points, time = sum of ``t``. Window: each attempt's
    score is the sum of its points and its time the close event's ``t`` or else its last
    answer's; the best attempt (higher score, then less time, then the earlier) counts.
    """
    live_total: dict[str, int] = {}
    live_time: dict[str, int] = {}
    att_score: dict[tuple[str, int], int] = {}
    att_time: dict[tuple[str, int], int] = {}
    att_closed: set[tuple[str, int]] = set()
    where: dict[str, tuple[str, str]] = {}
    first_unit: dict[str, str] = {}
    answers = 0
    for e in stream:
        where[e.member] = (e.province, e.unit)
        first_unit.setdefault(e.member, e.unit)
        if e.attempt == 0:
            if e.event:
                continue
            answers += 1
            live_total[e.member] = live_total.get(e.member, 0) + e.points
            live_time[e.member] = live_time.get(e.member, 0) + e.t
            continue
        key = (e.member, e.attempt)
        att_score.setdefault(key, 0)
        att_time.setdefault(key, 0)
        if e.event == "close":
            att_time[key] = e.t
            att_closed.add(key)
        elif not e.event:
            answers += 1
            att_score[key] += e.points
            if key not in att_closed:
                att_time[key] = max(att_time[key], e.t)
    totals = dict(live_total)
    times = dict(live_time)
    best: dict[str, tuple[int, int, int]] = {}
    for (member, n), score in att_score.items():
        candidate = (-score, att_time[(member, n)], n)
        if member not in best or candidate < best[member]:
            best[member] = candidate
    for member, (neg_score, used, _) in best.items():
        totals[member] = -neg_score
        times[member] = used
    participants: dict[str, int] = {}
    for unit in first_unit.values():
        if unit:
            participants[unit] = participants.get(unit, 0) + 1
    return Rebuilt(
        totals=totals,
        times=times,
        where=where,
        unit_participants=participants,
        answers=answers,
    )


async def replay(
    redis: AnyRedis,
    contest: ContestId,
    prefix: str = DEFAULT_PREFIX,
    *,
    applied_only: bool = False,
    shards: int = 1,
) -> Rebuilt:
    """Fold the contest's whole audit stream (*applied_only*: without the live answers not
    applied to the boards yet, those after ``P:{C}:meta`` ``applied``); of a sharded
    contest, every shard's."""
    kept: list[AuditEntry] = []
    for keys in ContestShards(contest, prefix, shards).keys:
        kept += await _applied(redis, keys, applied_only)
    return fold(kept)


async def _applied(redis: AnyRedis, k: ContestKeys, applied_only: bool) -> list[AuditEntry]:
    """The entries of one key set's stream (*applied_only*: up to its meta's ``applied``)."""
    applied = (0, 0)
    if applied_only:
        with map_redis_errors():
            last = await redis.hget(k.meta, "applied")
        applied = _stream_id(text(last)) if last is not None else (-1, -1)
    return [
        e
        async for e in _stream(redis, k.audit)
        if not applied_only or e.attempt or e.event or _stream_id(e.id) <= applied
    ]


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def compare(
    redis: AnyRedis, contest: ContestId, prefix: str = DEFAULT_PREFIX, *, shards: int = 1
) -> list[Difference]:
    """Dry run: every difference between the audit stream and the live keys (of a sharded
    contest: each shard's stream against that shard's keys)."""
    differences: list[Difference] = []
    for keys in ContestShards(contest, prefix, shards).keys:
        differences += await _compare(redis, keys)
    return differences


async def _compare(redis: AnyRedis, k: ContestKeys) -> list[Difference]:
    expected = fold(await _applied(redis, k, True))
    with map_redis_errors():
        totals = {text(m): text(v) for m, v in (await redis.hgetall(k.totals)).items()}
        times = {text(m): text(v) for m, v in (await redis.hgetall(k.times)).items()}
        ranked: Any = await redis.zrange(k.leaderboard, 0, -1, withscores=True)
        board = {text(m): str(int(s)) for m, s in ranked}
        units = {text(u): text(v) for u, v in (await redis.hgetall(k.unit_participants)).items()}
        sub_boards: dict[str, dict[str, str]] = {}
        for member, (province, unit) in expected.where.items():
            for sub, name in ((k.province_board, province), (k.unit_board, unit)):
                if not name:
                    continue
                key = sub(name)  # type: ignore[arg-type]
                score = await redis.zscore(key, member)
                sub_boards.setdefault(key, {})[member] = (
                    str(int(score)) if score is not None else ""
                )
    differences: list[Difference] = []

    def check(key: str, want: dict[str, str], have: dict[str, str]) -> None:
        for member in sorted(set(want) | set(have)):
            if want.get(member) != have.get(member):
                differences.append(
                    Difference(
                        key=key, member=member, expected=want.get(member), found=have.get(member)
                    )
                )

    check(k.totals, {m: str(v) for m, v in expected.totals.items()}, totals)
    check(k.times, {m: str(v) for m, v in expected.times.items()}, times)
    want_board = {
        m: str(composite(v, expected.times.get(m, 0))) for m, v in expected.totals.items()
    }
    check(k.leaderboard, want_board, board)
    check(k.unit_participants, {u: str(v) for u, v in expected.unit_participants.items()}, units)
    for key, found in sub_boards.items():
        want = {m: want_board[m] for m in found}
        check(key, want, {m: v for m, v in found.items() if v})
    return differences


async def rebuild(
    redis: AnyRedis,
    contest: ContestId,
    into: ContestId,
    prefix: str = DEFAULT_PREFIX,
    *,
    shards: int = 1,
) -> Rebuilt:
    """Write the boards the audit stream of *contest* (of all its *shards*) implies under
    contest id *into*, on one key set (one slot).

    The keys of *into* (totals, times, global/province/unit boards, unit participants) are
    replaced. Rebuilding into the contest itself is refused: compare first, then switch.
    """
    if into == contest:
        raise ValueError("rebuild into a fresh contest id, not the live one")
    result = await replay(redis, contest, prefix, shards=shards)
    k = ContestKeys(into, prefix)
    with map_redis_errors():
        stale = [key async for key in redis.scan_iter(match=k.pattern(), count=1000)]
        for i in range(0, len(stale), 500):
            await redis.delete(*stale[i : i + 500])
        members = list(result.totals)
        for i in range(0, len(members), 5000):
            async with redis.pipeline(transaction=False) as pipe:
                for member in members[i : i + 5000]:
                    score, used = result.totals[member], result.times.get(member, 0)
                    value = composite(score, used)
                    pipe.hset(k.totals, member, score)
                    pipe.hset(k.times, member, used)
                    pipe.zadd(k.leaderboard, {member: value})
                    province, unit = result.where.get(member, ("", ""))
                    if province:
                        pipe.zadd(f"{k.base}:lb:p:{province}", {member: value})
                    if unit:
                        pipe.zadd(f"{k.base}:lb:u:{unit}", {member: value})
                await pipe.execute()
        if result.unit_participants:
            counts: dict[Any, Any] = dict(result.unit_participants)
            await redis.hset(k.unit_participants, mapping=counts)
    return result
