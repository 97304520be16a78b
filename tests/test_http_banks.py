"""The banks HTTP API: the real app served by uvicorn on a free port, real Redis, httpx."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio

from engine.core.settings import Settings
from engine.directory.banks import BankStore
from engine.directory.orgs import OrgStore
from engine.http.app import create_app
from engine.http.banks import MAX_UPLOAD_BYTES
from question_bank.formats import dumps, loads
from question_bank.ids import OrgId
from question_bank.models import Bank
from tests.http_server import serve_app
from tests.test_bank_store import make_bank
from tests.utils import timeout

HAS_GIFT = importlib.util.find_spec("question_bank.formats.gift") is not None


class Api(msgspec.Struct):
    a: httpx.AsyncClient  # organisation "hanoi"
    b: httpx.AsyncClient  # organisation "hue"
    anon: httpx.AsyncClient  # no key
    orgs: OrgStore
    key_a: str


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    settings = Settings(key_prefix=key_prefix)
    orgs = OrgStore(redis_client, key_prefix)
    await orgs.ensure(OrgId("hanoi"))
    await orgs.ensure(OrgId("hue"))
    key_a = await orgs.create_key(OrgId("hanoi"))
    key_b = await orgs.create_key(OrgId("hue"))
    app = create_app(settings, redis_client)
    async with serve_app(app) as base_url:
        clients = [
            httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout(10))
            for headers in (
                {"Authorization": f"Bearer {key_a}"},
                {"Authorization": f"Bearer {key_b}"},
                {},
            )
        ]
        try:
            yield Api(a=clients[0], b=clients[1], anon=clients[2], orgs=orgs, key_a=key_a)
        finally:
            for client in clients:
                await client.aclose()


def yaml_of(bank: Bank) -> bytes:
    return dumps(bank, "yaml").text.encode()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def upload(client: httpx.AsyncClient, bank: Bank, **params: str) -> httpx.Response:
    return await client.post(
        "/api/banks", content=yaml_of(bank), params={"format": "yaml", **params}
    )


# Authentication.


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ce_not-a-real-key"},
    ],
)
async def test_organiser_endpoints_need_a_valid_key(api: Api, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/banks"),
        ("POST", "/api/banks?format=yaml"),
        ("GET", "/api/banks/geo"),
        ("PUT", "/api/banks/geo?format=yaml"),
        ("DELETE", "/api/banks/geo"),
        ("GET", "/api/banks/geo/versions"),
    ]:
        response = await api.anon.request(method, path, headers=headers, content=b"x")
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_of(response)["code"] == "unauthorized"
        assert error_of(response)["message"]


async def test_revoked_key_stops_working(api: Api) -> None:
    assert (await api.a.get("/api/banks")).status_code == 200
    assert await api.orgs.revoke_key(api.key_a)
    response = await api.a.get("/api/banks")
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


# The bank lifecycle.


async def test_upload_list_get_versions(api: Api) -> None:
    response = await upload(api.a, make_bank())
    assert response.status_code == 201
    summary = {"id": "geo", "title": "Địa lý", "language": "vi", "version": 1, "questions": 3}
    assert response.json() == {**summary, "warnings": []}
    assert response.headers["location"] == "/api/banks/geo?version=1"
    assert (await api.a.get("/api/banks")).json() == {"banks": [summary]}
    got = await api.a.get("/api/banks/geo")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert msgspec.json.decode(got.content, type=Bank) == make_bank()
    versions = await api.a.get("/api/banks/geo/versions")
    assert versions.json() == {"id": "geo", "versions": [1], "latest": 1}


async def test_post_existing_id_conflicts(api: Api) -> None:
    assert (await upload(api.a, make_bank())).status_code == 201
    response = await upload(api.a, make_bank(title="again"))
    assert response.status_code == 409
    assert error_of(response)["code"] == "bank_exists"
    assert "PUT" in error_of(response)["message"]


async def test_put_makes_new_version_old_one_kept(api: Api) -> None:
    await upload(api.a, make_bank())
    response = await api.a.put(
        "/api/banks/geo", content=yaml_of(make_bank(title="Mới", n=4)), params={"format": "yaml"}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["questions"] == 5
    latest = msgspec.json.decode((await api.a.get("/api/banks/geo")).content, type=Bank)
    assert (latest.title, latest.version) == ("Mới", 2)
    first = await api.a.get("/api/banks/geo", params={"version": "1"})
    assert msgspec.json.decode(first.content, type=Bank).title == "Địa lý"
    assert (await api.a.get("/api/banks/geo/versions")).json()["versions"] == [1, 2]
    missing = await api.a.get("/api/banks/geo", params={"version": "3"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "bank_not_found"


async def test_put_url_id_wins_and_unknown_bank_is_404(api: Api) -> None:
    await upload(api.a, make_bank("geo"))
    response = await api.a.put(
        "/api/banks/geo", content=yaml_of(make_bank("other")), params={"format": "yaml"}
    )
    assert response.status_code == 200 and response.json()["id"] == "geo"
    response = await api.a.put(
        "/api/banks/nope", content=yaml_of(make_bank("nope")), params={"format": "yaml"}
    )
    assert response.status_code == 404 and error_of(response)["code"] == "bank_not_found"


async def test_delete_hides_bank_but_keeps_versions(api: Api) -> None:
    await upload(api.a, make_bank())
    response = await api.a.delete("/api/banks/geo")
    assert response.status_code == 204 and response.content == b""
    assert (await api.a.get("/api/banks")).json() == {"banks": []}
    for path in ("/api/banks/geo", "/api/banks/geo/versions"):
        assert (await api.a.get(path)).status_code == 404
    assert (await api.a.delete("/api/banks/geo")).status_code == 404
    # A contest pinned to version 1 still reads it.
    pinned = await api.a.get("/api/banks/geo", params={"version": 1})
    assert pinned.status_code == 200
    # Uploading the id again continues the numbering.
    again = await upload(api.a, make_bank())
    assert again.status_code == 201 and again.json()["version"] == 2


async def test_organisations_see_only_their_own_banks(api: Api) -> None:
    await upload(api.a, make_bank("geo", "A's"))
    assert (await api.b.get("/api/banks")).json() == {"banks": []}
    for method, path in [
        ("GET", "/api/banks/geo"),
        ("GET", "/api/banks/geo?version=1"),
        ("GET", "/api/banks/geo?format=yaml"),
        ("GET", "/api/banks/geo/versions"),
        ("DELETE", "/api/banks/geo"),
    ]:
        response = await api.b.request(method, path)
        assert response.status_code == 404, (method, path)
        assert error_of(response)["code"] == "bank_not_found"
    response = await api.b.put(
        "/api/banks/geo", content=yaml_of(make_bank("geo", "B's")), params={"format": "yaml"}
    )
    assert response.status_code == 404
    # B may have its own bank with the same id; A's is untouched.
    assert (await upload(api.b, make_bank("geo", "B's"))).status_code == 201
    a_bank = msgspec.json.decode((await api.a.get("/api/banks/geo")).content, type=Bank)
    assert (a_bank.title, a_bank.version) == ("A's", 1)


# Upload formats and errors.


async def test_format_from_content_type(api: Api) -> None:
    body = dumps(make_bank("js"), "json").text.encode()
    response = await api.a.post(
        "/api/banks", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201 and response.json()["id"] == "js"


@pytest.mark.parametrize(
    ("params", "headers"),
    [({}, {"Content-Type": "text/plain"}), ({}, {}), ({"format": "docx"}, {})],
)
async def test_unknown_format_is_415(
    api: Api, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await api.a.post(
        "/api/banks", content=yaml_of(make_bank()), params=params, headers=headers
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_format"
    assert "yaml" in error_of(response)["message"]


async def test_invalid_bank_lists_every_problem_with_locations(api: Api) -> None:
    text = yaml_of(make_bank()).replace(b"weight: 1.0", b"weight: 0.0")
    response = await api.a.post(
        "/api/banks", content=text, params={"format": "yaml", "filename": "dir/geo.yaml"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "bank_invalid"
    problems = sorted(error["problems"], key=lambda p: p["where"]["line"])
    assert [(p["code"], p["where"]) for p in problems] == [
        (
            "no_correct_option",
            {"file": "geo.yaml", "line": 4, "question": "q0", "field": "options"},
        ),
        (
            "no_correct_option",
            {"file": "geo.yaml", "line": 13, "question": "q1", "field": "options"},
        ),
    ]
    assert all(p["message"] for p in problems)
    assert (await api.a.get("/api/banks")).json() == {"banks": []}


async def test_bad_inputs(api: Api) -> None:
    empty = await api.a.post("/api/banks", content=b" \n", params={"format": "yaml"})
    assert empty.status_code == 422 and error_of(empty)["problems"][0]["code"] == "empty_file"
    bad_id = await upload(api.a, make_bank(), id="a:b")
    assert bad_id.status_code == 422
    assert error_of(bad_id)["problems"][0]["code"] == "bad_bank_id"
    await upload(api.a, make_bank())
    for version in ("abc", "0", "-1"):
        response = await api.a.get("/api/banks/geo", params={"version": version})
        assert response.status_code == 400 and error_of(response)["code"] == "bad_message"
    unknown = await api.a.get("/api/banks/geo", params={"format": "pdf"})
    assert unknown.status_code == 415


async def test_upload_too_large_is_413(api: Api) -> None:
    response = await api.a.post(
        "/api/banks", content=b"x" * (MAX_UPLOAD_BYTES + 1), params={"format": "yaml"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "http_413"


async def test_id_query_overrides_file_id(api: Api) -> None:
    response = await upload(api.a, make_bank("geo"), id="geo2")
    assert response.status_code == 201 and response.json()["id"] == "geo2"


# Export.


async def test_export_file_and_envelope(api: Api) -> None:
    await upload(api.a, make_bank())
    response = await api.a.get("/api/banks/geo", params={"format": "yaml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.headers["x-bank-warnings"] == "0"
    assert 'filename="geo-v1.' in response.headers["content-disposition"]
    assert loads(response.content, "yaml") == make_bank()
    envelope = await api.a.get(
        "/api/banks/geo", params={"format": "json"}, headers={"Accept": "application/json"}
    )
    body = envelope.json()
    assert body["format"] == "json" and body["warnings"] == []
    assert loads(body["text"], "json") == make_bank()


@pytest.mark.skipif(not HAS_GIFT, reason="the GIFT format is not in this tree yet")
async def test_gift_upload_needs_an_id_and_exports(api: Api) -> None:
    gift = "::q1:: Thủ đô của Việt Nam là? {=Hà Nội ~Huế ~Đà Nẵng}\n".encode()
    response = await api.a.post("/api/banks", content=gift, params={"format": "gift"})
    assert response.status_code == 422
    assert error_of(response)["problems"][0]["code"] == "missing_bank_id"
    response = await api.a.post(
        "/api/banks", content=gift, params={"format": "gift", "filename": "dia-ly.gift"}
    )
    assert response.status_code == 201
    assert response.json()["id"] == "dia-ly" and response.json()["questions"] == 1
    response = await api.a.post(
        "/api/banks",
        content=gift,
        headers={"Content-Type": "text/x-gift"},
        params={"id": "geo", "title": "Địa lý"},
    )
    assert response.status_code == 201 and response.json()["title"] == "Địa lý"
    exported = await api.a.get("/api/banks/geo", params={"format": "gift"})
    assert exported.status_code == 200 and "Hà Nội" in exported.text


async def test_settings_api_keys_are_installed_on_first_request(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    settings = Settings(key_prefix=key_prefix, api_keys="central:dev-key-1,hue:dev-key-2")
    async with serve_app(create_app(settings, redis_client)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout(10)) as client:
            for key, status in [("dev-key-1", 200), ("dev-key-2", 200), ("other", 401)]:
                response = await client.get(
                    "/api/banks", headers={"Authorization": f"Bearer {key}"}
                )
                assert response.status_code == status
            headers = {"Authorization": "Bearer dev-key-2"}
            response = await client.post(
                "/api/banks",
                content=yaml_of(make_bank()),
                params={"format": "yaml"},
                headers=headers,
            )
            assert response.status_code == 201
    orgs = OrgStore(redis_client, key_prefix)
    assert (await orgs.get(OrgId("central"))).kind == "central"
    assert await orgs.org_for_key("dev-key-2") == "hue"
    assert await BankStore(redis_client, key_prefix).list(OrgId("hue"))


async def test_export_says_what_the_format_cannot_express(api: Api) -> None:
    await upload(api.a, make_bank())
    response = await api.a.get("/api/banks/geo", params={"format": "aiken"})
    assert response.status_code == 200 and "ANSWER: A" in response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    envelope = await api.a.get(
        "/api/banks/geo", params={"format": "aiken"}, headers={"Accept": "application/json"}
    )
    warnings = envelope.json()["warnings"]
    assert response.headers["x-bank-warnings"] == str(len(warnings))
    assert {"question": "tf", "field": "kind"} in [w["where"] for w in warnings]
    assert all(w["code"] == "not_expressible" and w["message"] for w in warnings)
