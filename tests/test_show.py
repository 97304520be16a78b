"""engine.core.show: the live show's phase logic, without I/O."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.show import (
    CloseQuestion,
    EndShow,
    OpenQuestion,
    Phase,
    PublishLeaderboard,
    PublishQuestion,
    PublishReveal,
    ShowPlan,
    ShowState,
    Step,
    decide,
    initial_state,
)
from question_bank.ids import QuestionId


def plan(
    n: int = 2, *, question_ms: int = 1000, reveal_ms: int = 300, lb_ms: int = 200
) -> ShowPlan:
    return ShowPlan(
        starts_at=10_000,
        questions=[QuestionId(f"q{i}") for i in range(n)],
        question_ms=[question_ms] * n,
        reveal_ms=reveal_ms,
        leaderboard_ms=lb_ms,
    )


def test_pending_until_start() -> None:
    p = plan()
    state = initial_state(p)
    tick = decide(p, state, 9_999)
    assert tick.state is None and tick.steps == () and tick.wake_at == 10_000


def test_whole_show_on_time() -> None:
    p = plan(2)
    state = initial_state(p)
    now = 10_000
    seen: list[tuple[int, Step]] = []
    while True:
        tick = decide(p, state, now)
        if tick.state is not None:
            state = tick.state
        seen += [(now, s) for s in tick.steps]
        if tick.steps:
            state = ShowState(**{**_fields(state), "entered": True})
        if tick.wake_at is None:
            break
        now = max(now, tick.wake_at)
    assert seen == [
        (10_000, OpenQuestion(index=0, question=QuestionId("q0"), opens=10_000, deadline=11_000)),
        (
            10_000,
            PublishQuestion(index=0, question=QuestionId("q0"), opens=10_000, deadline=11_000),
        ),
        (11_000, CloseQuestion(index=0, question=QuestionId("q0"), eliminate=False)),
        (11_000, PublishReveal(index=0, question=QuestionId("q0"))),
        (11_300, PublishLeaderboard(index=0)),
        (11_500, OpenQuestion(index=1, question=QuestionId("q1"), opens=11_500, deadline=12_500)),
        (
            11_500,
            PublishQuestion(index=1, question=QuestionId("q1"), opens=11_500, deadline=12_500),
        ),
        (12_500, CloseQuestion(index=1, question=QuestionId("q1"), eliminate=False)),
        (12_500, PublishReveal(index=1, question=QuestionId("q1"))),
        (12_800, PublishLeaderboard(index=1)),
        (13_000, EndShow()),
    ]
    assert state.phase is Phase.DONE and state.entered
    assert decide(p, state, 99_999).wake_at is None


def test_unfinished_entry_is_redone_without_moving_on() -> None:
    p = plan()
    state = ShowState(index=0, phase=Phase.REVEAL, since=11_000, ends=11_300, entered=False)
    tick = decide(p, state, 50_000)  # long after: a conductor took over late
    assert tick.state == state
    assert tick.steps == (
        CloseQuestion(index=0, question=QuestionId("q0"), eliminate=False),
        PublishReveal(index=0, question=QuestionId("q0")),
    )


def test_late_start_opens_at_now_with_full_time() -> None:
    p = plan()
    tick = decide(p, initial_state(p), 12_345)
    assert tick.state == ShowState(
        index=0, phase=Phase.QUESTION, since=12_345, ends=13_345, entered=False
    )


def test_elimination_is_passed_to_close_and_empty_show_ends() -> None:
    p = ShowPlan(
        starts_at=0, questions=[QuestionId("a")], question_ms=[5], reveal_ms=0, elimination=True
    )
    state = ShowState(index=0, phase=Phase.QUESTION, since=0, ends=5, entered=True)
    tick = decide(p, state, 5)
    assert tick.steps[0] == CloseQuestion(index=0, question=QuestionId("a"), eliminate=True)
    empty = ShowPlan(starts_at=0, questions=[], question_ms=[])
    tick = decide(empty, initial_state(empty), 0)
    assert tick.state is not None and tick.state.phase is Phase.DONE
    assert tick.steps == (EndShow(),)


def test_plan_checks() -> None:
    with pytest.raises(ValueError):
        ShowPlan(starts_at=0, questions=[QuestionId("a")], question_ms=[])
    with pytest.raises(ValueError):
        ShowPlan(starts_at=0, questions=[QuestionId("a")], question_ms=[0])
    with pytest.raises(ValueError):
        ShowPlan(starts_at=0, questions=[], question_ms=[], leaderboard_ms=-1)


def _fields(state: ShowState) -> dict[str, object]:
    return {f: getattr(state, f) for f in state.__struct_fields__}


@given(
    n=st.integers(0, 5),
    crashes=st.lists(st.integers(0, 3), max_size=40),
    jitter=st.lists(st.integers(0, 700), max_size=40),
)
def test_crashes_never_skip_or_repeat_a_question(
    n: int, crashes: list[int], jitter: list[int]
) -> None:
    """A conductor that dies at any point (after writing the state, after some of the steps)
    and a successor that resumes from the stored state release every question once, in
    order, and reveal each only after closing it."""
    p = plan(n)
    stored = initial_state(p)
    now = 0
    done_steps: list[Step] = []
    crash_iter, jitter_iter = iter(crashes), iter(jitter)
    for _ in range(200):
        tick = decide(p, stored, now)
        if tick.state is not None:
            stored = tick.state  # written first
        crash_after = next(crash_iter, 99)  # how many steps get done before a crash
        for i, step in enumerate(tick.steps):
            if i >= crash_after:
                break
            done_steps.append(step)
        else:
            if tick.steps:
                stored = ShowState(**{**_fields(stored), "entered": True})
        if tick.wake_at is None and stored.entered:
            break
        now = max(now, tick.wake_at or now) + next(jitter_iter, 0)
    assert stored.phase is Phase.DONE and stored.entered
    opened = [s.index for s in done_steps if isinstance(s, OpenQuestion)]
    # Steps may be redone after a crash (they are idempotent), never skipped or reordered.
    assert sorted(set(opened)) == list(range(n))
    assert opened == sorted(opened)
    # Each question's steps are opened, published, closed, revealed, in this order.
    for index in range(n):
        kinds = [type(s) for s in done_steps if getattr(s, "index", None) == index]
        firsts = [kinds.index(k) for k in (OpenQuestion, PublishQuestion, CloseQuestion)]
        assert firsts == sorted(firsts)
        assert kinds.index(PublishReveal) > kinds.index(CloseQuestion)
    # A question's deadline never changes once chosen, even when its steps are redone.
    deadlines = {(s.index, s.deadline) for s in done_steps if isinstance(s, OpenQuestion)}
    assert len(deadlines) == n
