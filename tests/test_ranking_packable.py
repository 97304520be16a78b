"""scoring.ranking.packable and distance_packable: at each bit limit of head_key and just
past it, they say exactly when head_key keeps a figure as it is (pure, no Redis)."""

from hypothesis import given
from hypothesis import strategies as st

from scoring.ranking import (
    distance_packable,
    head_key,
    packable,
    undistanced_heads,
    with_distances,
)

# the layout head_key documents: score 32 bits, distance 41, time used 41, submitted 43
SCORE_TOP = 2**32 - 1
DIST_TOP = 2**41 - 2  # 2**41 - 1 stands for "no prediction"
TIME_TOP = 2**41 - 1
SUB_TOP = 2**43 - 2  # 2**43 - 1 stands for "never submitted"
NEVER = 2**43 - 1


def edges(top: int) -> st.SearchStrategy[int]:
    """At the limit, one either side of it, and at and around 0."""
    return st.one_of(
        st.sampled_from([top - 1, top, top + 1, top + 2, -2, -1, 0, 1]), st.integers(-3, 3)
    )


def kept(score: int, time_used: int, submitted: int) -> bool:
    """head_key keeps the three figures: each reads back from the head as given, and a
    submission time is not taken for "never submitted"."""
    h = head_key(score, None, None, time_used, submitted)
    back = (SCORE_TOP - (h >> (41 + 41 + 43)), (h >> 43) & (2**41 - 1), h & NEVER)
    return back == (score, time_used, submitted or NEVER) and submitted != NEVER


ROWS = st.lists(st.tuples(edges(SCORE_TOP), edges(TIME_TOP), edges(SUB_TOP)), max_size=5)


@given(ROWS)
def test_packable_at_and_past_each_limit(rows: list[tuple[int, int, int]]) -> None:
    scores, times, subs = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    in_range = all(
        0 <= s <= SCORE_TOP and 0 <= t <= TIME_TOP and 0 <= u <= SUB_TOP for s, t, u in rows
    )
    assert packable(scores, times, subs) == in_range
    assert in_range == all(kept(*r) for r in rows)
    if in_range:
        assert undistanced_heads(scores, times, subs) == [
            head_key(s, None, None, t, u) for s, t, u in rows
        ]


@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.one_of(st.none(), edges(DIST_TOP), edges(-DIST_TOP)), min_size=1, max_size=5),
)
def test_distance_packable_at_and_past_the_limit(truth: int, offsets: list[int | None]) -> None:
    predictions = [None if d is None else truth + d for d in offsets]
    given = [p for p in predictions if p is not None]
    fits = all(abs(p - truth) <= DIST_TOP for p in given)
    if given:
        assert distance_packable(min(given), max(given), truth) == fits
    for p in given:  # head_key keeps the distance exactly up to the limit, and no further
        distance = (head_key(1, p, truth, 2, 3) >> (41 + 43)) & (2**41 - 1)
        assert (distance == abs(p - truth)) == (abs(p - truth) <= DIST_TOP)
    if fits:
        n = len(predictions)
        heads = undistanced_heads([1] * n, [2] * n, [3] * n)
        assert with_distances(heads, predictions, truth) == [
            head_key(1, p, truth, 2, 3) for p in predictions
        ]
