"""A contest's ``shards`` setting over the HTTP API: bounds and modes refused with
``contest_invalid`` (nothing stored), and a member-sharded live show's statistics,
leaderboards, units and final results equal those of the same answers on one shard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.cli import main
from question_bank.ids import MemberId, QuestionId
from scoring.keys import MAX_SHARDS, shard_of
from scoring.live import LiveScoring
from tests.contest_helpers import live_spec, now_ms, window_spec
from tests.http_server import Api
from tests.test_http_contests import _body, _create, api

__all__ = ["api"]


async def test_shards_out_of_bounds_or_in_a_window_round_are_refused(api: Api) -> None:
    now = await now_ms(api.redis)
    for bad, message in [
        (0, "Expected `int` >= 1"),
        (MAX_SHARDS + 1, f"Expected `int` <= {MAX_SHARDS}"),
        ("3", "Expected `int`, got `str`"),
    ]:
        body = _body(live_spec(now))
        body["shards"] = bad
        response = await api.a.post("/api/contests", json=body)
        assert response.status_code == 422, bad
        error = response.json()["error"]
        assert error["code"] == "contest_invalid"
        assert error["problems"] == [{"field": "shards", "message": message}]
    response = await api.a.post("/api/contests", json=_body(window_spec(now, shards=2)))
    assert response.status_code == 422
    assert response.json()["error"]["problems"] == [
        {
            "field": "shards",
            "message": "a window contest has one shard (sharding is for live shows)",
        }
    ]
    assert (await api.a.get("/api/contests")).json() == []
    assert (await _create(api, live_spec(now)))["shards"] == 1
    assert (await _create(api, live_spec(now, shards=MAX_SHARDS)))["shards"] == MAX_SHARDS
    assert (await _create(api, window_spec(now, shards=1)))["shards"] == 1


ANSWERS = [
    ("m1", "a", 1.0, "hanoi", "u1"),
    ("m2", "a", 0.5, "hue", "u2"),
    ("m3", "b", 0.0, "hanoi", "u1"),
    ("m4", "a", 1.0, "hue", "u3"),
    ("m5", "b", 0.0, "hanoi", "u2"),
    ("m6", "a", 1.0, "hanoi", "u1"),
]


async def _played(api: Api, key_prefix: str, contest: str, shards: int) -> dict[str, Any]:
    """A show (with elimination) of two questions played with ANSWERS, closed and
    finalized: the acks and what the organiser reads of it (the contest id taken out)."""
    now = await now_ms(api.redis)
    await _create(api, live_spec(now, id=contest, shards=shards))
    await api.a.post(f"/api/contests/{contest}/schedule")
    live = LiveScoring(api.redis, contest, prefix=key_prefix, shards=shards)
    # m0 joins the scheduled show (on its shard) and never answers: the elimination rule
    # (live_spec: and a streak bonus), on the shards since the schedule, puts them out
    assert await live.join(MemberId("m0"))
    acks = []
    await api.a.post(f"/api/contests/{contest}/start")
    for index, qid in enumerate([QuestionId("q1"), QuestionId("q2")]):
        await live.open_question(
            qid, index=index, time_ms=1, points=10, speed=False, delay_ms=-1000,
            grace_ms=60_000,
        )  # fmt: skip
        for member, choice, fraction, province, unit in ANSWERS[index:]:
            outcome = await live.accept(
                MemberId(member), qid, fraction, choice, province=province, unit=unit,
                choices=[choice],
            )  # fmt: skip
            acks.append((outcome.accepted, outcome.reason, outcome.points, outcome.total))
        closed = await live.close_question(qid)
        acks.append((closed.eliminated, closed.players_left, sorted(await live.eliminated_by(qid))))
    url = f"/api/contests/{contest}"
    stats = (await api.a.get(f"{url}/stats")).json()
    seen: dict[str, Any] = {
        "acks": acks,
        "stats": {k: v for k, v in stats.items() if k not in ("contest", "at")},
        "top": (await api.a.get(f"{url}/leaderboard?limit=4")).json()["top"],
        "province": (
            await api.a.get(f"{url}/leaderboard?scope=province&key=hanoi&member=m3&around=1")
        ).json(),
        "units": (await api.a.get(f"{url}/units")).json(),
    }
    seen["province"].pop("contest")
    await api.a.post(f"{url}/close")
    assert (await api.a.post(f"{url}/finalize")).status_code == 200
    seen["results"] = (await api.a.get(f"{url}/results")).json()
    seen["results"] = _without_contest(seen["results"])
    return seen


def _without_contest(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_contest(v) for k, v in value.items() if k != "contest"}
    return value


async def test_a_sharded_show_reads_as_one(
    api: Api, key_prefix: str, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len({shard_of(m, 3) for m, *_ in ANSWERS}) == 3
    one = await _played(api, key_prefix, "one", 1)
    three = await _played(api, key_prefix, "three", 3)
    assert three == one
    # contest audit (what load tests check acks against) reads every shard's stream
    counts = []
    for contest in ("one", "three"):
        args = ["audit", contest, "--count", "--redis-url", redis_url, "--key-prefix", key_prefix]
        assert await asyncio.to_thread(main, args) == 0
        counts.append(capsys.readouterr().out.strip())
    assert counts == ["8", "8"]
    assert one["stats"]["participants"] == 6 and one["stats"]["answers"] == 8
    assert one["acks"][6] == (4, 3, ["m0", "m2", "m3", "m5"])
    assert [s["member"] for s in one["top"]] == ["m6", "m4", "m1", "m2"]
    assert len(one["results"]) == 6
