"""The campaign HTTP API on a real port and a real Redis: create, list, show, schedule 23
weekly rounds in local time, refusals that change nothing, a province's slice, and the
report (JSON and CSV) of a small campaign with every figure worked out by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import openpyxl  # type: ignore[import-untyped]
import pytest
import redis.asyncio

from engine.directory.banks import BankStore
from engine.directory.units import Unit, import_units
from question_bank.ids import ContestId, MemberId, OrgId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.keys import ContestKeys
from scoring.profiles import Profile
from tests.contest_helpers import make_bank, now_ms
from tests.http_server import Api, serve_api

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
AREA_HEADER = (
    "round level province unit registered participants attempts participation_rate".split()
)


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


async def _next_week(api: Api) -> str:
    """A local date a week from Redis's now, in Ho Chi Minh City."""
    now = await now_ms(api.redis)
    return (dt.datetime.fromtimestamp(now / 1000, tz=HCM) + dt.timedelta(days=7)).date().isoformat()


def _rounds(weeks: int, starting: Any, **extra: Any) -> dict[str, Any]:
    return {
        "rule": {"weeks": weeks, "starting": starting},
        "bank": "b1",
        "draw": {"count": 3},
        "attempts_allowed": 0,
        **extra,
    }


async def _campaign(api: Api, **fields: Any) -> dict[str, Any]:
    response = await api.a.post("/api/campaigns", json={"title": "Tìm hiểu pháp luật", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _contest_ids(api: Api) -> list[str]:
    return [c["id"] for c in (await api.a.get("/api/contests")).json()]


async def test_create_show_and_schedule_23_weeks(api: Api) -> None:
    created = await _campaign(
        api,
        id="tuan",
        rules="Mỗi tuần một lượt.",
        prizes=[{"top": 3, "per": "round", "scope": "province", "prize": "Giấy khen"}],
    )
    assert (created["id"], created["org"], created["zone"]) == (
        "tuan",
        "central",
        "Asia/Ho_Chi_Minh",
    )
    assert created["prizes"] == [
        {"top": 3, "per": "round", "scope": "province", "prize": "Giấy khen"}
    ]
    start = await _next_week(api)
    response = await api.a.post("/api/campaigns/tuan/rounds", json=_rounds(23, start))
    assert response.status_code == 201, response.text
    rounds = response.json()["rounds"]
    assert [r["id"] for r in rounds] == [f"tuan-r{n:02d}" for n in range(1, 24)]
    for r in rounds:
        opens = dt.datetime.fromisoformat(r["opens_local"])
        closes = dt.datetime.fromisoformat(r["closes_local"])
        assert (opens.weekday(), opens.hour, opens.minute) == (0, 8, 0)
        assert (closes.weekday(), closes.hour, closes.minute) == (6, 22, 0)
        assert r["opens_local"].endswith("+07:00") and r["state"] == "scheduled"
        assert int(opens.timestamp() * 1000) == r["opens_at"]
    assert [b["opens_at"] - a["opens_at"] for a, b in zip(rounds, rounds[1:], strict=False)] == [
        7 * 86_400_000
    ] * 22
    contest = (await api.a.get("/api/contests/tuan-r01")).json()
    assert (contest["campaign"], contest["mode"], contest["window"]["attempts_allowed"]) == (
        "tuan",
        "window",
        0,
    )
    shown = (await api.a.get("/api/campaigns/tuan")).json()
    assert shown["campaign"] == created and shown["rounds"] == rounds
    assert [c["id"] for c in (await api.a.get("/api/campaigns")).json()] == ["tuan"]

    # one more week, numbered after the others, and a live final given in ISO local time
    final_at = dt.datetime.fromisoformat(rounds[-1]["closes_local"]) + dt.timedelta(days=8)
    more = _rounds(1, rounds[-1]["closes_at"], final={"starts_at": final_at.isoformat()})
    response = await api.a.post("/api/campaigns/tuan/rounds", json=more)
    assert response.status_code == 201, response.text
    after = response.json()["rounds"]
    assert [r["id"] for r in after[-2:]] == ["tuan-r24", "tuan-final"]
    assert after[-1]["opens_at"] == int(final_at.timestamp() * 1000)
    assert after[-1]["mode"] == "live" and after[-1]["closes_at"] is None


async def test_a_dry_run_shows_the_rounds_and_stores_nothing(api: Api) -> None:
    await _campaign(api, id="thu")
    start = await _next_week(api)
    final_at = (dt.datetime.fromisoformat(start) + dt.timedelta(days=30)).replace(tzinfo=HCM)
    body = _rounds(3, start, final={"starts_at": final_at.isoformat()})
    dry = await api.a.post("/api/campaigns/thu/rounds?dry_run=true", json=body)
    assert dry.status_code == 200, dry.text
    planned = dry.json()["rounds"]
    assert [r["id"] for r in planned] == ["thu-r01", "thu-r02", "thu-r03", "thu-final"]
    assert {r["state"] for r in planned} == {"scheduled"}
    assert await _contest_ids(api) == []
    assert (await api.a.get("/api/campaigns/thu")).json()["rounds"] == []
    # what the dry run showed is what is made
    made = await api.a.post("/api/campaigns/thu/rounds", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["rounds"] == planned
    # a dry run is checked like the real thing (a bank it does not have); a bad ?dry_run=
    nope = {**_rounds(1, start), "bank": "nope"}
    again = await api.a.post("/api/campaigns/thu/rounds?dry_run=true", json=nope)
    assert again.status_code == 422 and again.json()["error"]["code"] == "campaign_invalid"
    drafts = await api.a.post(
        "/api/campaigns/thu/rounds?dry_run=true",
        json=_rounds(1, planned[2]["closes_at"], schedule=False),
    )
    assert [(r["id"], r["state"]) for r in drafts.json()["rounds"]] == [("thu-r04", "draft")]
    bad = await api.a.post("/api/campaigns/thu/rounds?dry_run=yes", json=_rounds(1, start))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_message"
    assert len(await _contest_ids(api)) == 4


async def test_the_live_final_carries_member_shards(api: Api) -> None:
    """``final.shards`` (1-32, as a live contest's ``shards``) makes a sharded final; its
    window rounds keep one shard; a count outside 1-32 is a problem at ``final.shards``
    and creates nothing."""
    await _campaign(api, id="chung")
    start = await _next_week(api)
    final_at = (dt.datetime.fromisoformat(start) + dt.timedelta(days=30)).replace(tzinfo=HCM)
    for shards in (0, 33, "4"):
        final = {"starts_at": final_at.isoformat(), "shards": shards}
        response = await api.a.post(
            "/api/campaigns/chung/rounds", json=_rounds(2, start, final=final)
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "campaign_invalid"
        assert [p["field"] for p in error["problems"]] == ["final.shards"], error
    assert await _contest_ids(api) == []
    final = {"starts_at": final_at.isoformat(), "shards": 4}
    response = await api.a.post("/api/campaigns/chung/rounds", json=_rounds(2, start, final=final))
    assert response.status_code == 201, response.text
    assert [r["id"] for r in response.json()["rounds"]] == ["chung-r01", "chung-r02", "chung-final"]
    contests = {c["id"]: c for c in (await api.a.get("/api/contests")).json()}
    assert {i: c["shards"] for i, c in contests.items()} == {
        "chung-r01": 1,
        "chung-r02": 1,
        "chung-final": 4,
    }
    # without shards, a final has one, as a live contest does
    await _campaign(api, id="mot")
    response = await api.a.post(
        "/api/campaigns/mot/rounds",
        json=_rounds(1, start, final={"starts_at": final_at.isoformat()}),
    )
    assert response.status_code == 201, response.text
    assert (await api.a.get("/api/contests/mot-final")).json()["shards"] == 1


async def test_the_live_final_carries_its_scoring(api: Api) -> None:
    """``final.scoring`` (speed points, streaks: a live contest's ``scoring``) is the
    final's; a streak without a cap is a problem at ``final.scoring.streak_cap`` and
    creates nothing; the weekly rounds never take speed or streaks."""
    await _campaign(api, id="diem")
    start = await _next_week(api)
    final_at = (dt.datetime.fromisoformat(start) + dt.timedelta(days=30)).replace(tzinfo=HCM)
    final = {"starts_at": final_at.isoformat(), "scoring": {"streak_step": 5}}
    response = await api.a.post("/api/campaigns/diem/rounds", json=_rounds(1, start, final=final))
    assert response.status_code == 422, response.text
    problems = response.json()["error"]["problems"]
    assert [p["field"] for p in problems] == ["final.scoring.streak_cap"], problems
    assert await _contest_ids(api) == []
    scoring = {"speed": True, "streak_step": 5, "streak_cap": 3}
    final = {"starts_at": final_at.isoformat(), "scoring": scoring}
    response = await api.a.post("/api/campaigns/diem/rounds", json=_rounds(1, start, final=final))
    assert response.status_code == 201, response.text
    assert (await api.a.get("/api/contests/diem-final")).json()["scoring"] == scoring
    weekly = (await api.a.get("/api/contests/diem-r01")).json()["scoring"]
    assert (weekly["speed"], weekly["streak_step"]) == (False, 0)


async def test_refusals_change_nothing(api: Api) -> None:
    response = await api.a.post("/api/campaigns", json={"title": "x", "zone": "Mars/Base"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "campaign_invalid"
    assert response.json()["error"]["problems"][0]["field"] == "zone"
    response = await api.a.post("/api/campaigns", json={"title": ""})
    assert (
        response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "title"
    )
    assert (await api.a.get("/api/campaigns")).json() == []
    await _campaign(api, id="k")
    response = await api.a.post("/api/campaigns", json={"title": "again", "id": "k"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "campaign_exists"

    bad = [
        (_rounds(3, "2020-01-06"), "rule.starting"),  # closes in the past
        (_rounds(3, "monday"), "rule.starting"),
        (_rounds(3, "2027-01-04T08:00"), "rule.starting"),  # no zone
        ({**_rounds(3, await _next_week(api)), "bank": "nope"}, "bank"),
        ({**_rounds(3, await _next_week(api)), "draw": {"count": 500}}, "draw"),
        (_rounds(3, await _next_week(api), final={"starts_at": 0}), "final.starts_at"),
        ({**_rounds(3, await _next_week(api)), "rule": {"weeks": 0, "starting": 0}}, "rule.weeks"),
    ]
    for body, field in bad:
        response = await api.a.post("/api/campaigns/k/rounds", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "campaign_invalid"
        assert field in [p["field"] for p in error["problems"]], error
    assert await _contest_ids(api) == []
    response = await api.a.get("/api/campaigns/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "campaign_not_found"
    response = await api.anon.get("/api/campaigns")
    assert response.status_code == 401
    # a province reads a national campaign open to it, but may not schedule its rounds
    assert (await api.b.get("/api/campaigns/k")).status_code == 200
    assert [c["id"] for c in (await api.b.get("/api/campaigns")).json()] == ["k"]
    response = await api.b.post("/api/campaigns/k/rounds", json=_rounds(1, await _next_week(api)))
    assert response.status_code == 403
    closed = await _campaign(api, id="hue-only", eligibility={"provinces": ["hue"]})
    assert (await api.b.get(f"/api/campaigns/{closed['id']}")).status_code == 403
    assert await _contest_ids(api) == []


async def _take(
    api: Api, prefix: str, contest: str, member: str, province: str, unit: str, attempts: int
) -> None:
    scoring = Attempts(api.redis, ContestId(contest), prefix=prefix)
    profile = Profile(name=f"Đoàn viên {member}", province=ProvinceId(province), unit=UnitId(unit))
    draw = [DrawnQuestion(id=QuestionId(q), points=10) for q in ("q1", "q2")]
    for _ in range(attempts):
        outcome = await scoring.start(
            MemberId(member), profile, draw, duration_ms=600_000, attempts_allowed=0
        )
        assert outcome.status == "started", outcome
        await scoring.submit(MemberId(member))


def _check_workbook(response: httpx.Response, report: dict[str, Any]) -> None:
    """The xlsx report holds the JSON *report*'s figures, numbers as numbers, cell by cell."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"] == 'attachment; filename="k.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["areas", "members"]
    areas, members = book["areas"], book["members"]
    assert areas.freeze_panes == members.freeze_panes == "A2"
    assert [c.value for c in areas[1]] == AREA_HEADER
    expected = [
        [
            part["round"],
            level,
            a["province"],
            a["unit"] or None,  # an empty cell reads back as None
            a["registered"],
            a["participants"],
            a["attempts"],
            a["participation_rate"],
        ]
        for part in [*report["rounds"], report["total"]]
        for level in ("province", "unit")
        for a in part[level + "s"]
    ]
    rows = [[c.value for c in row] for row in areas.iter_rows(min_row=2)]
    assert rows[0] == ["k-r01", "province", "hanoi", None, 15, 3, 4, 0.2]
    assert rows[5] == ["k-r02", "province", "hanoi", None, 15, 1, 1, 0.0667]
    assert rows[-1] == ["total", "unit", "hue", "hue-1", 4, 2, 6, 0.5]
    assert rows == expected
    for row in areas.iter_rows(min_row=2):
        assert all(c.data_type == "n" for c in row[4:])
        assert row[7].number_format == "0.00%"
    # in total: the workbook's total provinces add up to the report's campaign totals
    totals = [r for r in rows if r[:2] == ["total", "province"]]
    assert sum(r[5] for r in totals) == report["total"]["participants"] == 5
    assert sum(r[6] for r in totals) == report["total"]["attempts"] == 11
    assert [c.value for c in members[1]] == [
        "member",
        "name",
        "province",
        "unit",
        "rounds",
        "round_ids",
        "attempts",
    ]
    assert [[c.value for c in row] for row in members.iter_rows(min_row=2)] == [
        [
            m["member"],
            m["name"],
            m["province"],
            m["unit"],
            len(m["rounds"]),
            " ".join(m["rounds"]),
            m["attempts"],
        ]
        for m in report["members"]
    ]
    assert [c.value for c in members[2]] == [
        "a",
        "Đoàn viên a",
        "hanoi",
        "hn-1",
        2,
        "k-r01 k-r02",
        3,
    ]


async def test_report_of_a_small_campaign(api: Api, key_prefix: str) -> None:
    await import_units(
        api.redis,
        [
            Unit(id=UnitId("hn-1"), name="Ba Đình", province=ProvinceId("hanoi"), members=10),
            Unit(id=UnitId("hn-2"), name="Hoàn Kiếm", province=ProvinceId("hanoi"), members=5),
            Unit(id=UnitId("hue-1"), name="Phú Hội", province=ProvinceId("hue"), members=4),
        ],
        prefix=key_prefix,
    )
    await _campaign(api, id="k")
    response = await api.a.post("/api/campaigns/k/rounds", json=_rounds(2, await _next_week(api)))
    assert response.status_code == 201, response.text
    for contest, member, province, unit, attempts in [
        ("k-r01", "a", "hanoi", "hn-1", 2),
        ("k-r01", "b", "hanoi", "hn-1", 1),
        ("k-r01", "c", "hanoi", "hn-2", 1),
        ("k-r01", "d", "hue", "hue-1", 3),
        ("k-r02", "a", "hanoi", "hn-1", 1),
        ("k-r02", "d", "hue", "hue-1", 1),
        ("k-r02", "e", "hue", "hue-1", 2),
    ]:
        await _take(api, key_prefix, contest, member, province, unit, attempts)

    report = (await api.a.get("/api/campaigns/k/report")).json()
    r1, r2 = report["rounds"]
    assert (r1["round"], r1["participants"], r1["attempts"]) == ("k-r01", 4, 7)
    assert (r2["round"], r2["participants"], r2["attempts"]) == ("k-r02", 3, 4)
    rows = lambda part: [  # noqa: E731
        (
            a["province"],
            a["unit"],
            a["registered"],
            a["participants"],
            a["attempts"],
            a["participation_rate"],
        )
        for a in part["provinces"] + part["units"]
    ]
    assert rows(r1) == [
        ("hanoi", "", 15, 3, 4, 0.2),
        ("hue", "", 4, 1, 3, 0.25),
        ("hanoi", "hn-1", 10, 2, 3, 0.2),
        ("hanoi", "hn-2", 5, 1, 1, 0.2),
        ("hue", "hue-1", 4, 1, 3, 0.25),
    ]
    assert rows(r2) == [
        ("hanoi", "", 15, 1, 1, 0.0667),
        ("hue", "", 4, 2, 3, 0.5),
        ("hanoi", "hn-1", 10, 1, 1, 0.1),
        ("hue", "hue-1", 4, 2, 3, 0.5),
    ]
    total = report["total"]
    assert (total["participants"], total["attempts"]) == (5, 11)
    assert rows(total) == [
        ("hanoi", "", 15, 3, 5, 0.2),
        ("hue", "", 4, 2, 6, 0.5),
        ("hanoi", "hn-1", 10, 2, 4, 0.2),
        ("hanoi", "hn-2", 5, 1, 1, 0.2),
        ("hue", "hue-1", 4, 2, 6, 0.5),
    ]
    assert [(m["member"], m["name"], m["rounds"], m["attempts"]) for m in report["members"]] == [
        ("a", "Đoàn viên a", ["k-r01", "k-r02"], 3),
        ("b", "Đoàn viên b", ["k-r01"], 1),
        ("c", "Đoàn viên c", ["k-r01"], 1),
        ("d", "Đoàn viên d", ["k-r01", "k-r02"], 4),
        ("e", "Đoàn viên e", ["k-r02"], 2),
    ]

    response = await api.a.get("/api/campaigns/k/report", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="k-areas.csv"'
    assert response.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0] == AREA_HEADER
    assert lines[1] == ["k-r01", "province", "hanoi", "", "15", "3", "4", "0.2"]
    assert lines[-1] == ["total", "unit", "hue", "hue-1", "4", "2", "6", "0.5"]
    assert len(lines) == 1 + 5 + 4 + 5
    response = await api.a.get(
        "/api/campaigns/k/report", params={"format": "csv", "table": "members"}
    )
    members = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert members[1] == ["a", "Đoàn viên a", "hanoi", "hn-1", "2", "k-r01 k-r02", "3"]
    assert len(members) == 6
    response = await api.a.get("/api/campaigns/k/report", params={"format": "xml"})
    assert response.status_code == 400
    _check_workbook(await api.a.get("/api/campaigns/k/report", params={"format": "xlsx"}), report)

    # Hà Nội's organisation sees Hà Nội's slice only
    sliced = (await api.b.get("/api/campaigns/k/report")).json()
    assert [(r["participants"], r["attempts"]) for r in sliced["rounds"]] == [(3, 4), (1, 1)]
    assert [p["province"] for p in sliced["total"]["provinces"]] == ["hanoi"]
    assert [m["member"] for m in sliced["members"]] == ["a", "b", "c"]


ROUND_RULES = {
    "attempts_allowed": 3,
    "prediction_question": "pred",
    "ranking": {"counts": "last", "tie_break": ["earliest_start"]},
    "min_seconds_between_attempts": 3600,
    "board_updates": "attempt",
}


async def test_every_round_takes_the_schedule_s_round_rules(
    api: Api, redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """The prediction tie-break, the ranking rules, the least delay between attempts and
    the board updates of a ``ScheduleSpec`` are every window round's, as stored and in the
    round's ``meta`` hash; the dry run shows them on each round, as they are then made."""
    await _campaign(api, id="luat")
    body = _rounds(3, await _next_week(api), **ROUND_RULES)
    dry = await api.a.post("/api/campaigns/luat/rounds?dry_run=true", json=body)
    assert dry.status_code == 200, dry.text
    planned = dry.json()["rounds"]
    assert await _contest_ids(api) == []
    made = await api.a.post("/api/campaigns/luat/rounds", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["rounds"] == planned
    for shown in planned:
        window = (await api.a.get(f"/api/contests/{shown['id']}")).json()["window"]
        assert shown["window"] == window
        rules = {k: window[k] for k in ROUND_RULES}
        assert rules == ROUND_RULES
        meta = await redis_client.hget(ContestKeys(shown["id"], key_prefix).meta, "board_updates")
        assert meta == b"attempt", shown["id"]


async def test_bad_round_rules_are_the_contest_s_problems_under_the_schedule(
    api: Api, key_prefix: str
) -> None:
    """A round rule is checked as a window contest's is, against the bank version the rounds
    pin: each problem is located under the ``ScheduleSpec`` (``prediction_question``, not
    ``window.prediction_question``), and nothing is created."""
    await _campaign(api, id="sai")
    start = await _next_week(api)
    # version 2 of the bank has no prediction question: version 1's "pred" is not in it
    bank = make_bank()
    unpredicted = [q for q in bank.questions if q.id != "pred"]
    await BankStore(api.redis, key_prefix).put(
        OrgId("central"), msgspec.structs.replace(bank, questions=unpredicted)
    )
    bad = [
        ({"prediction_question": "q1"}, "prediction_question", "is not a prediction"),
        ({"prediction_question": "nope"}, "prediction_question", "no question 'nope'"),
        ({"prediction_question": "pred"}, "prediction_question", "no question 'pred'"),
        (
            {"ranking": {"tie_break": ["earliest_start", "earliest_start"]}},
            "ranking.tie_break[1]",
            "listed twice",
        ),
        ({"ranking": {"tie_break": ["luck"]}}, "ranking.tie_break[0]", "'luck'"),
        ({"ranking": {"counts": "worst"}}, "ranking.counts", "'worst'"),
        (
            {"attempts_allowed": 1, "min_seconds_between_attempts": 60},
            "min_seconds_between_attempts",
            "needs attempts_allowed above 1",
        ),
        (
            {"attempts_allowed": 2, "min_seconds_between_attempts": 7 * 86_400},
            "min_seconds_between_attempts",
            "not shorter than the window",
        ),
        ({"board_updates": "question"}, "board_updates", "'question'"),
    ]
    for rules, field, message in bad:
        response = await api.a.post("/api/campaigns/sai/rounds", json=_rounds(2, start, **rules))
        assert response.status_code == 422, (rules, response.text)
        error = response.json()["error"]
        assert error["code"] == "campaign_invalid"
        assert [p["field"] for p in error["problems"]] == [field], error
        assert message in error["problems"][0]["message"], error
    assert await _contest_ids(api) == []
    # the version that has it
    pinned = _rounds(2, start, bank_version=1, prediction_question="pred")
    response = await api.a.post("/api/campaigns/sai/rounds", json=pinned)
    assert response.status_code == 201, response.text
    assert {r["window"]["prediction_question"] for r in response.json()["rounds"]} == {"pred"}
