"""The reveal's score histogram (protocol 2): every member's rank computed from it equals
the shared rank over the totals themselves (1 + members with a higher total)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from engine.core import messages as m

totals_lists = st.lists(st.integers(0, 10**9), min_size=0, max_size=300)


@given(totals_lists)
def test_rank_of_every_member_is_exact(totals: list[int]) -> None:
    scores = m.encode_scores(Counter(totals))
    for total in totals:
        assert m.rank_of(scores, total) == 1 + sum(o > total for o in totals)


@given(totals_lists)
def test_histogram_is_compact_and_decodes_back(totals: list[int]) -> None:
    counts = Counter(totals)
    scores = m.encode_scores(counts)
    assert len(scores) == 2 * len(counts)  # one pair per distinct total
    decoded: dict[int, int] = {}
    score = 0
    for i in range(0, len(scores), 2):
        score = scores[i] if i == 0 else score - scores[i]
        assert i == 0 or scores[i] > 0  # strictly decreasing totals
        decoded[score] = scores[i + 1]
    assert decoded == dict(counts)
    # it survives the wire as part of a reveal
    reveal = m.Reveal(question="q1", index=0, correct=None, scores=scores, of=len(totals))  # type: ignore[arg-type]
    again = m.decode_server(m.encode(reveal))
    assert isinstance(again, m.Reveal) and again.scores == scores


def test_ties_share_a_rank_and_a_total_above_everyone_is_first() -> None:
    scores = m.encode_scores({36: 1, 22: 2, 10: 1, 0: 3})
    assert scores == [36, 1, 14, 2, 12, 1, 10, 3]
    assert [m.rank_of(scores, t) for t in (36, 22, 10, 0)] == [1, 2, 4, 5]
    assert m.rank_of(scores, 99) == 1 and m.rank_of([], 0) == 1
