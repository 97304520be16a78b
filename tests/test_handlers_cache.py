"""The gateway's per-contest caches are bounded: a long-running process sees contests come
and go, and keeps scoring objects, draws and question maps for at most CACHE_LIMIT."""

from __future__ import annotations

from engine.modes.base import CACHE_LIMIT
from engine.modes.base import keep as _keep


def test_keep_drops_the_oldest_entry_past_the_limit() -> None:
    cache: dict[str, int] = {}
    for i in range(5):
        assert _keep(cache, f"c{i}", i, limit=3) == i
    assert list(cache) == ["c2", "c3", "c4"]


def test_keep_replacing_a_key_does_not_evict() -> None:
    cache = {"a": 1, "b": 2}
    _keep(cache, "a", 10, limit=2)
    assert cache == {"a": 10, "b": 2}


def test_the_default_limit_holds_a_thousand_contests() -> None:
    cache: dict[int, int] = {}
    for i in range(CACHE_LIMIT + 10):
        _keep(cache, i, i)
    assert len(cache) == CACHE_LIMIT and min(cache) == 10
