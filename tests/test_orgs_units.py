"""engine.directory.orgs (organisations, API keys) and engine.directory.units on a real Redis."""

import asyncio
import hashlib
import json

import pytest
import redis.asyncio

from engine.core.errors import OrgExists, OrgNotFound, UnitsInvalid
from engine.directory.orgs import (
    KEY_PREFIX,
    Organisation,
    OrgChange,
    OrgStore,
    fingerprint,
    parse_api_keys,
)
from engine.directory.units import MAX_MEMBERS, Unit, import_units, load_units, parse_units
from engine.runtime.redisconn import connect
from question_bank.ids import OrgId, ProvinceId, UnitId


@pytest.fixture
def orgs(redis_client: redis.asyncio.Redis, key_prefix: str) -> OrgStore:
    return OrgStore(redis_client, key_prefix)


async def test_create_get_list(orgs: OrgStore) -> None:
    hue = Organisation(id=OrgId("hue"), name="Thừa Thiên Huế", province=ProvinceId("hue"))
    await orgs.create(hue)
    await orgs.create(Organisation(id=OrgId("central"), name="TW", kind="central"))
    assert await orgs.get(OrgId("hue")) == hue
    assert [o.id for o in await orgs.list()] == ["central", "hue"]
    with pytest.raises(OrgExists):
        await orgs.create(hue)
    with pytest.raises(OrgNotFound):
        await orgs.get(OrgId("nope"))
    with pytest.raises(ValueError, match="organisation id"):
        await orgs.create(Organisation(id=OrgId("a:b"), name="x"))


async def test_keys_stored_hashed_and_scoped(
    orgs: OrgStore, redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await orgs.ensure(OrgId("hue"))
    await orgs.ensure(OrgId("hanoi"))
    key = await orgs.create_key(OrgId("hue"))
    other = await orgs.create_key(OrgId("hanoi"))
    assert key.startswith(KEY_PREFIX) and len(key) > 40 and key != other
    assert await orgs.org_for_key(key) == "hue"
    assert await orgs.org_for_key(other) == "hanoi"
    assert await orgs.org_for_key(key + "x") is None
    assert await orgs.org_for_key("") is None
    stored = await redis_client.hgetall(f"{key_prefix}:apikeys")
    assert stored == {
        hashlib.sha256(key.encode()).hexdigest().encode(): b"hue",
        hashlib.sha256(other.encode()).hexdigest().encode(): b"hanoi",
    }
    assert [i.fingerprint for i in await orgs.keys_of(OrgId("hue"))] == [fingerprint(key)]
    with pytest.raises(OrgNotFound):
        await orgs.create_key(OrgId("nope"))


async def test_revoke(orgs: OrgStore) -> None:
    await orgs.ensure(OrgId("hue"))
    k1, k2, k3 = [await orgs.create_key(OrgId("hue")) for _ in range(3)]
    assert await orgs.revoke_key(k1)
    assert not await orgs.revoke_key(k1)
    assert await orgs.org_for_key(k1) is None
    assert await orgs.revoke_fingerprint(fingerprint(k2)) == 1
    assert await orgs.org_for_key(k2) is None
    assert await orgs.org_for_key(k3) == "hue"
    with pytest.raises(ValueError):
        await orgs.revoke_fingerprint("abc")
    assert await orgs.revoke_all(OrgId("hue")) == 1
    assert await orgs.org_for_key(k3) is None
    assert await orgs.revoke_all(OrgId("hue")) == 0


async def test_bootstrap_from_settings(orgs: OrgStore) -> None:
    assert await orgs.bootstrap(" central:secret-1 , hue:secret-2,") == ["central", "hue"]
    assert await orgs.org_for_key("secret-1") == "central"
    assert await orgs.org_for_key("secret-2") == "hue"
    central = await orgs.get(OrgId("central"))
    assert central.kind == "central" and central.province is None
    hue = await orgs.get(OrgId("hue"))
    assert hue.kind == "province" and hue.province == "hue"
    # Idempotent; an existing organisation keeps its name.
    await orgs.bootstrap("central:secret-1")
    assert await orgs.get(OrgId("central")) == central


async def test_concurrent_changes_of_different_fields_all_land(
    redis_url: str, key_prefix: str
) -> None:
    """Four clients, each on its own connection, change at once the name of one organisation,
    its zone, and the same two of another (all in one hash): no change is lost, and an
    unknown organisation is still refused."""
    clients = [connect(redis_url) for _ in range(4)]
    stores = [OrgStore(client, key_prefix) for client in clients]
    ids = [OrgId("hue"), OrgId("hanoi")]
    for org_id in ids:
        await stores[0].ensure(org_id)
    zones = ["Europe/Paris", "UTC", "Asia/Bangkok", "America/Lima"]
    try:
        for i in range(20):
            name, zone = f"Ban {i}", zones[i % len(zones)]
            await asyncio.gather(
                *(
                    store.change(
                        ids[k // 2], OrgChange(name=name) if k % 2 else OrgChange(zone=zone)
                    )
                    for k, store in enumerate(stores)
                )
            )
            for org_id in ids:
                org = await stores[0].get(org_id)
                assert (org.name, org.zone) == (name, zone), f"round {i}, {org_id}"
        with pytest.raises(OrgNotFound):
            await stores[1].change(OrgId("nope"), OrgChange(name="x"))
        assert not await stores[0].exists(OrgId("nope"))
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.parametrize("spec", ["central", "central:", ":key", "a:b:c,x", "bad id:k"])
def test_parse_api_keys_refuses(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_api_keys(spec)


def test_parse_api_keys_key_may_hold_colons() -> None:
    assert parse_api_keys("a:b:c") == [("a", "b:c")]


UNITS_CSV = (
    "\ufeffID;Name;Province;Members\r\n"
    "hn-bd;Đoàn phường Ba Đình;hanoi;1200\r\n"
    '"hue-1";"Chi đoàn ""A""\r\nHuế";hue;0\r\n'
    "\r\n"
    "dn-1;Đà Nẵng 1;danang;35\r\n"
)


def test_parse_units_semicolon_bom_multiline() -> None:
    units = parse_units(UNITS_CSV.encode())
    assert units == [
        Unit(
            id=UnitId("hn-bd"),
            name="Đoàn phường Ba Đình",
            province=ProvinceId("hanoi"),
            members=1200,
        ),
        Unit(id=UnitId("hue-1"), name='Chi đoàn "A"\r\nHuế', province=ProvinceId("hue"), members=0),
        Unit(id=UnitId("dn-1"), name="Đà Nẵng 1", province=ProvinceId("danang"), members=35),
    ]


def test_parse_units_reports_every_problem_with_line() -> None:
    text = (
        "id,name,province,members\n"
        "a,A,p1,10\n"
        'b,"two\nlines",p1,x\n'  # lines 3-4
        "a,Again,p2,5\n"  # line 5
        ",NoId,p3,1\n"  # line 6
        "short,row\n"  # line 7
    )
    with pytest.raises(UnitsInvalid) as info:
        parse_units(text, source="units.csv")
    assert info.value.problems == [
        "units.csv:3: members 'x' is not a whole number >= 0",
        "units.csv:5: unit 'a' already on line 2",
        "units.csv:6: empty id",
        "units.csv:7: 2 field(s), the header has 4",
    ]


@pytest.mark.parametrize("members", ["²", "¹²", "١٢", "１２", "1_000", "+3", "1" * 5000])
def test_parse_units_members_must_be_ascii_digits(members: str) -> None:
    with pytest.raises(UnitsInvalid) as info:
        parse_units(f"id,name,province,members\na,A,p,{members}\n", source="u.csv")
    (problem,) = info.value.problems
    assert problem.startswith("u.csv:2: members ")


def test_parse_units_members_up_to_the_cap() -> None:
    (unit,) = parse_units(f"id,name,province,members\na,A,p,{MAX_MEMBERS}\n")
    assert unit.members == MAX_MEMBERS
    with pytest.raises(UnitsInvalid, match=r"u.csv:2: members '1000000001' is more than"):
        parse_units(f"id,name,province,members\na,A,p,{MAX_MEMBERS + 1}\n", source="u.csv")


def test_parse_units_header_problems() -> None:
    with pytest.raises(UnitsInvalid, match="lacks column.*members"):
        parse_units("id,name,province\n")
    with pytest.raises(UnitsInvalid, match="empty file"):
        parse_units("")
    with pytest.raises(UnitsInvalid, match="not UTF-8"):
        parse_units(b"id,name\xff")


async def test_import_and_load_units(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    units = parse_units(UNITS_CSV)
    assert await import_units(redis_client, units, prefix=key_prefix) == 3
    assert await load_units(redis_client, prefix=key_prefix) == {u.id: u for u in units}
    # The stored form is the JSON the scoring core reads.
    raw = await redis_client.hget(f"{key_prefix}:units", "hn-bd")
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {"name": "Đoàn phường Ba Đình", "province": "hanoi", "members": 1200}
    await import_units(redis_client, units[:1], prefix=key_prefix, replace=True)
    assert list(await load_units(redis_client, prefix=key_prefix)) == ["hn-bd"]
