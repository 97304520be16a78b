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
