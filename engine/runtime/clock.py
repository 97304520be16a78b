"""The server clock: this host's clock corrected to Redis's ``TIME``.

Every deadline the scoring scripts check is on Redis's clock, so what the gateway tells
members (``Welcome.server_time``, ``Pong.server_time``) must be on it too, or a member's
countdown would disagree with the script that refuses a late answer. :class:`ServerClock`
measures the offset once (and again on :meth:`sync`), taking the midpoint of the round
trip, and then reads the local clock with the offset added: no Redis call per read.
"""

from __future__ import annotations

import time

from engine.runtime.redisconn import AsyncRedis

__all__ = ["ServerClock", "local_ms"]


def local_ms() -> int:
    """This host's clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class ServerClock:
    """Milliseconds on Redis's clock, read locally."""

    __slots__ = ("offset",)

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    async def sync(self, redis_client: AsyncRedis) -> int:
        """Measure the offset to Redis ``TIME``; returns it (ms)."""
        before = local_ms()
        seconds, micros = await redis_client.time()
        after = local_ms()
        server = int(seconds) * 1000 + int(micros) // 1000
        self.offset = server - (before + after) // 2
        return self.offset

    def __call__(self) -> int:
        return local_ms() + self.offset
