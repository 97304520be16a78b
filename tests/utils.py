"""Test helpers shared by every test module.

One timeout unit, scaled by ``CONTEST_TEST_TIMEOUT_FACTOR`` for slow machines, so that no
test depends on this box's speed (websockets' ``tests/utils.py`` does the same); and
:func:`open_alike`, which opens a live question on several contests so that their
answers can be compared one for one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from question_bank.ids import QuestionId
    from scoring.live import LiveScoring

TIMEOUT_FACTOR = float(os.environ.get("CONTEST_TEST_TIMEOUT_FACTOR", "1"))


def timeout(seconds: float = 5.0) -> float:
    """*seconds*, scaled by the machine's timeout factor."""
    return seconds * TIMEOUT_FACTOR


async def open_alike(sides: Iterable[LiveScoring], qid: QuestionId, index: int) -> None:
    """Open *qid*, the show's question *index* (10 points, no speed points), on each of
    *sides*: opened a second ago with T a few ms and a long grace that keeps it open, so
    every answer's t is T on every side (and every shard), however many ms apart the
    sides accept it."""
    for side in sides:
        await side.open_question(
            qid, index=index, time_ms=1 + index * 7, points=10, speed=False,
            delay_ms=-1000, grace_ms=60_000,
        )  # fmt: skip
