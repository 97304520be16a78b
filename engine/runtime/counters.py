"""Cached label children of the engine's metrics, and tallies, for the per-message hot paths.

``Counter.labels(value)`` takes a lock and a dict lookup on every call; the gateway counts
several things per frame, so it keeps each child it has used. Label values are bounded
(message types, refusal reasons, error codes), so the cache is too.

A :class:`Tally` goes further for what is counted on every answer: it adds up the counts in
a dict and adds them to the counter's children at most :data:`TALLY_SECONDS` later (an
``inc`` on a counter of a multi-process deployment is a lock, a pid check and an mmap write,
each time). :func:`flush_tallies` adds what is pending at once (a gateway that closes).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

__all__ = ["TALLY_SECONDS", "Tally", "child", "flush_tallies"]

TALLY_SECONDS = 1.0
"""Longest a :class:`Tally` holds a count before it reaches the counter."""


@cache
def child(metric: Any, label: str) -> Any:
    """``metric.labels(label)``, computed once per (metric, label)."""
    return metric.labels(label)


_TALLIES: list[Tally] = []


class Tally:
    """Counts of one labelled counter, added to it in bulk (see the module docstring)."""

    __slots__ = ("_handle", "_loop", "_pending", "metric")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._pending: dict[str, int] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        _TALLIES.append(self)

    def add(self, label: str) -> None:
        """Count one for *label*: in the counter within :data:`TALLY_SECONDS` (at once
        outside an event loop)."""
        pending = self._pending
        pending[label] = pending.get(label, 0) + 1
        loop = asyncio._get_running_loop()
        if loop is None:
            self.flush()
        elif self._handle is None or self._loop is not loop:
            # The first count since the last flush, or one from another loop than the one
            # the timer is on (tests run a loop each; a closed loop never fires its timer).
            self._loop = loop
            self._handle = loop.call_later(TALLY_SECONDS, self.flush)

    def flush(self) -> None:
        """Add the pending counts to the counter now."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        pending, self._pending = self._pending, {}
        for label, count in pending.items():
            child(self.metric, label).inc(count)


def flush_tallies() -> None:
    """Add every tally's pending counts to its counter now."""
    for tally in _TALLIES:
        tally.flush()
