"""Fixtures: a real redis-server per test session, flushed before every test.

No fakes: the server is the same ``redis-server`` binary production runs, started on a free
loopback port with no RDB/AOF files, and stopped at the end of the session.
"""

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from scoring.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's redis-server, flushed before the test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def key_prefix() -> str:
    """A key prefix unique to this test, to isolate tests that share one server."""
    return f"t{uuid.uuid4().hex[:10]}"
