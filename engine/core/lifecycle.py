"""The contest lifecycle: a pure state machine, with no I/O and no clock of its own.

Everything that affects the lifecycle lives in :data:`TRANSITIONS`: ``TRANSITIONS[mode]
[state][event]`` is the next state; a move the table does not list is refused with
:class:`~engine.core.errors.IllegalTransition` (h11's ``_state.py`` is the model). The diagram in
docs/lifecycle.md is generated from the table by :func:`mermaid` (a test keeps it current;
``python -m engine.core.lifecycle`` prints it).

::

    draft -schedule-> scheduled -open (window)-> open ----close-> closed -finalize-> finalized
      ^                |      -start (live)-> running -close--^
      +---unschedule---+
    scheduled, open, running -cancel-> cancelled
    draft, finalized, cancelled -delete-> deleted

* ``draft``: being written; may be edited and deleted, members cannot join.
* ``scheduled``: times fixed; the scheduler opens (window) or starts (live) it on time.
  ``unschedule`` takes it back to draft for edits.
* ``open`` (window) / ``running`` (live): members take part; answers are accepted.
* ``closed``: no more answers; the final ranking is being computed.
* ``finalized``: final standings published.
* ``cancelled``: stopped by the organiser; nothing is ranked.
* ``deleted``: removed (the definition stays as a tombstone so ids are never reused).

:func:`due_event` says which timed event is due at a given time, for the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from engine.core.errors import IllegalTransition

__all__ = [
    "EVENTS",
    "MODES",
    "START_EVENTS",
    "STATES",
    "TRANSITIONS",
    "Event",
    "Mode",
    "State",
    "accepts_answers",
    "allowed_events",
    "due_event",
    "is_editable",
    "is_public",
    "is_terminal",
    "mermaid",
    "next_state",
    "start_event",
]

Mode = Literal["live", "window"]
State = Literal[
    "draft", "scheduled", "open", "running", "closed", "finalized", "cancelled", "deleted"
]
Event = Literal["schedule", "unschedule", "open", "start", "close", "finalize", "cancel", "delete"]

MODES: Final[tuple[Mode, ...]] = get_args(Mode)
STATES: Final[tuple[State, ...]] = get_args(State)
EVENTS: Final[tuple[Event, ...]] = get_args(Event)


def _table(started: State, start: Event) -> dict[State, dict[Event, State]]:
    return {
        "draft": {"schedule": "scheduled", "delete": "deleted"},
        "scheduled": {start: started, "unschedule": "draft", "cancel": "cancelled"},
        started: {"close": "closed", "cancel": "cancelled"},
        "closed": {"finalize": "finalized"},
        "finalized": {"delete": "deleted"},
        "cancelled": {"delete": "deleted"},
        "deleted": {},
    }


START_EVENTS: Final[Mapping[Mode, Event]] = {"window": "open", "live": "start"}
"""The event that lets members in, by mode: ``open`` a window round, ``start`` a live show."""

TRANSITIONS: Final[Mapping[Mode, Mapping[State, Mapping[Event, State]]]] = {
    "window": _table("open", START_EVENTS["window"]),
    "live": _table("running", START_EVENTS["live"]),
}
"""``TRANSITIONS[mode][state][event] -> next state``. A state missing for a mode (``open``
in a live show, ``running`` in a window round) is never reached in that mode."""


def next_state(mode: Mode, state: State, event: Event) -> State:
    """The state *event* leads to from *state*; :class:`IllegalTransition` if none."""
    try:
        return TRANSITIONS[mode][state][event]
    except KeyError:
        raise IllegalTransition(state, event) from None


def allowed_events(mode: Mode, state: State) -> tuple[Event, ...]:
    """Events allowed in *state*, in the order of :data:`EVENTS`."""
    row = TRANSITIONS[mode].get(state, {})
    return tuple(e for e in EVENTS if e in row)


def start_event(mode: Mode) -> Event:
    """The event that lets members in: ``open`` a window round, ``start`` a live show."""
    return START_EVENTS[mode]


def accepts_answers(state: State) -> bool:
    """Whether members may join and answer: the contest is open or running."""
    return state in ("open", "running")


def is_editable(state: State) -> bool:
    """Whether the organiser may still change the definition (draft only)."""
    return state == "draft"


def is_public(state: State) -> bool:
    """Whether the public endpoints show the contest (not a draft, not deleted)."""
    return state not in ("draft", "deleted")


def is_terminal(state: State) -> bool:
    """Whether no event leads anywhere but ``deleted`` (or nowhere at all)."""
    return state in ("finalized", "cancelled", "deleted")


def due_event(
    mode: Mode,
    state: State,
    now_ms: int,
    *,
    starts_at: int,
    closes_at: int | None = None,
) -> Event | None:
    """The timed event due at *now_ms*, if any, for the scheduler to fire.

    *starts_at* is a window round's ``opens_at`` or a live show's start; *closes_at* a window
    round's end (a live show is closed by its conductor after the last question). A closed
    contest is due for ``finalize`` at once. One event at a time: the scheduler applies it
    and asks again, so a round whose whole window has passed opens, closes and finalizes.
    """
    if state == "scheduled" and now_ms >= starts_at:
        return start_event(mode)
    if state == "open" and closes_at is not None and now_ms >= closes_at:
        return "close"
    if state == "closed":
        return "finalize"
    return None


def mermaid() -> str:
    """The lifecycle of both modes as one Mermaid state diagram; an edge that leaves a state
    of both modes in one mode only is labelled with that mode."""
    edges: dict[tuple[State, Event, State], list[Mode]] = {}
    for mode in MODES:
        for state in STATES:
            for event, target in TRANSITIONS[mode].get(state, {}).items():
                edges.setdefault((state, event, target), []).append(mode)
    lines = ["stateDiagram-v2", "    [*] --> draft: create"]
    order = {s: i for i, s in enumerate(STATES)}
    for (state, event, target), modes in sorted(
        edges.items(), key=lambda e: (order[e[0][0]], EVENTS.index(e[0][1]))
    ):
        having = [m for m in MODES if state in TRANSITIONS[m]]
        label = event if modes == having else f"{event} ({', '.join(modes)})"
        lines.append(f"    {state} --> {target}: {label}")
    lines.append("    deleted --> [*]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(mermaid(), end="")
