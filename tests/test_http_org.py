"""The organisation's own settings over the HTTP API (``/api/org``) on a real port and a
real Redis: its time zone round trip, a bad zone refused without a change, and a new
campaign taking the organisation's zone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from engine.core.errors import OrgInvalid
from engine.directory.orgs import Organisation, OrgStore
from question_bank.ids import OrgId
from tests.http_server import Api, serve_api


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


async def test_the_time_zone_round_trips_and_a_bad_one_changes_nothing(api: Api) -> None:
    shown = await api.a.get("/api/org")
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "id": "central",
        "name": "Central",
        "kind": "central",
        "province": None,
        "zone": "Asia/Ho_Chi_Minh",
    }
    changed = await api.a.patch("/api/org", json={"zone": "Europe/Paris"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["zone"] == "Europe/Paris"
    assert (await api.a.get("/api/org")).json()["zone"] == "Europe/Paris"
    # the other organisation is its own
    assert (await api.b.get("/api/org")).json()["zone"] == "Asia/Ho_Chi_Minh"

    for bad in ("Mars/Olympus", "", "../etc/passwd", "UTC+7"):
        refused = await api.a.patch("/api/org", json={"zone": bad, "name": "Đổi tên"})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "org_invalid"
        assert [p["field"] for p in error["problems"]] == ["zone"]
    for body in ({"zone": 7}, {"colour": "red"}, {"name": ""}):
        refused = await api.a.patch("/api/org", json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "org_invalid")
    assert (await api.a.patch("/api/org", content=b"{")).status_code == 400
    assert (await api.anon.patch("/api/org", json={"zone": "UTC"})).status_code == 401
    after = (await api.a.get("/api/org")).json()
    assert (after["zone"], after["name"]) == ("Europe/Paris", "Central")

    renamed = await api.a.patch("/api/org", json={"name": "Ban tổ chức"})
    assert renamed.json()["name"] == "Ban tổ chức" and renamed.json()["zone"] == "Europe/Paris"


async def test_a_new_campaign_takes_the_organisation_s_zone(api: Api) -> None:
    await api.a.patch("/api/org", json={"zone": "Europe/Paris"})
    made = await api.a.post("/api/campaigns", json={"title": "Mùa xuân", "id": "xuan"})
    assert made.status_code == 201, made.text
    assert made.json()["zone"] == "Europe/Paris"
    own = await api.a.post("/api/campaigns", json={"title": "Hè", "id": "he", "zone": "UTC"})
    assert own.json()["zone"] == "UTC"
    other = await api.b.post("/api/campaigns", json={"title": "Thu", "id": "thu"})
    assert other.json()["zone"] == "Asia/Ho_Chi_Minh"


async def test_the_store_refuses_a_bad_zone_at_creation(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    orgs = OrgStore(redis_client, key_prefix)
    with pytest.raises(OrgInvalid, match="not an IANA time zone"):
        await orgs.create(Organisation(id=OrgId("hue"), name="Huế", zone="Asia/Hue"))
    assert not await orgs.exists(OrgId("hue"))
    made = await orgs.create(Organisation(id=OrgId("hue"), name="Huế", zone="Asia/Bangkok"))
    assert (await orgs.get(OrgId("hue"))).zone == made.zone == "Asia/Bangkok"
    assert (await orgs.zone(OrgId("nope"))).key == "Asia/Ho_Chi_Minh"


async def test_two_changes_at_once_both_land(api: Api) -> None:
    """Two PATCH /api/org at once, one of the name and one of the zone: both land (the
    store read, changed and wrote the whole organisation back, so one was lost)."""
    zones = ["Europe/Paris", "UTC", "Asia/Bangkok", "America/Lima"]
    for i in range(20):
        name, zone = f"Ban {i}", zones[i % len(zones)]
        answers = await asyncio.gather(
            api.a.patch("/api/org", json={"name": name}),
            api.a.patch("/api/org", json={"zone": zone}),
        )
        assert [a.status_code for a in answers] == [200, 200]
        shown = (await api.a.get("/api/org")).json()
        assert (shown["name"], shown["zone"]) == (name, zone), f"round {i}"
