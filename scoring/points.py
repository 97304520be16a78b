"""Scoring rules as pure functions: the Python reference of what the Lua scripts compute.

Every rule here is mirrored, operation for operation, by the scripts in ``scoring/lua/``
(which use Redis's clock); the tests compare the two. Points are integers; fractions of a
question's points are floats in ``[0, 1]``; times are integer milliseconds.

Rules (docs/scoring.md, "Points"):

* :func:`round_half_up` -- ``floor(x + 0.5)``: halves round up (``2.5 -> 3``), unlike
  Python's banker's :func:`round`; Lua has no ``round`` and spells it the same way.
* :func:`fixed_points` -- ``round_half_up(P * fraction)``.
* :func:`speed_points` -- ``round_half_up(P * fraction * (1 - (t / T) / 2))`` with ``t``
  clamped to ``[0, T]``: full points at ``t = 0``, half at the deadline. Evaluated left to
  right in exactly this order in both languages so the doubles agree bit for bit.
* :func:`next_streak` / :func:`streak_bonus` -- live shows' optional streak bonus.
* :func:`weights_fraction` -- multiple-choice partial credit: the sum of the chosen
  options' weights clamped to ``[0, 1]`` (never below zero).
* :func:`is_eliminated` -- live shows' elimination rule.
* :func:`attempt_time_used` / :func:`is_better_attempt` -- window rounds' best attempt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

__all__ = [
    "AttemptState",
    "attempt_time_used",
    "clamp_fraction",
    "fixed_points",
    "is_better_attempt",
    "is_eliminated",
    "next_streak",
    "question_points",
    "round_half_up",
    "speed_points",
    "streak_bonus",
    "weights_fraction",
]

AttemptState = Literal["open", "submitted", "expired"]


def round_half_up(x: float) -> int:
    """``floor(x + 0.5)``: the nearest integer, halves rounded up (``0.5 -> 1``, ``2.5 -> 3``)."""
    return math.floor(x + 0.5)


def clamp_fraction(x: float) -> float:
    """*x* clamped to ``[0, 1]``."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def fixed_points(points: int, fraction: float) -> int:
    """Points without speed: ``round_half_up(P * fraction)``."""
    return round_half_up(points * fraction)


def speed_points(points: int, fraction: float, elapsed_ms: int, time_ms: int) -> int:
    """Live-quiz speed points: ``round_half_up(P * fraction * (1 - (t / T) / 2))``.

    ``t`` is *elapsed_ms* (answer time minus question open time) clamped to ``[0, T]``;
    ``T`` is *time_ms*, the question's time (> 0). Full points at ``t = 0``, half at
    ``t = T``.
    """
    if time_ms <= 0:
        raise ValueError("question time must be positive")
    t = 0 if elapsed_ms < 0 else time_ms if elapsed_ms > time_ms else elapsed_ms
    return round_half_up(points * fraction * (1 - (t / time_ms) / 2))


def question_points(
    points: int, fraction: float, *, speed: bool, elapsed_ms: int = 0, time_ms: int = 1
) -> int:
    """:func:`speed_points` when *speed*, else :func:`fixed_points`."""
    if speed:
        return speed_points(points, fraction, elapsed_ms, time_ms)
    return fixed_points(points, fraction)


def next_streak(previous_streak: int, previous_correct: bool, fraction: float) -> int:
    """The member's streak after answering question *i* with *fraction*.

    A fully correct answer (``fraction == 1``) whose member also answered question
    ``i - 1`` fully correctly continues the streak (``previous_streak + 1``); any other
    fully correct answer starts one (``1``); anything else (or no answer) ends it (``0``).
    """
    if fraction != 1.0:
        return 0
    return previous_streak + 1 if previous_correct else 1


def streak_bonus(streak: int, step: int, cap: int) -> int:
    """Bonus points of a streak: ``step * min(streak - 1, cap)``, never below zero.

    The first correct answer of a streak earns no bonus; the second earns *step*, the third
    ``2 * step``, ... up to ``cap * step``.
    """
    return step * max(0, min(streak - 1, cap))


def weights_fraction(weights: Iterable[float]) -> float:
    """Multiple-choice partial credit: sum of the chosen options' weights, clamped to [0, 1].

    Negative weights (wrong options) subtract, but the total never goes below zero. The sum
    is exact (:func:`math.fsum`), so the order the options were picked in never matters.
    """
    return clamp_fraction(math.fsum(weights))


def is_eliminated(fraction: float | None) -> bool:
    """Live shows' elimination rule: no answer (``None``) or one not fully correct."""
    return fraction is None or fraction < 1.0


def attempt_time_used(
    state: AttemptState,
    *,
    started: int,
    deadline: int,
    last: int | None = None,
    submitted: int | None = None,
) -> int:
    """Time used by a window attempt (ms), the tie-break after score.

    Open: ``last - started`` (``last`` = time of the latest answer; 0 before any answer);
    submitted: ``submitted - started``; expired: ``deadline - started``.
    """
    if state == "submitted":
        if submitted is None:
            raise ValueError("a submitted attempt has a submission time")
        return submitted - started
    if state == "expired":
        return deadline - started
    return 0 if last is None else last - started


def is_better_attempt(score: int, time_used: int, best_score: int, best_time_used: int) -> bool:
    """Does an attempt replace the member's best? Higher score, or equal with less time used."""
    return score > best_score or (score == best_score and time_used < best_time_used)
