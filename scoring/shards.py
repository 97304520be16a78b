"""The member shards of a contest, for the scoring classes: :func:`contest_shards` checks
the count and raises this package's error (the key names are :mod:`scoring.keys`')."""

from __future__ import annotations

from question_bank.ids import ContestId

from .errors import ScoringUsageError
from .keys import ContestShards

__all__ = ["contest_shards"]


def contest_shards(contest: ContestId, prefix: str, shards: int) -> ContestShards:
    """The key sets of *contest*'s *shards* member shards; :class:`ScoringUsageError` for a
    count outside 1..:data:`~scoring.keys.MAX_SHARDS`."""
    try:
        return ContestShards(contest, prefix, shards)
    except ValueError as exc:
        raise ScoringUsageError(str(exc)) from exc
