"""The final ranking's tie-break chain as pure functions (used by :mod:`scoring.finalize`).

Window rounds::

    score (desc)
    -> |prediction - true figure| (asc; no prediction ranks after every prediction; not
       used when the round has no prediction question: ``truth=None``)
    -> time used (asc)
    -> submitted at (asc; never submitted ranks after every submission)
    -> the round's further keys, in the order the organiser lists them (optional):
       ``earliest_start`` (the counted attempt's start, asc) and
       ``fewest_attempts`` (attempts taken to first reach the counted score, asc)
    -> member id (asc, code point order): orders the listing only, never the rank

Which attempt counts is the round's choice (:data:`Counts`, :func:`counted_attempt`):
``best`` (the default), ``last`` or ``first``, as Moodle's grading methods.

Members equal on every key of the chain share a rank (1, 2, 2, 4). Live shows use the same
functions with no prediction and no submission time: score, then time used.

For speed the first four keys are packed into one integer per member (:func:`head_key`),
so a million members sort as one ``list.sort()`` of ints (:func:`rank_order`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from operator import eq
from typing import Final, Literal

import msgspec

from question_bank.models import PredictionMeasure

from .attempt_model import BestAttempt

__all__ = [
    "AttemptFigures",
    "Counts",
    "Entry",
    "TieBreak",
    "attempts_to_reach",
    "counted_attempt",
    "distance_packable",
    "entry_from",
    "entry_of",
    "extend_heads",
    "group_ties",
    "head_key",
    "heads_of",
    "packable",
    "rank_entries",
    "rank_order",
    "summary_of",
    "true_figure",
    "undistanced_heads",
    "with_distances",
]

_SCORE_BITS: Final = 32
_DIST_BITS: Final = 41
_TIME_BITS: Final = 41
_SUB_BITS: Final = 43
_NO_DISTANCE: Final = (1 << _DIST_BITS) - 1
_NEVER: Final = (1 << _SUB_BITS) - 1
_START_BITS: Final = 43
_REACHED_BITS: Final = 32

Counts = Literal["best", "last", "first"]
"""Which of a member's attempts counts: the best (score desc, then time used asc, then the
earlier attempt, as ``refresh_best`` in _lib.lua), the last started, or the first."""

TieBreak = Literal["earliest_start", "fewest_attempts"]
"""A further key of the chain, after the submission time."""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One member's figures going into the ranking."""

    member: str
    score: int
    time_used: int
    prediction: int | None = None
    submitted: int = 0
    """Ms since the epoch; 0 if never submitted."""
    attempt: int = 0
    """The counted attempt's number (the best by default; 0 in live shows)."""
    correct: int = 0
    nq: int = 0
    started: int = 0
    """The counted attempt's start, ms since the epoch (0: not read)."""
    reached: int = 0
    """The number of the first attempt that scored at least the counted score (0: not read)."""


class AttemptFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt's figures, as the attempt hash ``P:{C}:att:<member>:<n>`` holds them."""

    n: int
    score: int
    time_used: int
    started: int = 0
    submitted: int = 0
    prediction: int | None = None
    correct: int = 0
    nq: int = 0


def _better(x: AttemptFigures, y: AttemptFigures) -> bool:
    """``better`` of _lib.lua: higher score, then less time used, then the earlier attempt."""
    if x.score != y.score:
        return x.score > y.score
    if x.time_used != y.time_used:
        return x.time_used < y.time_used
    return x.n < y.n


def counted_attempt(attempts: Sequence[AttemptFigures], counts: Counts) -> AttemptFigures | None:
    """The attempt that counts under *counts* (``None`` without attempts)."""
    if not attempts:
        return None
    if counts == "last":
        return max(attempts, key=lambda a: a.n)
    if counts == "first":
        return min(attempts, key=lambda a: a.n)
    best = attempts[0]
    for a in attempts[1:]:
        if _better(a, best):
            best = a
    return best


def attempts_to_reach(attempts: Sequence[AttemptFigures], score: int) -> int:
    """The number of the first attempt that scored at least *score* (0 if none did)."""
    return min((a.n for a in attempts if a.score >= score), default=0)


def entry_of(member: str, attempts: Sequence[AttemptFigures], counts: Counts) -> Entry | None:
    """A member's :class:`Entry`: the counted attempt's figures, its start and the attempts
    taken to reach its score (``None`` without attempts)."""
    a = counted_attempt(attempts, counts)
    if a is None:
        return None
    return entry_from(member, a, started=a.started, reached=attempts_to_reach(attempts, a.score))


def entry_from(
    member: str, a: AttemptFigures | BestAttempt, *, started: int = 0, reached: int = 0
) -> Entry:
    """The :class:`Entry` of *member* whose counted attempt is *a*."""
    return Entry(
        member=member,
        score=a.score,
        time_used=a.time_used,
        prediction=a.prediction,
        submitted=a.submitted,
        attempt=a.n,
        correct=a.correct,
        nq=a.nq,
        started=started,
        reached=reached,
    )


def summary_of(e: Entry) -> BestAttempt:
    """The figures of *e* ranked, as the :class:`BestAttempt` ``P:{C}:final`` stores."""
    return BestAttempt(
        n=e.attempt,
        score=e.score,
        time_used=e.time_used,
        submitted=e.submitted,
        prediction=e.prediction,
        correct=e.correct,
        nq=e.nq,
    )


def extend_heads(
    heads: Sequence[int], entries: Sequence[Entry], tie_break: Sequence[TieBreak]
) -> list[int]:
    """*heads* (:func:`heads_of`) with the further keys of *tie_break* appended, in order,
    below every bit of the first four: they only order members the first four tie.

    ``earliest_start``: the counted attempt's start (43 bits; 0, unknown, ranks last);
    ``fewest_attempts``: :attr:`Entry.reached` (32 bits; 0, unknown, ranks last)."""
    out = list(heads)
    for key in tie_break:
        if key == "earliest_start":
            bits, top = _START_BITS, (1 << _START_BITS) - 1
            values = [e.started for e in entries]
        else:
            bits, top = _REACHED_BITS, (1 << _REACHED_BITS) - 1
            values = [e.reached for e in entries]
        out = [
            (h << bits) | (_clamp(v, bits) if v > 0 else top)
            for h, v in zip(out, values, strict=True)
        ]
    return out


def true_figure(
    entries: Sequence[Entry] | Sequence[BestAttempt], measure: PredictionMeasure, completed: int
) -> int:
    """The true figure: see the module docstring; *completed* is ``SCARD P:{C}:done``."""
    if measure == "completed":
        return completed
    if measure == "participants":
        return len(entries)
    return sum(1 for e in entries if e.nq > 0 and e.correct == e.nq)


def _clamp(x: int, bits: int) -> int:
    top = (1 << bits) - 1
    return 0 if x < 0 else top if x > top else x


def head_key(
    score: int, prediction: int | None, truth: int | None, time_used: int, submitted: int
) -> int:
    """The first four keys of the chain packed into one int: smaller ranks first.

    ``(2**32 - 1 - score, distance, time_used, submitted)`` in 32 + 41 + 41 + 43 bits:
    exact for scores below 2**32, distances and times below 2**41 - 1 (predictions are at
    most 10**12), submission times below 2**43 - 1 ms (year 2248). No prediction (with a
    prediction question) takes the largest distance; never submitted the largest time.
    """
    if truth is None:
        distance = 0
    elif prediction is None:
        distance = _NO_DISTANCE
    else:
        distance = min(abs(prediction - truth), _NO_DISTANCE - 1)
    sub = _clamp(submitted, _SUB_BITS) if submitted > 0 else _NEVER
    key = (1 << _SCORE_BITS) - 1 - _clamp(score, _SCORE_BITS)
    key = (key << _DIST_BITS) | distance
    key = (key << _TIME_BITS) | _clamp(time_used, _TIME_BITS)
    return (key << _SUB_BITS) | sub


def packable(scores: Sequence[int], times: Sequence[int], submitted: Sequence[int]) -> bool:
    """Whether :func:`head_key` packs every figure as it is (no clamping), so the heads can
    be built in one pass (:func:`undistanced_heads`): ``0 <= score <= 2**32 - 1``,
    ``0 <= time used <= 2**41 - 1`` and ``0 <= submitted <= 2**43 - 2`` (0, never
    submitted, is packed as ``2**43 - 1``). The three sequences are one member each, in
    the same order; empty ones are packable."""
    if not scores:
        return True
    # min/max of a list run at C speed: a million members are checked in milliseconds
    return (
        0 <= min(scores)
        and max(scores) < (1 << _SCORE_BITS)
        and 0 <= min(times)
        and max(times) < (1 << _TIME_BITS)
        and 0 <= min(submitted)
        and max(submitted) < _NEVER
    )


def distance_packable(low: int, high: int, truth: int) -> bool:
    """Whether every prediction from *low* to *high* is packed exactly against *truth*: its
    distance is below the one that stands for "no prediction" (``2**41 - 1``)."""
    return max(abs(low - truth), abs(high - truth)) < _NO_DISTANCE


def undistanced_heads(
    scores: Sequence[int], times: Sequence[int], submitted: Sequence[int]
) -> list[int]:
    """The heads with a distance of 0 (the heads of a round without a prediction question),
    for figures that are :func:`packable`; :func:`with_distances` adds the distances."""
    top, high, never = (1 << _SCORE_BITS) - 1, _DIST_BITS + _TIME_BITS + _SUB_BITS, _NEVER
    return [
        ((top - s) << high) | (t << _SUB_BITS) | (u or never)
        for s, t, u in zip(scores, times, submitted, strict=True)
    ]


def with_distances(
    heads: Sequence[int], predictions: Sequence[int | None], truth: int
) -> list[int]:
    """*heads* (:func:`undistanced_heads`) with each prediction's distance from *truth*, for
    predictions that are :func:`distance_packable` (``None``: no prediction, ranks last)."""
    low = _TIME_BITS + _SUB_BITS
    none = _NO_DISTANCE << low
    return [
        h | (none if p is None else abs(p - truth) << low)
        for h, p in zip(heads, predictions, strict=True)
    ]


def heads_of(bests: Sequence[BestAttempt] | Sequence[Entry], truth: int | None) -> list[int]:
    """:func:`head_key` of every item, with a fast path when every figure is
    :func:`packable`."""
    if not bests:
        return []
    # each figure read once into a list: the range checks then run at C speed
    scores = [b.score for b in bests]
    times = [b.time_used for b in bests]
    subs = [b.submitted for b in bests]
    ok = packable(scores, times, subs)
    predictions = [b.prediction for b in bests]
    if ok and truth is not None:
        given = [p for p in predictions if p is not None]
        if given:
            ok = distance_packable(min(given), max(given), truth)
    if not ok:
        return [head_key(b.score, b.prediction, truth, b.time_used, b.submitted) for b in bests]
    if truth is None:
        return undistanced_heads(scores, times, subs)
    # one pass rather than with_distances(undistanced_heads(...)): no list of N built twice
    top_score, no_distance, never = (1 << _SCORE_BITS) - 1, _NO_DISTANCE, _NEVER
    low = _TIME_BITS + _SUB_BITS
    return [
        ((((top_score - s) << _DIST_BITS) | (no_distance if p is None else abs(p - truth))) << low)
        | (t << _SUB_BITS)
        | (u or never)
        for s, p, t, u in zip(scores, predictions, times, subs, strict=True)
    ]


def rank_order(members: Sequence[str], heads: Sequence[int]) -> tuple[list[int], list[int]]:
    """Indices of *members* in final order, and the rank at each position.

    Sorted by *heads* (:func:`head_key`), equal heads by member id; equal heads share the
    rank of the first of them (1, 2, 2, 4).
    """
    n = len(members)
    # Python's sort with a key sorts the keys and carries the indices along (stable, so
    # equal heads keep index order): no per-member int built, none taken apart after.
    order = sorted(range(n), key=heads.__getitem__)
    ranks = list(range(1, n + 1))
    if len(set(heads)) == n:  # no two members equal on the whole chain: no tie to group
        return order, ranks
    ordered = [heads[i] for i in order]
    ties = list(compress(range(1, n), map(eq, ordered[1:], ordered)))
    group_ties(members, order, ranks, ties)
    return order, ranks


def group_ties(members: Sequence[str], order: list[int], ranks: list[int], ties: list[int]) -> None:
    """In place: each run of *ties* (positions equal to the one before) shares the rank of
    its first position and is listed by member id."""
    i = 0
    while i < len(ties):  # each run of consecutive tie positions is one group
        j = i
        while j + 1 < len(ties) and ties[j + 1] == ties[j] + 1:
            j += 1
        start, end = ties[i] - 1, ties[j] + 1
        ranks[start:end] = [start + 1] * (end - start)
        order[start:end] = sorted(order[start:end], key=members.__getitem__)
        i = j + 1


def rank_entries(
    entries: Sequence[Entry], truth: int | None, tie_break: Sequence[TieBreak] = ()
) -> list[tuple[Entry, int]]:
    """Entries in final order with their rank (the whole chain, for one list of entries)."""
    heads = extend_heads(heads_of(entries, truth), entries, tie_break)
    order, ranks = rank_order([e.member for e in entries], heads)
    return [(entries[i], r) for i, r in zip(order, ranks, strict=True)]
