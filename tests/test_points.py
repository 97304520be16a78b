"""Scoring rules (scoring.points): examples and properties."""

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import points as sp

POINTS = st.integers(min_value=0, max_value=100_000)
FRACTION = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
TIME_MS = st.integers(min_value=1, max_value=600_000)
WEIGHT = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 0), (0.49, 0), (0.5, 1), (1.5, 2), (2.5, 3), (-0.5, 0), (-0.51, -1), (9.999, 10)],
)
def test_round_half_up_examples(x: float, expected: int) -> None:
    assert sp.round_half_up(x) == expected


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_round_half_up_is_nearest_with_halves_up(k: int) -> None:
    # x = k / 1024 is exact in a double, and so is x + 0.5: compare with exact arithmetic.
    x = k / 1024
    n = sp.round_half_up(x)
    assert Fraction(n) - Fraction(1, 2) <= Fraction(k, 1024) < Fraction(n) + Fraction(1, 2)


@given(POINTS, FRACTION)
def test_fixed_points_in_range(points: int, fraction: float) -> None:
    got = sp.fixed_points(points, fraction)
    assert 0 <= got <= points
    assert abs(got - points * fraction) <= 0.5


def test_fixed_points_examples() -> None:
    assert sp.fixed_points(10, 1.0) == 10
    assert sp.fixed_points(10, 0.25) == 3  # 2.5 rounds up
    assert sp.fixed_points(10, 0.0) == 0


@given(POINTS, FRACTION, TIME_MS)
def test_speed_points_full_at_zero_half_at_deadline(points: int, fraction: float, t: int) -> None:
    assert sp.speed_points(points, fraction, 0, t) == sp.fixed_points(points, fraction)
    assert sp.speed_points(points, fraction, t, t) == sp.round_half_up(points * fraction * 0.5)


@given(POINTS, FRACTION, TIME_MS, st.integers(-(10**6), 10**7), st.integers(-(10**6), 10**7))
def test_speed_points_never_increase_with_time(
    points: int, fraction: float, time_ms: int, a: int, b: int
) -> None:
    early, late = sorted((a, b))
    assert sp.speed_points(points, fraction, early, time_ms) >= sp.speed_points(
        points, fraction, late, time_ms
    )


@given(POINTS, TIME_MS, st.integers(-(10**6), 10**7))
def test_speed_points_clamps_time(points: int, time_ms: int, t: int) -> None:
    clamped = min(max(t, 0), time_ms)
    assert sp.speed_points(points, 1.0, t, time_ms) == sp.speed_points(
        points, 1.0, clamped, time_ms
    )
    value = sp.speed_points(points, 1.0, t, time_ms)
    assert math.floor(points / 2 + 0.5) <= value <= points


def test_speed_points_examples() -> None:
    # The well-known form round(P * (1 - (t / T) / 2)).
    assert sp.speed_points(1000, 1.0, 0, 10_000) == 1000
    assert sp.speed_points(1000, 1.0, 5_000, 10_000) == 750
    assert sp.speed_points(1000, 1.0, 10_000, 10_000) == 500
    assert sp.speed_points(1000, 1.0, 99_000, 10_000) == 500
    assert sp.speed_points(1000, 0.5, 0, 10_000) == 500
    assert sp.speed_points(5, 1.0, 10_000, 10_000) == 3  # 2.5 rounds up
    with pytest.raises(ValueError):
        sp.speed_points(10, 1.0, 0, 0)


def test_question_points_chooses_rule() -> None:
    assert sp.question_points(100, 1.0, speed=False, elapsed_ms=9_000, time_ms=10_000) == 100
    assert sp.question_points(100, 1.0, speed=True, elapsed_ms=10_000, time_ms=10_000) == 50


@given(st.integers(0, 1000), st.booleans(), FRACTION)
def test_next_streak(previous: int, previous_correct: bool, fraction: float) -> None:
    got = sp.next_streak(previous, previous_correct, fraction)
    if fraction < 1.0:
        assert got == 0
    elif previous_correct:
        assert got == previous + 1
    else:
        assert got == 1


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 100))
def test_streak_bonus(streak: int, step: int, cap: int) -> None:
    bonus = sp.streak_bonus(streak, step, cap)
    assert 0 <= bonus <= step * cap
    if streak <= 1:
        assert bonus == 0
    elif streak - 1 <= cap:
        assert bonus == step * (streak - 1)
    else:
        assert bonus == step * cap


def test_streak_sequence() -> None:
    fractions = [1.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    streak, correct, bonuses = 0, False, []
    for f in fractions:
        streak = sp.next_streak(streak, correct, f)
        correct = f == 1.0
        bonuses.append(sp.streak_bonus(streak, 5, 1))
    assert bonuses == [0, 5, 5, 0, 0, 5]


@given(st.lists(WEIGHT, max_size=10), st.randoms())
def test_weights_fraction_clamped_and_order_free(weights: list[float], rnd: random.Random) -> None:
    got = sp.weights_fraction(weights)
    assert 0.0 <= got <= 1.0
    shuffled = list(weights)
    rnd.shuffle(shuffled)
    assert sp.weights_fraction(shuffled) == got
    exact = sum((Fraction(w) for w in weights), Fraction(0))
    if exact <= 0:
        assert got == 0.0
    elif exact >= 1:
        assert got == 1.0
    else:
        assert got == float(exact)


def test_weights_fraction_examples() -> None:
    assert sp.weights_fraction([0.5, 0.5]) == 1.0
    assert sp.weights_fraction([0.5, -1.0]) == 0.0
    assert sp.weights_fraction([1 / 3, 1 / 3, 1 / 3]) == 1.0
    assert sp.weights_fraction([]) == 0.0


@given(st.one_of(st.none(), FRACTION))
def test_is_eliminated(fraction: float | None) -> None:
    assert sp.is_eliminated(fraction) == (fraction is None or fraction != 1.0)


def test_attempt_time_used() -> None:
    assert sp.attempt_time_used("open", started=1000, deadline=5000) == 0
    assert sp.attempt_time_used("open", started=1000, deadline=5000, last=1800) == 800
    assert sp.attempt_time_used("submitted", started=1000, deadline=5000, submitted=2000) == 1000
    assert sp.attempt_time_used("expired", started=1000, deadline=5000, last=4000) == 4000
    with pytest.raises(ValueError):
        sp.attempt_time_used("submitted", started=1000, deadline=5000)


@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_is_better_attempt_is_a_strict_order(s1: int, t1: int, s2: int, t2: int) -> None:
    better = sp.is_better_attempt(s1, t1, s2, t2)
    assert better == ((-s1, t1) < (-s2, t2))
    assert not (better and sp.is_better_attempt(s2, t2, s1, t1))
