"""Cached label children of the engine's metrics, for the per-message hot paths.

``Counter.labels(value)`` takes a lock and a dict lookup on every call; the gateway counts
several things per frame, so it keeps each child it has used. Label values are bounded
(message types, refusal reasons, error codes), so the cache is too.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["child"]


@cache
def child(metric: Any, label: str) -> Any:
    """``metric.labels(label)``, computed once per (metric, label)."""
    return metric.labels(label)
