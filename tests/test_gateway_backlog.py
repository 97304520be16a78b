"""The gateway's listen queue: connections the kernel holds while the workers are busy."""

from __future__ import annotations

import socket

import redis.asyncio

from engine.cli.serve import bind_reuseport
from engine.gateway.server import Gateway
from tests.gateway_support import make_settings

HELD = 600
"""More than asyncio's default backlog (100), fewer than the default somaxconn (4096)."""


def _connect_while_blocked(port: int) -> int:
    """Open up to HELD TCP connections without letting the gateway's loop run (this call
    blocks it): how many the kernel completed, that is, queued for a later accept."""
    done: list[socket.socket] = []
    try:
        for _ in range(HELD):
            sock = socket.socket()
            sock.settimeout(0.5)
            try:
                sock.connect(("127.0.0.1", port))
            except OSError:
                sock.close()
                break
            done.append(sock)
        return len(done)
    finally:
        for sock in done:
            sock.close()


async def test_the_kernel_queues_a_storm_of_connections_for_a_busy_gateway(
    redis_url, key_prefix
) -> None:
    """With asyncio's default backlog of 100 the 102nd connection's SYN was dropped (and
    retried by the client after a second or more); the gateway listens with a long queue."""
    client = redis.asyncio.Redis.from_url(redis_url)
    gateway = Gateway(make_settings(redis_url, key_prefix), client)
    try:
        await gateway.start(sock=bind_reuseport("127.0.0.1", 0))
        assert _connect_while_blocked(gateway.port) == HELD
    finally:
        await gateway.close()
        await client.aclose()
