"""The contest lifecycle state machine: every event in every state, and event sequences."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core import lifecycle
from engine.core.errors import IllegalTransition
from engine.core.lifecycle import EVENTS, MODES, STATES, Event, Mode, State, next_state

# The expected table, written out by hand so the test does not read the code's table.
ALLOWED: dict[Mode, set[tuple[State, Event, State]]] = {
    "window": {
        ("draft", "schedule", "scheduled"),
        ("draft", "delete", "deleted"),
        ("scheduled", "unschedule", "draft"),
        ("scheduled", "open", "open"),
        ("scheduled", "cancel", "cancelled"),
        ("open", "close", "closed"),
        ("open", "cancel", "cancelled"),
        ("closed", "finalize", "finalized"),
        ("finalized", "delete", "deleted"),
        ("cancelled", "delete", "deleted"),
    },
    "live": {
        ("draft", "schedule", "scheduled"),
        ("draft", "delete", "deleted"),
        ("scheduled", "unschedule", "draft"),
        ("scheduled", "start", "running"),
        ("scheduled", "cancel", "cancelled"),
        ("running", "close", "closed"),
        ("running", "cancel", "cancelled"),
        ("closed", "finalize", "finalized"),
        ("finalized", "delete", "deleted"),
        ("cancelled", "delete", "deleted"),
    },
}

CASES = [(m, s, e) for m in MODES for s in STATES for e in EVENTS]


@pytest.mark.parametrize(("mode", "state", "event"), CASES)
def test_every_event_in_every_state(mode: Mode, state: State, event: Event) -> None:
    expected = {(s, e): t for s, e, t in ALLOWED[mode]}
    if (state, event) in expected:
        assert next_state(mode, state, event) == expected[state, event]
        assert event in lifecycle.allowed_events(mode, state)
    else:
        with pytest.raises(IllegalTransition) as info:
            next_state(mode, state, event)
        assert (info.value.state, info.value.event) == (state, event)
        assert event not in lifecycle.allowed_events(mode, state)


def test_case_count_is_exhaustive() -> None:
    assert len(CASES) == 2 * 8 * 8


def test_start_event_and_predicates() -> None:
    assert lifecycle.start_event("live") == "start"
    assert lifecycle.start_event("window") == "open"
    assert [s for s in STATES if lifecycle.accepts_answers(s)] == ["open", "running"]
    assert [s for s in STATES if lifecycle.is_editable(s)] == ["draft"]
    assert [s for s in STATES if not lifecycle.is_public(s)] == ["draft", "deleted"]
    assert [s for s in STATES if lifecycle.is_terminal(s)] == ["finalized", "cancelled", "deleted"]


@pytest.mark.parametrize(
    ("mode", "state", "now", "closes_at", "expected"),
    [
        ("window", "scheduled", 999, 2000, None),
        ("window", "scheduled", 1000, 2000, "open"),
        ("live", "scheduled", 1000, None, "start"),
        ("window", "open", 1999, 2000, None),
        ("window", "open", 2000, 2000, "close"),
        ("live", "running", 10**12, None, None),
        ("window", "closed", 0, 2000, "finalize"),
        ("live", "closed", 0, None, "finalize"),
        ("window", "draft", 10**12, 2000, None),
        ("window", "finalized", 10**12, 2000, None),
        ("window", "cancelled", 10**12, 2000, None),
    ],
)
def test_due_event(
    mode: Mode, state: State, now: int, closes_at: int | None, expected: Event | None
) -> None:
    assert lifecycle.due_event(mode, state, now, starts_at=1000, closes_at=closes_at) == expected


@given(mode=st.sampled_from(MODES), now=st.integers(0, 10_000))
def test_due_events_walk_a_past_window_to_the_end(mode: Mode, now: int) -> None:
    state: State = "scheduled"
    seen: list[State] = []
    for _ in range(10):
        event = lifecycle.due_event(mode, state, now, starts_at=0, closes_at=0)
        if event is None:
            break
        state = next_state(mode, state, event)
        seen.append(state)
    if mode == "window":
        assert seen == ["open", "closed", "finalized"]
    else:  # the conductor closes a live show, not the clock
        assert seen == ["running"]


RANK = {"draft": 0, "scheduled": 1, "open": 2, "running": 2, "closed": 3, "finalized": 4}


@given(mode=st.sampled_from(MODES), events=st.lists(st.sampled_from(EVENTS), max_size=40))
def test_event_sequences(mode: Mode, events: list[Event]) -> None:
    state: State = "draft"
    path: list[State] = [state]
    for event in events:
        try:
            new = next_state(mode, state, event)
        except IllegalTransition:
            assert event not in lifecycle.allowed_events(mode, state)
            continue
        # Progress is monotone, except unschedule (back to draft) and the exits.
        if new in RANK and state in RANK and event != "unschedule":
            assert RANK[new] > RANK[state]
        if event == "unschedule":
            assert (state, new) == ("scheduled", "draft")
        state = new
        path.append(state)
    # A live show is never "open", a window round never "running".
    assert ("open" if mode == "live" else "running") not in path
    # Nothing follows deleted; finalized only ever follows closed; closed follows answers.
    if "deleted" in path:
        assert path.index("deleted") == len(path) - 1
    for before, after in zip(path, path[1:], strict=False):
        if after == "finalized":
            assert before == "closed"
        if after == "closed":
            assert lifecycle.accepts_answers(before)


def test_docs_diagram_is_up_to_date() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "lifecycle.md").read_text()
    begin = doc.index("```mermaid\n") + len("```mermaid\n")
    end = doc.index("```", begin)
    assert doc[begin:end] == lifecycle.mermaid()


def test_diagram_has_every_transition() -> None:
    diagram = lifecycle.mermaid()
    for mode in MODES:
        for state, event, target in ALLOWED[mode]:
            assert f"    {state} --> {target}: {event}" in diagram
