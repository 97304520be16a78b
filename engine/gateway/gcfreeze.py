"""Garbage collection in a gateway: freeze what the joins built, so that no full collection
walks every member's connection in the middle of a question or an attempt.

A gateway process holds thousands of members' connections, a few hundred objects each, that
live as long as their sockets. CPython's full (generation 2) collection walks every one of
them: at 5,000 members a process it stalled a worker for about a second in the middle of a
question's answers (py-spy under ``bench.show``, docs/benchmarks.md, sixth session), and
the joins of a storm are what make one due (a full collection runs once the objects that
survived since the last one pass a quarter of those it kept).

:class:`FreezePolicy` decides, once per sweep tick, from the joins it was told of and the
members who left but are still in memory (:class:`Departed`):

* ``"freeze"`` after :attr:`~FreezePolicy.batch` joins: collect (only the objects not frozen
  yet are walked: the new members' own and what is young) and :func:`gc.freeze` the rest,
  which moves them to the permanent generation that no collection walks again;
* ``"refreeze"`` once the connections of members who left, yet are still alive, pass
  :attr:`~FreezePolicy.linger_share` of the members here (and at least a batch): a closed
  connection in a reference cycle is freed only by a collection, and a frozen one never,
  so unfreeze, collect everything once and freeze what is still alive.

A closed connection holds no reference cycle (tests/test_gateway_gcfreeze.py checks it
with the collector off), so reference counting frees it, frozen or not, the moment the
gateway lets it go, and a refreeze is not due. Until the tenth session the refreeze was
due after a quarter of the frozen members had *left*, whether or not anything was kept:
under a window round's churn (140 members joining and 140 leaving a second per gateway)
that was a full walk of the whole process every ~10 s, 200–400 ms each, that collected
nothing, and the largest part of the answers' ack p99 (docs/benchmarks.md, tenth session).
Counting the departed connections that are still alive (a weak reference each) keeps the
bound on what frozen cycles can keep, and pays for a walk only when there is something
to collect.

:func:`apply` carries out a decision.
"""

from __future__ import annotations

import gc
import weakref
from typing import Literal

__all__ = ["FREEZE_BATCH", "Departed", "FreezePolicy", "apply"]

FREEZE_BATCH = 1000
"""Joins between two freezes: a collection of 1,000 members' objects takes a few ms."""

Decision = Literal["freeze", "refreeze"] | None


class FreezePolicy:
    """When to freeze the gateway's long-lived objects; see the module docstring."""

    __slots__ = ("batch", "frozen", "joined", "linger_share")

    def __init__(self, batch: int = FREEZE_BATCH, linger_share: float = 0.25) -> None:
        self.batch = batch
        self.linger_share = linger_share
        self.joined = 0
        """Joins since the last freeze (their objects are not frozen yet)."""
        self.frozen = 0
        """Members whose objects the freezes so far hold."""

    def join(self) -> None:
        self.joined += 1

    def tick(self, members: int, lingering: int) -> Decision:
        """The decision of one sweep tick: *members* is how many are joined now,
        *lingering* how many connections of members who left are still alive."""
        if self.batch <= 0:
            return None
        if self.frozen and lingering >= max(self.batch, self.linger_share * members):
            self.frozen, self.joined = members, 0
            return "refreeze"
        if self.joined >= self.batch:
            self.frozen += self.joined
            self.joined = 0
            return "freeze"
        return None


class Departed:
    """The connections of members who left, as long as something keeps them alive: a weak
    reference each, dropped by the interpreter when the connection is freed. What is left
    in it is what reference counting could not free: held in a cycle (a refreeze frees
    it) or by a reference somewhere (nothing the collector can do)."""

    __slots__ = ("_alive",)

    def __init__(self) -> None:
        self._alive: weakref.WeakSet[object] = weakref.WeakSet()

    def add(self, connection: object) -> None:
        self._alive.add(connection)

    def __len__(self) -> int:
        return len(self._alive)

    def forget(self) -> None:
        """After a refreeze: what survived a full collection is not the collector's to
        free, so it no longer counts towards the next one."""
        self._alive.clear()


def apply(decision: Decision, departed: Departed | None = None) -> None:
    """Carry out a :meth:`FreezePolicy.tick` decision on this process's collector."""
    if decision == "refreeze":
        gc.unfreeze()
    if decision is not None:
        gc.collect()
        gc.freeze()
    if decision == "refreeze" and departed is not None:
        departed.forget()
