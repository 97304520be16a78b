"""docs/openapi.yaml is current, names exactly the app's routes, and the app's answers
decode as the schemas it names."""

import types
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis.asyncio
from starlette.routing import Route

from engine.campaigns.store import CampaignStore
from engine.contests.store import ContestStore
from engine.core.campaign import CampaignSpec
from engine.core.settings import Settings
from engine.directory.orgs import CENTRAL
from engine.http import openapi
from engine.http.app import create_app
from question_bank.ids import MemberId, QuestionId
from scoring.live import LiveScoring
from tests.contest_helpers import live_spec, now_ms, setup_org
from tests.http_server import serve_app

DOC = Path(__file__).parent.parent / "docs" / "openapi.yaml"


def test_the_document_is_current() -> None:
    assert DOC.read_text() == openapi.render(), "run: python -m engine.http.openapi > " + str(DOC)


def test_paths_and_methods_are_the_apps_routes() -> None:
    app = create_app(Settings(), redis.asyncio.Redis())
    routes = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD" and not route.path.startswith("/console")  # docs/console.md
    }
    documented = {
        (path, method) for path, item in openapi.spec()["paths"].items() for method in item
    }
    assert documented == routes


_TYPES: dict[str, Any] = {struct.__name__: struct for struct in openapi._STRUCTS}


def _type_of(name: str) -> Any:
    inner = _TYPES[name.strip("[]")]
    return types.GenericAlias(list, (inner,)) if name.startswith("[") else inner


async def test_answers_decode_as_their_schemas(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    key = await setup_org(redis_client, key_prefix, CENTRAL)
    store = ContestStore(redis_client, key_prefix)
    contest = await store.create(CENTRAL, live_spec(await now_ms(redis_client), id="show"))
    await store.apply(contest.id, "schedule")
    await store.apply(contest.id, "start")
    live = LiveScoring(redis_client, contest.id, prefix=key_prefix)
    await live.open_question(QuestionId("q1"), index=0, time_ms=5_000, points=10)
    await live.accept(MemberId("m1"), QuestionId("q1"), 1.0, "a", unit="u1", choices=["a"])
    await store.apply(contest.id, "close")
    await store.finalize(contest.id)
    await CampaignStore(redis_client, key_prefix).create(
        CENTRAL, CampaignSpec(title="Tuần", id="show")
    )
    checked = 0
    app = create_app(Settings(key_prefix=key_prefix), redis_client)
    async with serve_app(app) as base:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            for endpoint in openapi.ENDPOINTS:
                name = endpoint.response
                if endpoint.method != "get" or name is None or name.strip("[]") not in _TYPES:
                    continue
                path = endpoint.path.replace("{id}", "show").replace("{bank_id}", "b1")
                response = await client.get(path)
                assert response.status_code == endpoint.status, (path, response.text)
                msgspec.json.decode(response.content, type=_type_of(name))
                checked += 1
    assert checked >= 10
