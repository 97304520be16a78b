"""The background loops every gateway worker runs beside its gateway and HTTP API.

``contest serve`` starts :func:`run` in each worker (``engine.cli.serve.BACKGROUND_MODULES``):
the :class:`~engine.scheduling.scheduler.Scheduler`, which fires timed lifecycle transitions, closes
window attempts at their deadline and conducts live shows, each job lease-guarded in Redis
so that exactly one process does it at a time.
"""

from __future__ import annotations

import asyncio

from engine.core.settings import Settings
from engine.runtime.redisconn import AsyncRedis
from engine.scheduling.scheduler import Scheduler

__all__ = ["run"]


async def run(settings: Settings, redis_client: AsyncRedis, stop: asyncio.Event) -> None:
    """Run the scheduler (and through it the conductors) until *stop* is set."""
    scheduler = Scheduler(
        redis_client,
        prefix=settings.key_prefix,
        conductor_lease_ms=settings.conductor_lease_ms,
    )
    await scheduler.run(stop)
