"""Garbage collection in a gateway: freeze what the joins built, so that no full collection
walks every member's connection in the middle of a question.

A gateway process holds thousands of members' connections, a few hundred objects each, that
live as long as their sockets. CPython's full (generation 2) collection walks every one of
them: at 5,000 members a process it stalled a worker for about a second in the middle of a
question's answers (py-spy under ``bench.show``, docs/benchmarks.md, sixth session), and
the joins of a storm are what make one due (a full collection runs once the objects that
survived since the last one pass a quarter of those it kept).

:class:`FreezePolicy` decides, once per sweep tick, from the joins and leaves it was told of:

* ``"freeze"`` after :attr:`~FreezePolicy.batch` joins: collect (only the objects not frozen
  yet are walked: the new members' own and what is young) and :func:`gc.freeze` the rest,
  which moves them to the permanent generation that no collection walks again;
* ``"refreeze"`` once more members left than :attr:`~FreezePolicy.leave_share` of those
  frozen (and at least a batch): a closed connection may hold reference cycles that only a
  collection frees, and frozen ones are never freed, so unfreeze, collect everything once
  and freeze what is still alive. What a frozen member who left can keep is therefore
  bounded by that share of the members held.

Objects freed by reference counting (most of them) are freed whether frozen or not.
:func:`apply` carries out a decision.
"""

from __future__ import annotations

import gc
from typing import Literal

__all__ = ["FREEZE_BATCH", "FreezePolicy", "apply"]

FREEZE_BATCH = 1000
"""Joins between two freezes: a collection of 1,000 members' objects takes a few ms."""

Decision = Literal["freeze", "refreeze"] | None


class FreezePolicy:
    """When to freeze the gateway's long-lived objects; see the module docstring."""

    __slots__ = ("batch", "frozen", "joined", "leave_share", "left")

    def __init__(self, batch: int = FREEZE_BATCH, leave_share: float = 0.25) -> None:
        self.batch = batch
        self.leave_share = leave_share
        self.joined = 0
        """Joins since the last freeze (their objects are not frozen yet)."""
        self.frozen = 0
        """Members whose objects the freezes so far hold."""
        self.left = 0
        """Members who left since the last freeze of everyone (refreeze or first freeze)."""

    def join(self) -> None:
        self.joined += 1

    def leave(self) -> None:
        self.left += 1

    def tick(self, members: int) -> Decision:
        """The decision of one sweep tick; *members* is how many are joined now."""
        if self.batch <= 0:
            return None
        if self.frozen and self.left >= max(self.batch, self.leave_share * self.frozen):
            self.frozen, self.joined, self.left = members, 0, 0
            return "refreeze"
        if self.joined >= self.batch:
            if not self.frozen:
                self.left = 0  # who left before the first freeze was never frozen
            self.frozen += self.joined
            self.joined = 0
            return "freeze"
        return None


def apply(decision: Decision) -> None:
    """Carry out a :meth:`FreezePolicy.tick` decision on this process's collector."""
    if decision == "refreeze":
        gc.unfreeze()
    if decision is not None:
        gc.collect()
        gc.freeze()
