"""The load tests' member state, without I/O: time sync, ack matching, delivery delay."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core import messages as m
from loadtest import member as lm
from loadtest.swarm import peak_rate, percentile


def _question(**kw: object) -> m.Question:
    fields: dict[str, object] = dict(
        id="q1",
        index=0,
        count=3,
        kind="single",
        text="?",
        points=10,
        options=[m.OptionView(id="a", text="A"), m.OptionView(id="b", text="B")],
    )
    fields.update(kw)
    return m.Question(**fields)  # type: ignore[arg-type]


def test_pong_sets_offset_from_the_best_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    state = lm.MemberState()
    monkeypatch.setattr(lm, "now_ms", lambda: 1_000_100.0)
    # sent at local 1_000_000, server stamped 2_000_050: offset = 2_000_050 - 1_000_050
    state.receive(m.encode(m.Pong(t=1_000_000, server_time=2_000_050)))
    assert state.offset_ms == pytest.approx(1_000_000.0)
    assert state.best_rtt_ms == pytest.approx(100.0)
    # a slower round trip does not replace the estimate
    monkeypatch.setattr(lm, "now_ms", lambda: 1_000_900.0)
    state.receive(m.encode(m.Pong(t=1_000_000, server_time=5)))
    assert state.offset_ms == pytest.approx(1_000_000.0)


def test_ack_matched_by_seq_gives_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    state = lm.MemberState()
    monkeypatch.setattr(lm, "now_ms", lambda: 500.0)
    seq, frame = state.answer("q1", "a")
    assert m.decode_client(frame) == m.Answer(question="q1", answer="a", seq=seq)
    monkeypatch.setattr(lm, "now_ms", lambda: 512.5)
    msg, latency, delivery = state.receive(
        m.encode(m.Ack(question="q1", seq=seq, accepted=True, points=10, total=10))
    )
    assert isinstance(msg, m.Ack) and latency == pytest.approx(12.5) and delivery is None
    assert state.pending == {}
    # an ack nobody waits for has no latency
    _, latency, _ = state.receive(m.encode(m.Ack(question="q1", seq=99, accepted=False)))
    assert latency is None


def test_broadcast_delay_uses_the_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    state = lm.MemberState(offset_ms=-200.0)
    monkeypatch.setattr(lm, "now_ms", lambda: 10_300.0)
    _, _, delivery = state.receive(m.encode(_question(sent_at=10_000)))
    assert delivery == lm.Delivery("question", 100.0)
    # a window attempt's question is not a broadcast
    _, _, delivery = state.receive(m.encode(_question(sent_at=10_000, attempt=1)))
    assert delivery is None


@given(
    st.sampled_from(["single", "multiple", "true_false", "numeric", "short_text"]),
    st.integers(0, 2**32),
)
def test_chosen_answers_are_valid_wire_answers(kind: str, seed: int) -> None:
    question = _question(kind=kind)
    value = lm.choose_answer(question, random.Random(seed), 0.3)
    frame = m.encode(m.Answer(question="q1", answer=value))
    assert m.decode_client(frame).answer == value  # type: ignore[union-attr]
    if kind == "single":
        assert value in ("a", "b")
    if kind == "multiple":
        assert isinstance(value, list) and set(value) <= {"a", "b"} and value


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0.01, 1.0))
def test_percentile_is_an_element_with_enough_below(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert sum(v <= p for v in values) >= q * len(values)


def test_percentile_of_nothing_is_nan() -> None:
    assert percentile([], 0.5) != percentile([], 0.5)


def test_peak_rate_counts_the_busiest_second() -> None:
    assert peak_rate([]) == 0
    assert peak_rate([0.0, 0.5, 0.99, 1.0, 5.0]) == 3  # 0.0, 0.5, 0.99 within one second
    assert peak_rate([0.0, 2.0, 4.0]) == 1


def test_live_standing_from_acks_and_the_reveal() -> None:
    """Protocol 2: the member's total comes from its acks, its rank from the reveal."""
    state = lm.MemberState()
    reveal = m.Reveal(question="q1", index=0, correct="a", scores=m.encode_scores({30: 2, 10: 1}))  # type: ignore[arg-type]
    state.receive(m.encode(reveal))
    assert state.rank is None  # no accepted answer yet: not ranked
    state.receive(m.encode(m.Ack(question="q1", seq=1, accepted=True, points=10, total=10)))
    state.receive(m.encode(m.Ack(question="q1", seq=2, accepted=False, reason="duplicate")))
    state.receive(m.encode(reveal))
    assert (state.total, state.rank) == (10, 3)
