"""The contest HTTP API on a real port: organiser endpoints, scoping by organisation,
lifecycle actions, statistics, leaderboards, public endpoints, health and metrics."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from engine.contests.presence import publish_counts
from engine.core.settings import Settings
from engine.http.app import create_app
from question_bank.ids import MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.live import LiveScoring
from scoring.profiles import Profile
from scoring.window import WindowScoring
from tests.contest_helpers import live_spec, now_ms, window_spec
from tests.http_server import Api, serve_api, serve_app


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


def _body(spec: Any) -> dict[str, Any]:
    import msgspec

    body: dict[str, Any] = msgspec.to_builtins(spec)
    return body


async def _create(api: Api, spec: Any, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    response = await (client or api.a).post("/api/contests", json=_body(spec))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/contests/{created['id']}"
    return created


async def test_organiser_endpoints_need_a_key(api: Api) -> None:
    for method, path in [
        ("GET", "/api/contests"),
        ("POST", "/api/contests"),
        ("GET", "/api/contests/x"),
        ("POST", "/api/contests/x/schedule"),
        ("GET", "/api/contests/x/stats"),
    ]:
        response = await api.anon.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_create_get_list_and_scoping(api: Api) -> None:
    now = await now_ms(api.redis)
    created = await _create(api, window_spec(now, id="r1"))
    assert (created["id"], created["org"], created["state"], created["bank_version"]) == (
        "r1",
        "central",
        "draft",
        1,
    )
    assert (await api.a.get("/api/contests/r1")).json() == created
    assert [c["id"] for c in (await api.a.get("/api/contests")).json()] == ["r1"]
    # The other organisation neither sees nor touches it.
    assert (await api.b.get("/api/contests")).json() == []
    for method, path in [
        ("GET", "/api/contests/r1"),
        ("PUT", "/api/contests/r1"),
        ("DELETE", "/api/contests/r1"),
        ("POST", "/api/contests/r1/schedule"),
        ("GET", "/api/contests/r1/stats"),
        ("GET", "/api/contests/r1/leaderboard"),
        ("GET", "/api/contests/r1/units"),
        ("GET", "/api/contests/r1/results"),
    ]:
        body = _body(window_spec(now)) if method == "PUT" else None
        response = await api.b.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    assert (await api.a.get("/api/contests/r1")).json()["state"] == "draft"
    # A provincial organiser's own contest is limited to its province.
    mine = await _create(api, window_spec(now), client=api.b)
    assert mine["eligibility"] == {"provinces": ["hanoi"], "units": []}
    assert [c["id"] for c in (await api.b.get("/api/contests?state=draft")).json()] == [mine["id"]]
    assert (await api.b.get("/api/contests?state=open")).json() == []


async def test_invalid_definitions(api: Api) -> None:
    now = await now_ms(api.redis)
    body = _body(window_spec(now))
    body["window"]["closes_at"] = "tomorrow"
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "contest_invalid"
    assert error["problems"] == [
        {"field": "window.closes_at", "message": "Expected `int`, got `str`"}
    ]
    body = _body(window_spec(now, bank="nope"))
    body["draw"]["count"] = 100
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["error"]["problems"]] == ["bank"]
    response = await api.a.post("/api/contests", content=b" " * (256 * 1024 + 1))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_large"
    response = await api.a.post("/api/contests", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_message"
    await _create(api, window_spec(now, id="dup"))
    response = await api.a.post("/api/contests", json=_body(window_spec(now, id="dup")))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "contest_exists"


async def test_window_ranking_rules_over_the_api(api: Api) -> None:
    now = await now_ms(api.redis)
    body = _body(window_spec(now))
    body["window"]["ranking"] = {"counts": "last", "tie_break": ["earliest_start"] * 2}
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["problems"] == [
        {"field": "window.ranking.tie_break[1]", "message": "'earliest_start' is listed twice"}
    ]
    body["window"]["ranking"] = {"counts": "worst"}
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["error"]["problems"]] == ["window.ranking.counts"]
    body["window"]["ranking"] = {"counts": "first", "tie_break": ["fewest_attempts"]}
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 201, response.text
    stored = (await api.a.get(f"/api/contests/{response.json()['id']}")).json()
    assert stored["window"]["ranking"] == {"counts": "first", "tie_break": ["fewest_attempts"]}
    default = await _create(api, window_spec(now))  # a definition without it: today's rule
    assert default["window"]["ranking"] == {"counts": "best", "tie_break": []}


async def test_lifecycle_actions(api: Api) -> None:
    now = await now_ms(api.redis)
    live = await _create(api, live_spec(now))
    path = f"/api/contests/{live['id']}"
    response = await api.a.post(f"{path}/close")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "illegal_transition",
        "message": "cannot close a contest that is draft",
    }
    assert (await api.a.post(f"{path}/schedule")).json()["state"] == "scheduled"
    assert (await api.a.post(f"{path}/unschedule")).json()["state"] == "draft"
    edited = await api.a.put(path, json=_body(live_spec(now, title="Mới")))
    assert edited.status_code == 200 and edited.json()["title"] == "Mới"
    assert (await api.a.post(f"{path}/schedule")).json()["state"] == "scheduled"
    response = await api.a.put(path, json=_body(live_spec(now)))
    assert response.status_code == 409
    started = (await api.a.post(f"{path}/start")).json()
    assert started["state"] == "running"
    assert [h["event"] for h in started["history"]] == [
        "schedule",
        "unschedule",
        "schedule",
        "start",
    ]
    assert (await api.a.post(f"{path}/cancel")).json()["state"] == "cancelled"
    assert (await api.a.delete(path)).json()["state"] == "deleted"
    assert (await api.a.get(path)).status_code == 404
    assert (await api.a.post(f"{path}/explode")).status_code in (404, 405)
    window = await _create(api, window_spec(now))
    wpath = f"/api/contests/{window['id']}"
    await api.a.post(f"{wpath}/schedule")
    assert (await api.a.post(f"{wpath}/start")).json()["state"] == "open"
    assert (await api.a.post(f"{wpath}/close")).json()["state"] == "closed"
    response = await api.a.get(f"{wpath}/results")
    assert response.status_code == 409  # not finalized yet
    assert response.json()["error"]["code"] == "not_finalized"


async def test_stats_and_leaderboards(api: Api, key_prefix: str) -> None:
    now = await now_ms(api.redis)
    contest = await _create(api, live_spec(now, id="show"))
    await api.a.post("/api/contests/show/schedule")
    await api.a.post("/api/contests/show/start")
    live = LiveScoring(api.redis, contest["id"], prefix=key_prefix)
    q1 = QuestionId("q1")
    await live.open_question(q1, index=0, time_ms=10_000, points=10, speed=False)
    for member, choice, fraction, province, unit in [
        ("m1", "a", 1.0, "hanoi", "u1"),
        ("m2", "a", 0.5, "hue", "u2"),
        ("m3", "b", 0.0, "hanoi", "u1"),
    ]:
        outcome = await live.accept(
            MemberId(member), q1, fraction, choice, province=province, unit=unit, choices=[choice]
        )
        assert outcome.accepted
    await publish_counts(api.redis, "gw-1", {contest["id"]: 7}, now, key_prefix)
    stats = (await api.a.get("/api/contests/show/stats")).json()
    assert stats["contest"] == "show" and stats["state"] == "running"
    assert stats["members_online"] == 7
    assert stats["answers"] == 3
    assert stats["answers_per_second"] == 0.3
    by_id = {q["id"]: q for q in stats["questions"]}
    assert by_id["q1"]["answered"] == 3
    # the open question's standings and distribution are written when it closes
    assert stats["participants"] == 0 and by_id["q1"]["distribution"] == {}
    await live.close_question(q1)
    stats = (await api.a.get("/api/contests/show/stats")).json()
    by_id = {q["id"]: q for q in stats["questions"]}
    assert stats["participants"] == 3 and stats["answers"] == 3
    assert by_id["q1"]["answered"] == 3
    assert by_id["q1"]["distribution"] == {"a": 2, "b": 1}
    assert by_id["q2"]["answered"] == 0 and by_id["q2"]["distribution"] == {}

    board = (await api.a.get("/api/contests/show/leaderboard?limit=2")).json()
    assert board["size"] == 3 and board["scope"] == "global"
    assert [(s["rank"], s["member"], s["score"]) for s in board["top"]] == [
        (1, "m1", 10),
        (2, "m2", 5),
    ]
    board = (
        await api.a.get(
            "/api/contests/show/leaderboard?scope=province&key=hanoi&member=m3&around=1"
        )
    ).json()
    assert [s["member"] for s in board["top"]] == ["m1", "m3"]
    assert board["member"]["member"] == "m3" and board["member"]["rank"] == 2
    assert [s["member"] for s in board["around"]] == ["m1", "m3"]
    # Only ASCII digits are numbers here: int() would read "1_0" as 10 and "١" as 1.
    bad_numbers = ["limit=1_0", "limit=%D9%A1", "limit=%C2%B2", "limit=+1", "limit= 1"]
    for bad in ["scope=city", "scope=unit", "limit=-1", "limit=x", "around=99", *bad_numbers]:
        response = await api.a.get(f"/api/contests/show/leaderboard?{bad}")
        assert response.status_code == 400, bad

    units = (await api.a.get("/api/contests/show/units")).json()
    assert {(u["unit"], u["participants"]) for u in units} == {("u1", 2), ("u2", 1)}
    assert [
        u["unit"] for u in (await api.a.get("/api/contests/show/units?province=zz")).json()
    ] == []

    public = (await api.anon.get("/public/contests/show/leaderboard?scope=unit&key=u1")).json()
    assert [s["member"] for s in public["top"]] == ["m1", "m3"]
    response = await api.anon.get("/public/contests/show/leaderboard?member=m1")
    assert response.status_code == 400
    response = await api.anon.get("/public/contests/show/leaderboard?limit=101")
    assert response.status_code == 400


async def test_window_stats_count_answers_and_splits(api: Api, key_prefix: str) -> None:
    now = await now_ms(api.redis)
    contest = await _create(api, window_spec(now, id="week"))
    await api.a.post("/api/contests/week/schedule")
    assert (await api.a.post("/api/contests/week/start")).json()["state"] == "open"
    attempts = Attempts(api.redis, contest["id"], prefix=key_prefix)
    window = WindowScoring(api.redis, contest["id"], key_prefix)
    draw = [DrawnQuestion(id=QuestionId(q), points=10) for q in ("q1", "q2", "tf")]
    answers = {
        "m1": [("q1", "a", 1.0), ("tf", "true", 1.0)],
        "m2": [("q1", "b", 0.0), ("q2", "a", 1.0)],
        "m3": [("q1", "a", 1.0)],
    }
    for member, given in answers.items():
        profile = Profile(province=ProvinceId("hanoi"), unit=UnitId("u1"))
        started = await attempts.start(MemberId(member), profile, draw, duration_ms=600_000)
        assert started.status == "started" and started.attempt is not None
        for qid, key, fraction in given:
            outcome = await window.answer(
                MemberId(member),
                started.attempt.number,
                QuestionId(qid),
                fraction,
                key,
                province="hanoi",
                unit="u1",
                choices=[key],
            )
            assert outcome.accepted
    refused = await window.answer(MemberId("m3"), 1, QuestionId("q1"), 0.0, "b", choices=["b"])
    assert refused.reason == "duplicate"
    stats = (await api.a.get("/api/contests/week/stats")).json()
    assert stats["state"] == "open"
    # The audit stream also holds the three attempts' start events: not answers.
    assert (stats["participants"], stats["answers"]) == (3, 5)
    assert stats["answers_per_second"] == 0.5
    by_id = {q["id"]: q for q in stats["questions"]}
    assert (by_id["q1"]["answered"], by_id["q1"]["distribution"]) == (3, {"a": 2, "b": 1})
    assert (by_id["q2"]["answered"], by_id["q2"]["distribution"]) == (1, {"a": 1})
    assert (by_id["tf"]["answered"], by_id["tf"]["distribution"]) == (1, {"true": 1})
    assert (by_id["q3"]["answered"], by_id["q3"]["distribution"]) == (0, {})


async def test_public_contest_information(api: Api) -> None:
    now = await now_ms(api.redis)
    await _create(api, window_spec(now, id="pub", description="Tuần 1"))
    assert (await api.anon.get("/public/contests/pub")).status_code == 404  # draft
    assert (await api.anon.get("/public/contests")).json() == []
    await api.a.post("/api/contests/pub/schedule")
    info = (await api.anon.get("/public/contests/pub")).json()
    assert info == {
        "id": "pub",
        "org": "central",
        "title": "Vòng tuần 1",
        "description": "Tuần 1",
        "mode": "window",
        "state": "scheduled",
        "question_count": 5,
        "starts_at": None,
        "question_seconds": None,
        "opens_at": now - 1_000,
        "closes_at": now + 3_600_000,
        "attempt_seconds": 600,
        "attempts_allowed": 2,
        "prediction_question": "pred",
        "provinces": [],
        "units": [],
    }
    listed = (await api.anon.get("/public/contests?org=central")).json()
    assert [c["id"] for c in listed] == ["pub"]
    assert (await api.anon.get("/public/contests?org=hanoi-org")).json() == []
    assert (await api.anon.get("/public/contests?state=open")).json() == []
    assert (await api.anon.get("/public/contests/none")).status_code == 404


async def test_health_readiness_and_metrics(api: Api) -> None:
    assert (await api.anon.get("/healthz")).json() == {"status": "ok"}
    ready = (await api.anon.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["redis_ms"] >= 0
    await api.a.get("/api/contests/missing")
    text = (await api.anon.get("/metrics")).text
    assert (
        'contest_http_requests_total{method="GET",route="/api/contests/{id}",status="404"}' in text
    )
    assert "contest_redis_seconds_count" in text


async def test_readiness_without_redis(key_prefix: str) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = redis.asyncio.Redis(port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        async with serve_app(create_app(Settings(key_prefix=key_prefix), dead)) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                response = await client.get("/readyz")
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "unavailable"
                assert (await client.get("/healthz")).status_code == 200
                response = await client.get("/public/contests/x")
                assert response.status_code == 503
    finally:
        await dead.aclose()


async def test_finalize_and_results(api: Api, key_prefix: str) -> None:
    now = await now_ms(api.redis)
    await _create(api, live_spec(now, id="fin"))
    for action in ("schedule", "start"):
        await api.a.post(f"/api/contests/fin/{action}")
    live = LiveScoring(api.redis, "fin", prefix=key_prefix)  # type: ignore[arg-type]
    q1 = QuestionId("q1")
    await live.open_question(q1, index=0, time_ms=10_000, points=10, speed=False)
    for member, fraction in [("m1", 0.5), ("m2", 1.0)]:
        await live.accept(MemberId(member), q1, fraction, "a", province="hue", unit="u1")
    assert (await api.a.post("/api/contests/fin/finalize")).status_code == 409  # running
    assert (await api.a.post("/api/contests/fin/close")).json()["state"] == "closed"
    finalized = await api.a.post("/api/contests/fin/finalize")
    assert finalized.status_code == 200 and finalized.json()["state"] == "finalized"
    rows = (await api.a.get("/api/contests/fin/results")).json()
    assert [(r["rank"], r["member"], r["score"]) for r in rows] == [(1, "m2", 10), (2, "m1", 5)]
    csv = await api.a.get("/api/contests/fin/results?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("rank,member,") and lines[1].startswith("1,m2,")
    assert (await api.a.get("/api/contests/fin/results?format=xml")).status_code == 400
    assert (await api.b.get("/api/contests/fin/results")).status_code == 403
