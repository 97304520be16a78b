"""Logging a loop's failures without a line per iteration.

A loop that retries every second while Redis is down (the scheduler's tick) would log the
same warning every second. :class:`FailureLog` logs the first failure, a reminder every
:data:`REMIND_SECONDS` while failures go on (with how many there were, and the latest
error if it changed), and one line when the loop succeeds again.
"""

from __future__ import annotations

import logging
import time

__all__ = ["REMIND_SECONDS", "FailureLog"]

REMIND_SECONDS = 60.0
"""How often a failure that goes on is logged again."""


class FailureLog:
    """Failures of one repeated *what* (``"scheduler tick"``) logged on *logger*."""

    def __init__(
        self, logger: logging.Logger, what: str, *, remind_seconds: float = REMIND_SECONDS
    ) -> None:
        self.logger = logger
        self.what = what
        self.remind_seconds = remind_seconds
        self.count = 0
        """Failures in a row so far (0 while things work)."""
        self._since_log = 0
        self._logged_at = 0.0

    def failed(self, exc: BaseException) -> None:
        """One more failure: logged if it is the first, or a reminder is due."""
        self.count += 1
        self._since_log += 1
        now = time.monotonic()
        if self.count == 1:
            self.logger.warning("%s failed: %s", self.what, exc)
        elif now - self._logged_at >= self.remind_seconds:
            self.logger.warning(
                "%s still failing (%d times in a row, %d since the last report): %s",
                self.what,
                self.count,
                self._since_log,
                exc,
            )
        else:
            return
        self._since_log = 0
        self._logged_at = now

    def succeeded(self) -> None:
        """A success: logs the recovery if there were failures before it."""
        if self.count:
            self.logger.info("%s works again after %d failures", self.what, self.count)
        self.count = 0
        self._since_log = 0
