"""Batching of script calls from many concurrent coroutines into few pipelines.

A gateway holds thousands of sockets; answering each with its own ``await script(...)``
opens a Redis connection per answer in flight (10,000 in flight fail with redis-py's
``MaxConnectionsError``). :class:`AnswerBatcher` gathers calls for ``window_ms`` (or until
``max_batch`` are waiting) and sends them as one non-transactional pipeline of EVALSHA
(:meth:`scoring.scripts.Scripts.run_batch`). At most ``connections`` pipelines are in
flight at once, so the batcher never holds more than that many Redis connections; while
all are busy, new calls keep gathering and leave as soon as one pipeline returns (under
load batches grow by themselves).

Each caller awaits only its own result. A call that fails inside Redis fails only its
caller (with a :class:`~scoring.errors.ScoringError`); a pipeline that fails as a whole
(connection lost) fails the callers of that batch with
:class:`~scoring.errors.RedisUnavailable`. A caller cancelled before its batch leaves is
dropped from it; one cancelled later does not disturb the others (the call may still run
in Redis, as a sent request can be). The batcher is generic: any script, live or window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .errors import BatcherClosed, ScoringError, map_redis_error
from .scripts import ScriptCall, Scripts

__all__ = ["AnswerBatcher", "run_call"]

_Item = tuple[ScriptCall, "asyncio.Future[Any]"]


class AnswerBatcher:
    """Send script calls from many coroutines as pipelines over at most K connections.

    The client bound to *scripts* must allow at least *connections* connections (redis-py's
    default pool does; a ``BlockingConnectionPool`` of that size is the tight choice).
    """

    def __init__(
        self,
        scripts: Scripts,
        *,
        window_ms: float = 2.0,
        max_batch: int = 512,
        connections: int = 8,
    ) -> None:
        if window_ms < 0 or max_batch < 1 or connections < 1:
            raise ValueError("window_ms >= 0, max_batch >= 1 and connections >= 1 are required")
        self.scripts = scripts
        self.window = window_ms / 1000.0
        self.max_batch = max_batch
        self.connections = connections
        self._pending: list[_Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches_sent = 0
        """Pipelines sent so far (for metrics and tests)."""
        self.largest_batch = 0
        """Most calls sent in one pipeline so far."""

    @property
    def in_flight(self) -> int:
        """Pipelines currently waiting for Redis (never more than ``connections``)."""
        return self._in_flight

    async def submit(self, call: ScriptCall) -> Any:
        """Run *call* in the next batch and return its result (or raise its error)."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((call, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window, self._on_timer)
        return await future

    async def submit_many(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Submit several calls at once; results (or ScoringError instances) in order."""
        outcomes = await asyncio.gather(*(self.submit(c) for c in calls), return_exceptions=True)
        return [
            o if not isinstance(o, BaseException) or isinstance(o, ScoringError) else _raise(o)
            for o in outcomes
        ]

    def _on_timer(self) -> None:
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        """Send what is pending, as many batches as free connections allow."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending and self._in_flight < self.connections:
            batch = [item for item in self._pending[: self.max_batch] if not item[1].done()]
            del self._pending[: self.max_batch]
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Anything left waits for a connection: _send flushes again when one returns.

    async def _send(self, batch: list[_Item]) -> None:
        try:
            batch = [item for item in batch if not item[1].done()]
            self.batches_sent += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                results = await self.scripts.run_batch([call for call, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:  # the whole pipeline failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(map_redis_error(exc))
                return
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, ScoringError):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._pending:
                self._flush()

    async def close(self) -> None:
        """Send what is pending, wait for every batch in flight, refuse further calls, and
        give the connections the batches kept back to the client's pool."""
        self._closed = True
        self._flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            self._flush()
        await self.scripts.release_kept()

    async def __aenter__(self) -> AnswerBatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _raise(exc: BaseException) -> Any:
    raise exc


async def run_call(call: ScriptCall, scripts: Scripts, batcher: AnswerBatcher | None) -> Any:
    """Run *call* through *batcher* when there is one (the storm path), else straight on
    *scripts*; the script's raw reply either way."""
    if batcher is not None:
        return await batcher.submit(call)
    return await scripts.call(call.name, call.keys, call.args)
