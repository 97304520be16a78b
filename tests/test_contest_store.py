"""Contests in Redis: create with validation, ownership, transitions, edits, delete."""

import asyncio

import msgspec
import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from engine.contests.store import ContestStore, active_key, history_key
from engine.core import messages
from engine.core.contest import (
    Eligibility,
    LiveTiming,
    ScoringRules,
    WindowTiming,
    check_spec,
)
from engine.core.errors import (
    ContestExists,
    ContestInvalid,
    ContestNotFound,
    Forbidden,
    IllegalTransition,
)
from question_bank.draws import DrawRules
from question_bank.ids import BankId, ContestId, OrgId, QuestionId
from scoring.keys import ContestKeys, GlobalKeys
from tests.contest_helpers import live_spec, make_bank, now_ms, setup_org, window_spec
from tests.utils import timeout

A = OrgId("central")
B = OrgId("hanoi-org")


@pytest.fixture
async def store(redis_client: redis.asyncio.Redis, key_prefix: str) -> ContestStore:
    await setup_org(redis_client, key_prefix, A)
    await setup_org(redis_client, key_prefix, B, province="hanoi", bank=make_bank("hnb"))
    return ContestStore(redis_client, key_prefix)


def _fields(problems: list[dict[str, object]]) -> list[object]:
    return [p["field"] for p in problems]


async def test_create_pins_the_latest_bank_version_and_writes_meta(store: ContestStore) -> None:
    await store.banks.put(A, make_bank(questions=7))  # version 2
    now = await now_ms(store.redis)
    contest = await store.create(A, window_spec(now, id=ContestId("w1")))
    assert (contest.id, contest.org, contest.state, contest.bank_version) == ("w1", A, "draft", 2)
    assert contest.created_at >= now
    assert await store.get("w1") == contest
    meta = await store.redis.hgetall(ContestKeys(contest.id, store.prefix).meta)
    assert meta[b"state"] == b"draft"
    assert meta[b"mode"] == b"window"
    assert meta[b"closes_at"] == str(now + 3_600_000).encode()
    assert meta[b"attempts_allowed"] == b"2"
    # A later bank version changes nothing for the contest.
    await store.banks.put(A, make_bank(questions=8))
    assert (await store.get("w1")).bank_version == 2
    assert len((await store.bank(contest)).questions) == 9


async def test_generated_ids_and_listing_by_org(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    first = await store.create(A, window_spec(now))
    second = await store.create(A, live_spec(now))
    other = await store.create(B, window_spec(now, bank=BankId("hnb")))
    assert first.id.startswith("c-") and first.id != second.id
    # oldest first; two created in the same millisecond are ordered by id
    expected = sorted([first, second], key=lambda c: (c.created_at, c.id))
    assert [c.id for c in await store.list(A)] == [c.id for c in expected]
    assert [c.id for c in await store.list(B)] == [other.id]
    assert len(await store.list()) == 3


async def test_live_meta_has_what_the_scripts_read(store: ContestStore) -> None:
    contest = await store.create(A, live_spec(await now_ms(store.redis)))
    meta = await store.redis.hgetall(ContestKeys(contest.id, store.prefix).meta)
    assert meta[b"speed"] == b"1"
    assert meta[b"streak_step"] == b"2"
    assert meta[b"streak_cap"] == b"3"
    assert meta[b"eliminate"] == b"1"
    assert meta[b"question_ms"] == b"10000"


async def test_provincial_contest_defaults_to_its_province(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    contest = await store.create(B, window_spec(now, bank=BankId("hnb")))
    assert contest.eligibility == Eligibility(provinces=["hanoi"])  # type: ignore[list-item]
    assert contest.allows("hanoi", "any") and not contest.allows("hue", "any")
    limited = await store.create(
        B,
        window_spec(now, bank=BankId("hnb"), eligibility=Eligibility(units=["u1"])),  # type: ignore[list-item]
    )
    assert limited.eligibility.provinces == []
    central = await store.create(A, window_spec(now))
    assert not central.eligibility.restricted and central.allows("hue", "u9")


async def test_an_org_cannot_use_another_orgs_bank(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    with pytest.raises(ContestInvalid) as info:
        await store.create(A, window_spec(now, bank=BankId("hnb")))
    assert _fields(info.value.problems) == ["bank"]
    with pytest.raises(ContestInvalid) as info:
        await store.create(A, window_spec(now, bank_version=9))
    assert _fields(info.value.problems) == ["bank"]


async def test_every_problem_is_reported_at_once(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    spec = window_spec(
        now,
        id=ContestId("bad:id"),
        draw=DrawRules(count=50),
        live=LiveTiming(starts_at=now),
        window=WindowTiming(opens_at=now, closes_at=now - 1, prediction_question=QuestionId("q1")),
        scoring=ScoringRules(speed=True, streak_step=1),
    )
    with pytest.raises(ContestInvalid) as info:
        await store.create(A, spec)
    assert sorted(map(str, _fields(info.value.problems))) == sorted(
        [
            "id",
            "live",
            "window.closes_at",
            "window.closes_at",
            "scoring",
            "scoring.streak_cap",
            "draw",
            "window.prediction_question",
        ]
    )
    assert await store.list() == []


def test_check_spec_pure_cases() -> None:
    bank = make_bank()
    now = 1_000_000
    ok = window_spec(now)
    assert check_spec(ok, bank, now_ms=now) == []
    no_timing = msgspec.structs.replace(ok, window=None)
    assert _fields(check_spec(no_timing, bank, now_ms=now)) == ["window"]
    missing_pred = window_spec(
        now,
        window=WindowTiming(opens_at=0, closes_at=now + 1, prediction_question="zz"),  # type: ignore[arg-type]
    )
    assert "no question 'zz'" in check_spec(missing_pred, bank, now_ms=now)[0]["message"]
    assert check_spec(live_spec(now), bank, now_ms=now) == []
    assert _fields(check_spec(live_spec(now), None, now_ms=now, bank_problem="gone")) == ["bank"]


async def test_ids_are_never_reused(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    await store.create(A, window_spec(now, id=ContestId("same")))
    with pytest.raises(ContestExists):
        await store.create(B, window_spec(now, id=ContestId("same"), bank=BankId("hnb")))
    await store.apply("same", "delete")
    with pytest.raises(ContestExists):
        await store.create(A, window_spec(now, id=ContestId("same")))


async def test_ownership(store: ContestStore) -> None:
    contest = await store.create(A, window_spec(await now_ms(store.redis)))
    assert (await store.get_owned(A, contest.id)).id == contest.id
    with pytest.raises(Forbidden):
        await store.get_owned(B, contest.id)
    with pytest.raises(Forbidden):
        await store.apply(contest.id, "schedule", org=B)
    with pytest.raises(Forbidden):
        await store.update(B, contest.id, window_spec(await now_ms(store.redis)))
    assert (await store.get(contest.id)).state == "draft"
    with pytest.raises(ContestNotFound):
        await store.get("nope")


async def test_a_whole_window_lifecycle_with_history_and_announcements(
    store: ContestStore,
) -> None:
    contest = await store.create(A, window_spec(await now_ms(store.redis)))
    channel = GlobalKeys(store.prefix).channel(contest.id)
    async with store.redis.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        for event, state in [
            ("schedule", "scheduled"),
            ("open", "open"),
            ("close", "closed"),
            ("finalize", "finalized"),
        ]:
            moved = await store.apply(contest.id, event)  # type: ignore[arg-type]
            assert moved.state == state
        seen: list[str] = []
        async with asyncio.timeout(timeout()):
            while len(seen) < 4:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    decoded = messages.decode_server(message["data"])
                    assert isinstance(decoded, messages.StateChanged)
                    seen.append(decoded.state)
        await pubsub.unsubscribe(channel)
    assert seen == ["scheduled", "open", "closed", "finalized"]
    final = await store.get(contest.id)
    assert [(t.event, t.state) for t in final.history] == [
        ("schedule", "scheduled"),
        ("open", "open"),
        ("close", "closed"),
        ("finalize", "finalized"),
    ]
    stamps = [t.at for t in final.history]
    assert stamps == sorted(stamps) and stamps[0] >= contest.created_at


async def test_illegal_moves_are_refused(store: ContestStore) -> None:
    contest = await store.create(A, live_spec(await now_ms(store.redis)))
    with pytest.raises(IllegalTransition):
        await store.apply(contest.id, "close")
    await store.apply(contest.id, "schedule")
    with pytest.raises(IllegalTransition):
        await store.apply(contest.id, "open")  # window only
    assert (await store.apply(contest.id, "start")).state == "running"
    assert (await store.get(contest.id)).state == "running"


async def test_concurrent_moves_happen_once(store: ContestStore) -> None:
    contest = await store.create(A, window_spec(await now_ms(store.redis)))
    results = await asyncio.gather(
        *(store.apply(contest.id, "schedule") for _ in range(10)), return_exceptions=True
    )
    moved = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(moved) == 1 and len(refused) == 9
    assert len((await store.get(contest.id)).history) == 1


async def test_only_drafts_are_edited(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    contest = await store.create(A, window_spec(now))
    edited = await store.update(A, contest.id, live_spec(now, title="Đổi tên"))
    assert (edited.id, edited.title, edited.mode, edited.state) == (
        contest.id,
        "Đổi tên",
        "live",
        "draft",
    )
    meta = await store.redis.hgetall(ContestKeys(contest.id, store.prefix).meta)
    assert meta[b"mode"] == b"live" and b"closes_at" not in meta
    with pytest.raises(ContestInvalid):
        await store.update(A, contest.id, window_spec(now, draw=DrawRules(count=99)))
    await store.apply(contest.id, "schedule")
    with pytest.raises(IllegalTransition):
        await store.update(A, contest.id, live_spec(now))
    await store.apply(contest.id, "unschedule")
    assert (await store.update(A, contest.id, window_spec(now))).mode == "window"


async def test_delete_hides_and_purges_scoring_data(store: ContestStore) -> None:
    contest = await store.create(A, window_spec(await now_ms(store.redis)))
    keys = ContestKeys(contest.id, store.prefix)
    await store.redis.zadd(keys.leaderboard, {"m1": 5})
    await store.redis.hset(keys.attempt("m1", 1), "score", 5)
    deleted = await store.apply(contest.id, "delete")
    assert deleted.state == "deleted"
    with pytest.raises(ContestNotFound):
        await store.get(contest.id)
    assert (await store.get(contest.id, include_deleted=True)).state == "deleted"
    assert await store.list() == []
    assert await store.redis.exists(keys.leaderboard, keys.attempt("m1", 1)) == 0
    assert await store.redis.exists(keys.meta, history_key(contest.id, store.prefix)) == 2
    with pytest.raises(ContestNotFound):
        await store.apply(contest.id, "delete")


async def test_due_events_for_the_scheduler(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    window = await store.create(A, window_spec(now))
    live = await store.create(A, live_spec(now))
    assert await store.due(now) == []  # drafts wait for an organiser
    await store.apply(window.id, "schedule")
    await store.apply(live.id, "schedule")
    assert [(c.id, e) for c, e in await store.due(now)] == [(window.id, "open")]
    # Two contests created in the same millisecond order by id: compare as sets.
    assert {(c.id, e) for c, e in await store.due(now + 60_000)} == {
        (window.id, "open"),
        (live.id, "start"),
    }
    await store.apply(window.id, "open")
    assert {(c.id, e) for c, e in await store.due(now + 3_600_000)} == {
        (window.id, "close"),
        (live.id, "start"),
    }


async def test_a_missing_meta_state_counts_as_draft(store: ContestStore) -> None:
    # A process that died between storing the definition and the meta hash.
    contest = await store.create(A, window_spec(await now_ms(store.redis)))
    await store.redis.delete(ContestKeys(contest.id, store.prefix).meta)
    assert (await store.get(contest.id)).state == "draft"
    assert (await store.apply(contest.id, "schedule")).state == "scheduled"


async def test_the_active_index(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    done = await store.create(A, window_spec(now))
    gone = await store.create(A, window_spec(now))
    live = await store.create(A, live_spec(now))
    for event in ("schedule", "open", "close", "finalize"):
        await store.apply(done.id, event)
    await store.apply(gone.id, "delete")
    await store.apply(live.id, "schedule")
    assert [c.id for c in await store.list(active_only=True)] == [live.id]
    assert await store.redis.smembers(active_key(store.prefix)) == {live.id.encode()}
    assert {c.id for c in await store.list()} == {done.id, live.id}
    await store.apply(live.id, "cancel")
    assert await store.list(active_only=True) == []


async def test_finalize_measures_the_prediction_question(store: ContestStore) -> None:
    from scoring.finalize import Finalizer

    now = await now_ms(store.redis)
    window = await store.create(A, window_spec(now))
    no_prediction = await store.create(
        A,
        window_spec(now, window=WindowTiming(opens_at=now - 1, closes_at=now + 60_000)),
    )
    for contest in (window, no_prediction):
        for event in ("schedule", "open", "close"):
            await store.apply(contest.id, event)
        with pytest.raises(Forbidden):
            await store.finalize(contest.id, org=B)
        assert (await store.finalize(contest.id, org=A)).state == "finalized"
        with pytest.raises(IllegalTransition):
            await store.finalize(contest.id)
    info = await Finalizer(store.redis, window.id, prefix=store.prefix).info()
    assert info is not None and (info.mode, info.measure, info.truth) == (
        "window",
        "perfect_scores",
        0,
    )
    info = await Finalizer(store.redis, no_prediction.id, prefix=store.prefix).info()
    assert info is not None and (info.measure, info.truth) == (None, None)


@given(
    opens=st.integers(0, 10_000),
    closes=st.integers(0, 10_000),
    now=st.integers(0, 10_000),
    speed=st.booleans(),
    step=st.integers(0, 3),
    cap=st.integers(0, 3),
    count=st.integers(1, 12),
)
def test_window_checks_are_exactly_the_documented_rules(
    opens: int, closes: int, now: int, speed: bool, step: int, cap: int, count: int
) -> None:
    spec = window_spec(
        now,
        draw=DrawRules(count=count),
        window=WindowTiming(opens_at=opens, closes_at=closes),
        scoring=ScoringRules(speed=speed, streak_step=step, streak_cap=cap),
    )
    fields = sorted(map(str, _fields(check_spec(spec, make_bank(), now_ms=now))))
    expected = []
    if closes <= opens:
        expected.append("window.closes_at")
    if closes <= now:
        expected.append("window.closes_at")
    if speed or step:
        expected.append("scoring")
    if step and not cap:
        expected.append("scoring.streak_cap")
    if count > 7:  # six single choices and a true/false; the prediction is not drawn
        expected.append("draw")
    assert fields == sorted(expected)


@given(
    provinces=st.lists(st.sampled_from(["hn", "hue", "dn"]), max_size=2),
    units=st.lists(st.sampled_from(["u1", "u2"]), max_size=2),
    province=st.sampled_from(["hn", "hue", "dn", ""]),
    unit=st.sampled_from(["u1", "u2", ""]),
)
def test_eligibility_is_province_or_unit(
    provinces: list[str], units: list[str], province: str, unit: str
) -> None:
    rule = Eligibility(provinces=provinces, units=units)  # type: ignore[arg-type]
    expected = (not provinces and not units) or province in provinces or unit in units
    assert rule.allows(province, unit) is expected
