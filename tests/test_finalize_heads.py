"""ChunkedHeads (scoring.finalize_heads) gives heads_of's heads, bit for bit."""

from hypothesis import given
from hypothesis import strategies as st

from scoring.attempts import BestAttempt
from scoring.finalize_heads import ChunkedHeads
from scoring.ranking import heads_of

# in range, at the edges of the packed ranges, and past them (negative, too large)
FIGURE = st.sampled_from(
    [0, 1, 2, 7, 2**31, 2**32 - 1, 2**32, 2**40, 2**41, 2**43 - 2, 2**43 - 1, 2**43, -1]
)
PREDICTION = st.one_of(st.none(), st.sampled_from([0, 3, 5, 10**12, 2**41, -(2**41)]))
BEST = st.builds(
    BestAttempt,
    n=st.just(1),
    score=st.one_of(st.integers(0, 3), FIGURE),
    time_used=st.one_of(st.integers(0, 3), FIGURE),
    submitted=st.one_of(st.integers(0, 3), FIGURE),
    prediction=st.one_of(st.none(), st.integers(0, 6), PREDICTION),
)


@given(
    st.lists(BEST, max_size=30),
    st.lists(st.integers(1, 8), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(0, 6), st.sampled_from([10**12, -(2**41)])),
)
def test_chunked_heads_are_heads_of(
    bests: list[BestAttempt], sizes: list[int], truth: int | None
) -> None:
    heads = ChunkedHeads()
    at, i = 0, 0
    while at < len(bests):
        size = sizes[i % len(sizes)]
        heads.add(bests[at : at + size])
        at, i = at + size, i + 1
    assert heads.heads(bests, truth) == heads_of(bests, truth)


def test_a_dropped_or_short_build_falls_back() -> None:
    bests = [BestAttempt(n=1, score=s, time_used=1, prediction=p) for s, p in [(1, 4), (2, None)]]
    heads = ChunkedHeads()
    heads.add(bests[:1])
    assert heads.heads(bests, 3) == heads_of(bests, 3)  # the second chunk never given
    heads.add(bests[1:])
    heads.drop()
    assert not heads.exact
    assert heads.heads(bests, 3) == heads_of(bests, 3)
