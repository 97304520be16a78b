"""``contest results``: the live leaderboard before finalize, final standings after."""

import json

import pytest
import redis.asyncio

from engine.cli import main
from engine.contests.store import ContestStore
from engine.directory.orgs import CENTRAL
from question_bank.ids import MemberId, QuestionId
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from scoring.profiles import Profile, encode_profile
from tests.contest_helpers import live_spec, now_ms, setup_org


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["results", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_results(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await setup_org(redis_client, key_prefix, CENTRAL)
    store = ContestStore(redis_client, key_prefix)
    contest = await store.create(CENTRAL, live_spec(await now_ms(redis_client), id="show"))
    await store.apply(contest.id, "schedule")
    await store.apply(contest.id, "start")
    live = LiveScoring(redis_client, contest.id, prefix=key_prefix)
    keys = ContestKeys(contest.id, key_prefix)
    await live.open_question(QuestionId("q1"), index=0, time_ms=10_000, points=10, speed=False)
    for member, fraction in [("m1", 0.5), ("m2", 1.0), ("m3", 0.0)]:
        profile = Profile(name=f"Tên {member}", province="hue", unit="u1")  # type: ignore[arg-type]
        await redis_client.hset(keys.profiles, member, encode_profile(profile))
        await live.accept(MemberId(member), QuestionId("q1"), fraction, "a", unit="u1")
    await live.close_question(QuestionId("q1"))  # the board is written when it closes
    where = ["--redis-url", redis_url, "--key-prefix", key_prefix]

    code, out, _ = await _in_thread(capsys, "show", *where)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "live leaderboard, not final (3 members)"
    assert lines[4].split()[:3] == ["1", "m2", "Tên"]
    code, _, err = await _in_thread(capsys, "show", "--csv", *where)
    assert code == 1 and "no final standings" in err

    await store.apply(contest.id, "close")
    await store.finalize(contest.id)
    code, out, _ = await _in_thread(capsys, "show", "--limit", "2", *where)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "final standings"
    assert [line.split()[1] for line in lines[4:]] == ["m2", "m1"]
    code, out, _ = await _in_thread(capsys, "show", "--csv", *where)
    assert (
        out.splitlines()[0]
        == "rank,member,name,unit,province,score,prediction,time_used_ms,submitted_at"
    )
    assert out.splitlines()[3].startswith("3,m3,Tên m3,u1,hue,0,")
    code, out, _ = await _in_thread(capsys, "show", "--json", *where)
    assert code == 0
    assert [(r["rank"], r["member"]) for r in json.loads(out)] == [(1, "m2"), (2, "m1"), (3, "m3")]
    code, out, err = await _in_thread(capsys, "nope", *where)
    assert code == 1 and "no contest 'nope'" in err


async def _in_thread(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI runs its own event loop (asyncio.run): call it from a worker thread."""
    import asyncio

    return await asyncio.to_thread(_run, capsys, *args)
