"""The heads of a window finalize (:func:`~scoring.ranking.heads_of`), built as the read goes.

A finalize reads ``P:{C}:best`` chunk by chunk while Redis scans the next chunk; Python
waits for Redis there. :class:`ChunkedHeads` uses that wait to build, for each chunk, the
part of every member's head that does not depend on the true figure (score, time used,
submitted at), so that once the truth is known only the distance is added: the work left
between the read and the sort (where Redis waits for Python) is about a third of
:func:`~scoring.ranking.heads_of`. The heads are those of ``heads_of``, bit for bit (a
property test checks it); a figure outside the packed ranges, or a member read twice,
falls back to ``heads_of`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from operator import is_not
from typing import cast

from .attempt_model import BestAttempt
from .ranking import distance_packable, heads_of, packable, undistanced_heads, with_distances

__all__ = ["ChunkedHeads"]


class ChunkedHeads:
    """:func:`~scoring.ranking.heads_of` of a list of best attempts given in chunks."""

    def __init__(self) -> None:
        self.partial: list[int] = []
        """Each member's head with a distance of 0."""
        self.predictions: list[int | None] = []
        self.given: list[int] = []
        """The lowest and highest prediction so far (none yet: empty)."""
        self.exact = True
        """False once a figure was out of range: :meth:`heads` falls back to ``heads_of``."""

    def add(self, chunk: Sequence[BestAttempt]) -> None:
        """The next members, in the order of the list given to :meth:`heads`."""
        if not self.exact or not chunk:
            return
        scores = [b.score for b in chunk]
        times = [b.time_used for b in chunk]
        subs = [b.submitted for b in chunk]
        if not packable(scores, times, subs):
            self.drop()
            return
        self.partial += undistanced_heads(scores, times, subs)
        predictions = [b.prediction for b in chunk]
        given = cast("list[int]", list(filter(partial(is_not, None), predictions)))
        if given:
            low, high = min(given), max(given)
            if self.given:
                low, high = min(low, self.given[0]), max(high, self.given[1])
            self.given = [low, high]
        self.predictions += predictions

    def drop(self) -> None:
        """Give up (the caller's list no longer matches the chunks given)."""
        self.exact = False
        self.partial, self.predictions, self.given = [], [], []

    def heads(self, bests: Sequence[BestAttempt], truth: int | None) -> list[int]:
        """``heads_of(bests, truth)``: *bests* are the chunks given, in order."""
        if not self.exact or len(self.partial) != len(bests):
            return heads_of(bests, truth)
        if truth is None:
            return self.partial
        given = self.given
        if given and not distance_packable(given[0], given[1], truth):
            return heads_of(bests, truth)
        return with_distances(self.partial, self.predictions, truth)
