"""The window round as a contest mode (listed in :mod:`engine.contests.modes`)."""

from __future__ import annotations

from engine.modes.base import ContestMode
from engine.window.members import WindowMembers
from engine.window.runner import WindowRunner

__all__ = ["WINDOW"]

WINDOW = ContestMode(name="window", members=WindowMembers, runner=WindowRunner)
