"""The contest modes, by name: the one place that picks a mode's behaviour by
``contest.mode``. A new mode is a package beside :mod:`engine.live` and :mod:`engine.window`
(a :class:`~engine.modes.base.ContestMode` with its members' and its runner's side) and one
entry here (plus its rows in the pure tables of :mod:`engine.core.lifecycle` and
:mod:`engine.core.contest`)."""

from __future__ import annotations

from engine.core.contest import Contest
from engine.core.lifecycle import Mode
from engine.live.mode import LIVE
from engine.modes.base import ContestMode
from engine.window.mode import WINDOW

__all__ = ["MODES", "mode_of"]

MODES: dict[Mode, ContestMode] = {mode.name: mode for mode in (LIVE, WINDOW)}


def mode_of(contest: Contest) -> ContestMode:
    """The mode of *contest*."""
    return MODES[contest.mode]
