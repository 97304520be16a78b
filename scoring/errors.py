"""Exceptions of the scoring package, and the one place Redis errors are mapped to them.

::

    ScoringError
    ├── RedisUnavailable      Redis could not be reached, timed out, is loading or the
    │                         cluster is down: the call may be retried later
    ├── ScriptError           a Lua script or command failed inside Redis (a bug, wrong
    │                         key types, out of memory); retrying will not help
    ├── CorruptData           something stored in Redis does not decode as expected
    └── ScoringUsageError     our own code misused this package (not the member's fault)
        ├── UnknownScript     no scoring/lua/<name>.lua
        └── BatcherClosed     a call was submitted to a closed AnswerBatcher

Refusals of an answer (late, duplicate, not open, ...) are not exceptions: they are
outcomes (:class:`scoring.live.AnswerOutcome` with ``accepted=False`` and a ``reason``).

:func:`map_redis_errors` wraps every Redis call at the package boundary, so callers above
(``engine``) see only this tree, never redis-py's classes; :func:`map_redis_error` does
the same for an exception returned as a value by a pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions

__all__ = [
    "REDIS_FAILURES",
    "BatcherClosed",
    "CorruptData",
    "RedisUnavailable",
    "ScoringError",
    "ScoringUsageError",
    "ScriptError",
    "UnknownScript",
    "map_redis_error",
    "map_redis_errors",
]


class ScoringError(Exception):
    """Base class of every error this package raises."""


class RedisUnavailable(ScoringError):
    """Redis could not be reached, timed out, is loading its data or the cluster is down."""


class ScriptError(ScoringError):
    """A script or command failed inside Redis; retrying the same call will not help."""


class CorruptData(ScoringError):
    """A value stored in Redis does not have the expected shape."""


class ScoringUsageError(ScoringError):
    """This package was called wrongly by our own code."""


class UnknownScript(ScoringUsageError):
    """No Lua script of that name in ``scoring/lua``."""


class BatcherClosed(ScoringUsageError):
    """A call was submitted to an :class:`~scoring.batcher.AnswerBatcher` after close."""


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError, MaxConnectionsError
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.RedisClusterUnreachableError,  # no node of the cluster answers
    redis.exceptions.ReadOnlyError,
    ConnectionError,  # OSError subclasses raised by the socket layer
    TimeoutError,
)


def map_redis_error(exc: BaseException) -> ScoringError:
    """The :class:`ScoringError` for a redis-py (or socket) exception."""
    if isinstance(exc, ScoringError):
        return exc
    if isinstance(exc, _UNAVAILABLE):
        error: ScoringError = RedisUnavailable(str(exc) or type(exc).__name__)
    elif isinstance(exc, redis.exceptions.RedisError):
        error = ScriptError(str(exc) or type(exc).__name__)
    else:
        error = ScoringError(str(exc) or type(exc).__name__)
    error.__cause__ = exc
    return error


REDIS_FAILURES: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    redis.exceptions.RedisClusterException,  # not a RedisError (SlotNotCovered, ...)
    ConnectionError,
    TimeoutError,
)
"""What :func:`map_redis_errors` re-raises as a :class:`ScoringError` (none of them is one)."""


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Re-raise redis-py and socket errors raised in the block as :class:`ScoringError`."""
    try:
        yield
    except ScoringError:
        raise
    except REDIS_FAILURES as exc:
        raise map_redis_error(exc) from exc
