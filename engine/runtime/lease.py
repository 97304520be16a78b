"""A lease in Redis: one holder at a time for a job many processes could run.

The live-show conductor of a contest and the scheduler's jobs run in every gateway process,
but only the process that holds the job's lease does the work. A lease is a Redis string
``key -> holder`` with a time-to-live:

* :meth:`Lease.acquire` is ``SET key holder NX PX ttl``: it succeeds only when nobody holds it;
* :meth:`Lease.renew` extends the time-to-live by a compare-and-set in Lua (only while the
  key still names this holder), so a holder that paused past its time-to-live and lost the
  lease to another process cannot take it back;
* :meth:`Lease.release` deletes the key by the same compare-and-set.

:meth:`Lease.hold` runs a coroutine while holding the lease: it renews every third of the
time-to-live in the background and, the moment a renewal fails (another process holds the
key, or Redis could not be reached for as long as the lease lasts), cancels the coroutine
and raises :class:`~engine.core.errors.LeaseLost`. Work that must never be done by two processes
at once should also check the holder inside the same Lua script that writes (fencing, as
the conductor's state script does with :data:`HOLDER_CHECK`), because a cancelled task
may still have one Redis call in flight.

Times are integer milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from engine.core.errors import LeaseLost
from engine.runtime.redisconn import AsyncRedis

__all__ = ["HOLDER_CHECK", "Lease", "new_holder_id"]

T = TypeVar("T")

HOLDER_CHECK = "redis.call('GET', KEYS[1]) == ARGV[1]"
"""Lua condition, true while ``KEYS[1]`` (a lease key) names the holder ``ARGV[1]``."""

_RENEW = f"""
-- Extend a lease held by ARGV[1].
-- KEYS[1] lease key
-- ARGV[1] holder id, ARGV[2] time-to-live (ms)
-- Returns 1 if extended, 0 if another holder (or nobody) has it.
if {HOLDER_CHECK} then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = f"""
-- Give up a lease held by ARGV[1].
-- KEYS[1] lease key
-- ARGV[1] holder id
-- Returns 1 if deleted, 0 if it was not ours.
if {HOLDER_CHECK} then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def new_holder_id() -> str:
    """A holder id unique to this process and call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The lease ``key`` in *client*, held as ``holder`` for ``ttl_ms`` at a time."""

    def __init__(
        self,
        client: AsyncRedis,
        key: str,
        *,
        ttl_ms: int,
        holder: str | None = None,
    ) -> None:
        if ttl_ms < 30:
            raise ValueError("a lease must last at least 30 ms")
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.holder = holder or new_holder_id()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or keep it if we do); True when it is ours."""
        taken = await self.client.set(self.key, self.holder, nx=True, px=self.ttl_ms)
        if taken:
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease if it is still ours; False when it is not."""
        return bool(await self._renew(keys=[self.key], args=[self.holder, self.ttl_ms]))

    async def release(self) -> bool:
        """Delete the lease if it is still ours, so another process need not wait it out."""
        return bool(await self._release(keys=[self.key], args=[self.holder]))

    async def current_holder(self) -> str | None:
        """Who holds the lease now, if anyone."""
        value = await self.client.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def wait_acquire(self, *, poll_ms: int | None = None) -> None:
        """Wait until the lease is ours, trying every ``poll_ms`` (a third of the ttl)."""
        interval = (poll_ms if poll_ms is not None else max(self.ttl_ms // 3, 10)) / 1000
        while not await self.acquire():
            await asyncio.sleep(interval)

    async def hold(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` while renewing the lease, which must already be ours.

        Returns what ``work`` returns and releases the lease. If the lease is lost meanwhile
        (renewal refused, or Redis unreachable until the lease would have run out), ``work``
        is cancelled and :class:`LeaseLost` raised. Cancelling ``hold`` cancels ``work``
        and releases the lease when Redis can be reached.
        """
        task: asyncio.Future[T] = asyncio.ensure_future(work())
        lost: list[str] = []

        async def keep() -> None:
            interval = self.ttl_ms / 3000
            last_ok = time.monotonic()
            keeper = asyncio.current_task()
            while True:
                if keeper is not None and keeper.cancelling():
                    # Cancelled, but a renewal swallowed the CancelledError (Python 3.11's
                    # asyncio.wait_for in redis-py does when the cancel lands as the reply
                    # arrives): stop renewing, or hold() would never return.
                    raise asyncio.CancelledError
                await asyncio.sleep(interval)
                try:
                    ours = await self.renew()
                except RedisError as exc:
                    # Unreachable: keep trying while the lease could still be ours.
                    if (time.monotonic() - last_ok) * 1000 < self.ttl_ms:
                        continue
                    lost.append(f"Redis unreachable: {exc}")
                    break
                if not ours:
                    lost.append("held by another process")
                    break
                last_ok = time.monotonic()
            task.cancel()

        keeper = asyncio.ensure_future(keep())
        me = asyncio.current_task()
        try:
            result = await task
            if me is not None and me.cancelling():
                # We were cancelled but *work* swallowed its CancelledError and finished.
                raise asyncio.CancelledError
            return result
        except asyncio.CancelledError:
            if lost:
                raise LeaseLost(f"lease {self.key} lost by {self.holder}: {lost[0]}") from None
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if not lost:
                with contextlib.suppress(RedisError):
                    await self.release()
