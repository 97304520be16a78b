"""engine.runtime.logs.FailureLog: the first failure, reminders, the recovery; no flood."""

from __future__ import annotations

import logging

import pytest

from engine.runtime.logs import FailureLog

log = logging.getLogger("test.failure_log")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_one_line_for_many_failures_then_the_recovery(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log, "tick", remind_seconds=3600)
    with caplog.at_level(logging.INFO, logger=log.name):
        for i in range(50):
            failures.failed(ConnectionError(f"down {i}"))
        assert messages(caplog) == ["tick failed: down 0"]
        failures.succeeded()
        failures.succeeded()
    assert messages(caplog) == ["tick failed: down 0", "tick works again after 50 failures"]
    assert failures.count == 0


def test_a_reminder_when_due(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log, "tick", remind_seconds=0)
    with caplog.at_level(logging.INFO, logger=log.name):
        failures.failed(OSError("a"))
        failures.failed(OSError("b"))
    assert messages(caplog) == [
        "tick failed: a",
        "tick still failing (2 times in a row, 1 since the last report): b",
    ]
