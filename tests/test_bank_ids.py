"""Question ids of the foreign formats: the same ids as ever, in work linear in the bank."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from question_bank.formats import loads
from question_bank.formats._common import IdAssigner

from .format_strategies import FUZZ


class _Reference:
    """The rule of ``question_bank.formats._common`` written the obvious (quadratic) way."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def derive(self, title: str, text: str) -> str:
        assigner = IdAssigner()
        if assigner.derive(title, "") == title:  # a title that is a valid id
            return title
        base = "q" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        qid, n = base, 1
        while qid in self.used:
            n += 1
            qid = f"{base}-{n}"
        return qid


TEXTS = ["Thủ đô?", "Huế", "x"]
BASES = ["q" + hashlib.sha256(t.encode()).hexdigest()[:8] for t in TEXTS]
# Explicit ids that collide with derived ones (``qXXXXXXXX-3``) as well as others.
EXPLICIT = st.one_of(
    st.builds(lambda b, n: f"{b}-{n}", st.sampled_from(BASES), st.integers(1, 8)),
    st.sampled_from(BASES),
    st.sampled_from(["ls-01", "Ls-01"]),
)
STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("derive"), st.sampled_from(["", "ls-01", "not an id"]), st.sampled_from(TEXTS)
        ),
        st.tuples(st.just("explicit"), EXPLICIT, st.just("")),
        st.tuples(st.just("peek"), st.just(""), st.sampled_from(TEXTS)),
    ),
    max_size=60,
)


@FUZZ
@given(STEPS)
def test_ids_are_those_of_the_rule(steps: list[tuple[str, str, str]]) -> None:
    """Any mix of derived ids, explicit ids (also ones shaped like a derived ``-N``) and
    writers' look-ahead (derive without use) gives exactly the ids of the plain rule."""
    fast, reference = IdAssigner(), _Reference()
    for action, title, text in steps:
        if action == "explicit":
            assert fast.use(title) == title
            reference.used.add(title)
        elif action == "peek":
            assert fast.derive("", text) == reference.derive("", text)
        else:
            expected = reference.derive(title, text)
            assert fast.use(fast.derive(title, text)) == expected
            reference.used.add(expected)


class _CountingSet(set[str]):
    probes = 0

    def __contains__(self, item: object) -> bool:
        _CountingSet.probes += 1
        return super().__contains__(item)


def test_same_text_many_times_takes_linear_work() -> None:
    """5,000 questions with one text: q…, q…-2, … q…-5000, each id found in a bounded
    number of look-ups (the old loop tried every suffix again: 12.5 million look-ups)."""
    assigner = IdAssigner()
    assigner._used = _CountingSet()
    _CountingSet.probes = 0
    ids = [assigner.use(assigner.derive("", "Thủ đô?")) for _ in range(5000)]
    base = "q" + hashlib.sha256("Thủ đô?".encode()).hexdigest()[:8]
    assert ids == [base] + [f"{base}-{n}" for n in range(2, 5001)]
    assert _CountingSet.probes <= 3 * 5000


def test_csv_rows_with_one_text_get_distinct_ids() -> None:
    rows = "".join("single,Thủ đô?,Hà Nội,Huế,a\n" for _ in range(3000))
    bank = loads("kind,text,option_a,option_b,correct\n" + rows, "csv", bank_id="b")
    ids = [q.id for q in bank.questions]
    assert len(set(ids)) == 3000 and ids[1] == ids[0] + "-2" and ids[-1] == ids[0] + "-3000"
