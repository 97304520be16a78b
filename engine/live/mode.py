"""The live show as a contest mode (listed in :mod:`engine.contests.modes`)."""

from __future__ import annotations

from engine.live.members import LiveMembers
from engine.live.runner import LiveRunner
from engine.modes.base import ContestMode

__all__ = ["LIVE"]

LIVE = ContestMode(name="live", members=LiveMembers, runner=LiveRunner)
