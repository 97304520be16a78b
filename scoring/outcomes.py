"""What the scoring scripts return, decoded into Structs the gateway acks with.

Every answer script returns a flat array (rule 8 of docs/scoring.md)::

    {accepted 1/0, reason or "", points, total, time_used, t, extra, now}

where ``extra`` is the streak (live) or the member's best score (window). A refusal is an
outcome with ``accepted=False`` and one of :data:`REASONS`, never an exception.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from .errors import CorruptData
from .replies import text

__all__ = ["REASONS", "AnswerOutcome", "Reason", "decode_outcome"]

Reason = Literal[
    "not_open",
    "closed",
    "late",
    "duplicate",
    "eliminated",
    "no_attempt",
    "attempt_closed",
    "not_in_attempt",
]
"""Why an answer was refused.

* ``not_open``: unknown question, or not open yet (live);
* ``closed``: the live question is closed;
* ``late``: Redis's clock is past the deadline (question or attempt);
* ``duplicate``: the member already answered that question (the first answer stands);
* ``eliminated``: the member is out of an elimination show;
* ``no_attempt``: no such window attempt;
* ``attempt_closed``: the attempt was submitted or expired;
* ``not_in_attempt``: the question is not in the member's draw.
"""

REASONS: Final[frozenset[str]] = frozenset(Reason.__args__)  # type: ignore[attr-defined]


class AnswerOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one answer script call."""

    accepted: bool
    reason: Reason | None = None
    """Why it was refused; ``None`` when accepted."""
    points: int = 0
    """Points this answer earned (0 when refused)."""
    total: int = 0
    """The member's total after it (live), or the attempt's score (window)."""
    time_used: int = 0
    """The member's time used in ms (live: sum of answer times; window: attempt's)."""
    t: int = 0
    """Ms from question open (live) or attempt start (window) to this answer."""
    streak: int = 0
    """Live: consecutive fully correct answers ending with this one."""
    best: int = 0
    """Window: the member's best attempt score after this answer."""
    at: int = 0
    """Redis time of the decision, ms since the epoch."""


def decode_outcome(raw: Any, *, window: bool = False) -> AnswerOutcome:
    """Decode a script's flat array; *window* selects the meaning of the 7th item."""
    try:
        accepted, reason, points, total, used, t, extra, now = raw
        reason_text = text(reason)
        if reason_text and reason_text not in REASONS:
            raise ValueError(f"unknown reason {reason_text!r}")
        return AnswerOutcome(
            accepted=bool(int(accepted)),
            reason=reason_text or None,  # type: ignore[arg-type]
            points=int(points),
            total=int(total),
            time_used=int(used),
            t=int(t),
            streak=0 if window else int(extra),
            best=int(extra) if window else 0,
            at=int(now),
        )
    except (TypeError, ValueError) as exc:
        raise CorruptData(f"unexpected answer script result {raw!r}") from exc
