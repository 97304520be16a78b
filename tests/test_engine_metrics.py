"""The engine's metric objects: every one exported, documented, and the Redis timer."""

import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from engine.runtime import metrics


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_every_metric_is_in_the_docstring_table_and_the_exposition() -> None:
    doc = metrics.__doc__ or ""
    documented = set(re.findall(r"^(contest_\w+)", doc, re.MULTILINE))
    text = metrics.render().decode()
    exported = {
        name
        for name in re.findall(r"^# TYPE (contest_\w+) ", text, re.MULTILINE)
        if not name.endswith("_created")
    }
    # Counters are declared without and exported with ``_total``.
    normalised = {n if n in documented else n + "_total" for n in exported}
    assert normalised == documented


def test_redis_timer_observes_and_counts_failures() -> None:
    before = _sample("contest_redis_seconds_count", {"op": "test_op"})
    errors_before = _sample("contest_redis_errors_total", {"op": "test_op"})
    with metrics.redis_timer("test_op"):
        pass
    with pytest.raises(ConnectionError), metrics.redis_timer("test_op"):
        raise ConnectionError("down")
    assert _sample("contest_redis_seconds_count", {"op": "test_op"}) == before + 2
    assert _sample("contest_redis_errors_total", {"op": "test_op"}) == errors_before + 1


def test_counters_count() -> None:
    before = _sample("contest_answers_refused_total", {"reason": "late"})
    metrics.ANSWERS_REFUSED.labels("late").inc()
    assert _sample("contest_answers_refused_total", {"reason": "late"}) == before + 1


def test_render_aggregates_workers_when_multiprocess_dir_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Metrics of this process were created without the folder, so there is nothing to merge:
    # the multiprocess branch reads only the (empty) folder.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert b"contest_ws_connections" not in metrics.render()


async def test_a_tally_reaches_its_counter_within_its_delay_or_when_flushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from engine.runtime import counters

    monkeypatch.setattr(counters, "TALLY_SECONDS", 0.05)
    tally = counters.Tally(metrics.ANSWERS_REFUSED)
    label = "tally_test"
    before = _sample("contest_answers_refused_total", {"reason": label})
    tally.add(label)
    tally.add(label)
    assert _sample("contest_answers_refused_total", {"reason": label}) == before  # pending
    await asyncio.sleep(0.2)
    assert _sample("contest_answers_refused_total", {"reason": label}) == before + 2
    tally.add(label)
    counters.flush_tallies()  # what a closing gateway does
    assert _sample("contest_answers_refused_total", {"reason": label}) == before + 3
    await asyncio.sleep(0.1)  # the cancelled timer adds nothing twice
    assert _sample("contest_answers_refused_total", {"reason": label}) == before + 3


def test_a_tally_outside_an_event_loop_counts_at_once() -> None:
    from engine.runtime import counters

    tally = counters.Tally(metrics.ANSWERS_REFUSED)
    before = _sample("contest_answers_refused_total", {"reason": "tally_sync"})
    tally.add("tally_sync")
    assert _sample("contest_answers_refused_total", {"reason": "tally_sync"}) == before + 1
