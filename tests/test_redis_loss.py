"""After Redis loses its data (FLUSHALL, or restarted without its AOF) the engine recovers
what it can and tells members what it cannot: organiser keys from ``CONTEST_API_KEYS``
work again, and members of a contest that vanished are closed with 4504 (do not reconnect).
Real Redis, the real HTTP app and gateway on real ports, real clients."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis.asyncio
from websockets.exceptions import ConnectionClosed

from engine.core import messages as m
from engine.core.errors import CloseCode
from engine.core.settings import Settings
from engine.directory.orgs import OrgStore
from engine.http.app import create_app
from question_bank.ids import OrgId
from scoring.keys import GlobalKeys
from scoring.redis_server import RedisServer
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.http_server import serve_app
from tests.utils import timeout


async def test_api_keys_from_settings_work_after_redis_loses_its_data(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    settings = Settings(key_prefix=key_prefix, api_keys="central:dev-key-1,hue:dev-key-2")
    orgs = OrgStore(redis_client, key_prefix)
    async with serve_app(create_app(settings, redis_client)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout(10)) as http:

            async def status(key: str) -> int:
                headers = {"Authorization": f"Bearer {key}"}
                return (await http.get("/api/banks", headers=headers)).status_code

            assert await status("dev-key-2") == 200
            await redis_client.flushall()
            assert await status("dev-key-2") == 200
            assert await status("dev-key-1") == 200
            assert await status("other") == 401
            assert (await orgs.get(OrgId("hue"))).province == "hue"
            # A key revoked by hand stays revoked: its organisation is still there, so
            # nothing was lost and the key is not put back.
            assert await orgs.revoke_key("dev-key-1")
            assert await status("dev-key-1") == 401
            assert await status("dev-key-2") == 200


@pytest.mark.parametrize("loss", ["flushall", "definition deleted"])
async def test_members_of_a_contest_that_vanished_are_closed_4504(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, loss: str
) -> None:
    live = await create_contest(redis_client, key_prefix, "live")
    window = await create_contest(redis_client, key_prefix, "window", setup=False)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.presence_seconds = 0.2
        async with (
            client(gw, live.id, token(live.id, "a")) as a,
            client(gw, window.id, token(window.id, "b")) as b,
        ):
            assert isinstance(await recv_until(a, m.Welcome), m.Welcome)
            assert isinstance(await recv_until(b, m.Welcome), m.Welcome)
            if loss == "flushall":
                await redis_client.flushall()
            else:
                await redis_client.hdel(GlobalKeys(key_prefix).contests, live.id)
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(timeout(10)):
                    while True:
                        await a.recv()
            assert a.close_code == CloseCode.CONTEST_NOT_FOUND
            if loss == "flushall":
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(timeout(10)):
                        while True:
                            await b.recv()
                assert b.close_code == CloseCode.CONTEST_NOT_FOUND
            else:  # the other contest's member stays
                await send(b, m.Ping(t=1))
                assert isinstance(await recv_until(b, m.Pong), m.Pong)


async def test_redis_down_then_restarted_without_its_data(key_prefix: str) -> None:
    """docs/operations.md, Crash and restart: while Redis is down a joined member stays
    connected and its requests get ``unavailable``; a join gets ``unavailable`` and close
    4005. Redis back without its data: the contest is gone, its members are closed 4504."""
    server = RedisServer().start()
    restarted: RedisServer | None = None
    try:
        setup = redis.asyncio.Redis.from_url(server.url)
        live = await create_contest(setup, key_prefix, "live")
        await setup.aclose()
        settings = make_settings(server.url, key_prefix)
        async with running_gateway(settings) as gw:
            gw.presence_seconds = 0.2
            async with client(gw, live.id, token(live.id, "a")) as a:
                await recv_until(a, m.Welcome)
                server.kill()
                await asyncio.sleep(0.5)  # several presence checks find no Redis
                for _ in range(2):
                    await send(a, m.LeaderboardRequest())
                    error = await recv_until(a, m.Error)
                    assert error.code == "unavailable"
                async with client(gw, live.id, token(live.id, "b")) as b:
                    assert (await recv_until(b, m.Error)).code == "unavailable"
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(b.recv(), timeout(5))
                    assert b.close_code == CloseCode.UNAVAILABLE
                await send(a, m.Ping(t=1))
                assert isinstance(await recv_until(a, m.Pong), m.Pong)  # still connected
                restarted = RedisServer(port=server.port).start()
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(timeout(15)):
                        while True:
                            await a.recv()
                assert a.close_code == CloseCode.CONTEST_NOT_FOUND
    finally:
        server.stop()
        if restarted is not None:
            restarted.stop()
