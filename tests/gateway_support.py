"""Helpers of the gateway tests: settings, contests in Redis, gateways on real ports, clients.

Everything is real: a redis-server (the session fixture), gateways listening on free
loopback ports, websockets clients over TCP. Each test has its own key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import redis.asyncio
from websockets.asyncio.client import ClientConnection, connect

from engine.contests.store import ContestStore
from engine.core import messages as m
from engine.core.contest import Contest, ContestSpec, WindowTiming
from engine.core.settings import Settings
from engine.directory import tokens
from engine.gateway.server import Gateway
from engine.runtime.redisconn import connect as connect_redis
from question_bank.ids import OrgId, QuestionId
from tests.contest_helpers import live_spec, now_ms, setup_org, window_spec
from tests.utils import timeout

SECRET = "gateway-test-secret-0123456789abcdef"
ORG = "central"

__all__ = [
    "ORG",
    "SECRET",
    "client",
    "create_contest",
    "create_window",
    "make_settings",
    "monitored",
    "recv",
    "recv_until",
    "running_gateway",
    "sent_by_clients",
    "token",
]


def make_settings(redis_url: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": prefix,
        "token_secret": SECRET,
        "host": "127.0.0.1",
        "max_frame_bytes": 1024,
        "max_messages_per_second": 50.0,
        "idle_timeout": 60.0,
        "answer_batch_ms": 1.0,
        "redis_pool_size": 4,
    }
    values.update(overrides)
    return Settings(**values)


async def create_contest(
    client: redis.asyncio.Redis,
    prefix: str,
    mode: str,
    *,
    events: tuple[str, ...] | None = None,
    setup: bool = True,
    **overrides: Any,
) -> Contest:
    """An organisation with the helper bank, and a contest moved by *events* (default:
    window -> open, live -> scheduled)."""
    if setup:
        await setup_org(client, prefix, ORG)
    now = await now_ms(client)
    spec: ContestSpec = (window_spec if mode == "window" else live_spec)(now, **overrides)
    store = ContestStore(client, prefix)
    contest = await store.create(OrgId(ORG), spec)
    for event in events or (("schedule", "open") if mode == "window" else ("schedule",)):
        contest = await store.apply(contest.id, event)  # type: ignore[arg-type]
    return contest


async def create_window(
    client: redis.asyncio.Redis,
    prefix: str,
    *,
    closes_in_ms: int,
    attempt_seconds: int = 600,
    prediction_question: str | None = "pred",
) -> Contest:
    """An open window round (the helper bank) that closes *closes_in_ms* from now (Redis
    clock), one attempt of *attempt_seconds* allowed."""
    now = await now_ms(client)
    window = WindowTiming(
        opens_at=now - 1000,
        closes_at=now + closes_in_ms,
        attempt_seconds=attempt_seconds,
        prediction_question=QuestionId(prediction_question) if prediction_question else None,
    )
    return await create_contest(client, prefix, "window", window=window)


def token(contest: str, member: str = "m1", **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "contest": contest,
        "member": member,
        "name": f"Member {member}",
        "province": "hanoi",
        "unit": "hn-01",
    }
    claims.update(overrides)
    secret = claims.pop("secret", SECRET)
    return tokens.issue(secret, **claims)


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, **kwargs: Any) -> AsyncIterator[Gateway]:
    client = connect_redis(settings.redis_url or "")  # one Redis, or a redis+cluster:// URL
    gateway = Gateway(settings, client, **kwargs)
    try:
        await gateway.start(port=0)
        yield gateway
    finally:
        await gateway.close()
        await client.aclose()


@contextlib.asynccontextmanager
async def client(
    gateway: Gateway,
    contest: str,
    tok: str | None = None,
    *,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientConnection]:
    url = f"ws://127.0.0.1:{gateway.port}{path or '/ws/' + contest}"
    if tok is not None:
        url += f"?token={tok}"
    async with connect(
        url, compression=None, open_timeout=timeout(5), additional_headers=headers
    ) as ws:
        yield ws


async def recv(ws: ClientConnection) -> m.ServerMessage:
    """The next server message (within the test timeout)."""
    frame = await asyncio.wait_for(ws.recv(), timeout(5))
    return m.decode_server(frame)


async def recv_until(ws: ClientConnection, kind: type[Any]) -> Any:
    """Skip messages until one of type *kind* arrives."""
    while True:
        message = await recv(ws)
        if isinstance(message, kind):
            return message


async def send(ws: ClientConnection, message: msgspec.Struct) -> None:
    await ws.send(m.encode(message), text=True)


@contextlib.asynccontextmanager
async def monitored(redis_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every command Redis runs while the block runs (``MONITOR``, from 0.2 s before it to
    0.3 s after it), commands run inside scripts included (``client_type`` ``lua``)."""
    watcher = redis.asyncio.Redis.from_url(redis_url)
    seen: list[dict[str, Any]] = []
    try:
        async with watcher.monitor() as monitor:

            async def watch() -> None:
                while True:
                    seen.append(await monitor.next_command())

            task = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            try:
                yield seen
            finally:
                await asyncio.sleep(0.3)
                task.cancel()
    finally:
        await watcher.aclose()


def sent_by_clients(seen: list[dict[str, Any]], needle: str) -> list[str]:
    """The names of the commands in *seen* (:func:`monitored`) not run inside a script
    that mention *needle* (a member or contest id)."""
    return [
        str(c["command"]).split()[0].upper()
        for c in seen
        if c.get("client_type") != "lua" and needle in str(c.get("command", ""))
    ]
