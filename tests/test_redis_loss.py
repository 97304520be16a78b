"""After Redis loses its data (FLUSHALL, or restarted without its AOF) the engine recovers
what it can and tells members what it cannot: organiser keys from ``CONTEST_API_KEYS``
work again, and members of a contest that vanished are closed with 4504 (do not reconnect).
Real Redis, the real HTTP app and gateway on real ports, real clients."""

from __future__ import annotations

import httpx
import redis.asyncio

from engine.http.app import create_app
from engine.orgs import OrgStore
from engine.settings import Settings
from question_bank.ids import OrgId
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
