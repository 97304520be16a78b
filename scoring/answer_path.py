"""What the live and window accept paths share (:mod:`scoring.live`, :mod:`scoring.window`).

:class:`AnswerPath` holds one contest's keys, its scripts and the optional
:class:`~scoring.batcher.AnswerBatcher`, and caches the KEYS of an answer call that depend
only on (question, province, unit): on the hot path they are spelled once per question and
place, not once per answer.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from question_bank.ids import ContestId, QuestionId

from .batcher import AnswerBatcher
from .errors import ScoringUsageError
from .keys import DEFAULT_PREFIX, ContestKeys
from .scripts import AnyRedis, Scripts
from .shards import contest_shards

__all__ = ["AnswerPath", "fraction_arg", "given_arg"]

_KEYS_CACHE_LIMIT = 10_000


def fraction_arg(fraction: float) -> str:
    """*fraction* as the scripts' ARGV (``repr(float)``); a NaN or infinite one is refused
    (:class:`ScoringUsageError`) before anything is sent: Lua would clamp ``inf`` to full
    points and fail half-way on ``nan``."""
    value = float(fraction)
    if not math.isfinite(value):
        raise ScoringUsageError(f"a graded fraction is a finite number, not {value!r}")
    return repr(value)


_encode = msgspec.json.Encoder().encode


def given_arg(given: Any) -> bytes:
    """The answer as the member gave it, as the scripts' ARGV: its JSON text (msgspec, so
    canonical and valid: the script embeds it in the record as it is, and no number goes
    through Lua's 14-digit cjson); ``b""`` for ``None`` (nothing recorded)."""
    if given is None:
        return b""
    try:
        return _encode(given)
    except (TypeError, msgspec.EncodeError) as exc:
        raise ScoringUsageError(f"an answer given must encode as JSON: {exc}") from exc


class AnswerPath:
    """One contest's keys, scripts and batcher, with a bounded cache of answer-call KEYS."""

    def __init__(
        self,
        redis: AnyRedis,
        contest: ContestId,
        prefix: str = DEFAULT_PREFIX,
        *,
        batcher: AnswerBatcher | None = None,
        scripts: Scripts | None = None,
        shards: int = 1,
    ) -> None:
        self.redis = redis
        self.contest = contest
        self.keys = ContestKeys(contest, prefix)
        self.shards = contest_shards(contest, prefix, shards)
        """The member shards (live shows; a window round has one)."""
        self.scripts = scripts if scripts is not None else Scripts(redis)
        self.batcher = batcher
        self._answer_keys: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def _cached_keys(self, question: QuestionId, province: str, unit: str) -> tuple[str, ...]:
        """:meth:`_build_keys` of (question, province, unit), built once and kept."""
        keys = self._answer_keys.get((question, province, unit))
        if keys is None:
            if len(self._answer_keys) > _KEYS_CACHE_LIMIT:
                self._answer_keys.clear()  # bounded cache: questions come and go
            keys = self._answer_keys[(question, province, unit)] = self._build_keys(
                question, province, unit
            )
        return keys

    def _build_keys(self, question: QuestionId, province: str, unit: str) -> tuple[str, ...]:
        raise NotImplementedError
