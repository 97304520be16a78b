"""``contest campaign``: an organiser without curl creates a 23-week campaign in local time,
shows it, and reads its report; a bad schedule is refused and creates nothing."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]
import pytest
import redis.asyncio

from engine.cli import main
from engine.contests.store import ContestStore
from engine.directory.orgs import CENTRAL
from engine.directory.units import Unit, import_units
from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.profiles import Profile
from tests.contest_helpers import now_ms, setup_org

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["campaign", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_a_23_week_campaign_from_the_command_line(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    await setup_org(redis_client, key_prefix, CENTRAL)
    where = ["--redis-url", redis_url, "--key-prefix", key_prefix]

    async def cli(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(_run, capsys, *args, *where)

    code, out, err = await cli("create", "--org", "central", "--title", "Tuần", "--id", "tuan")
    assert (code, out) == (0, "created campaign tuan (Asia/Ho_Chi_Minh)\n"), err
    now = dt.datetime.fromtimestamp(await now_ms(redis_client) / 1000, tz=HCM)
    start = (now + dt.timedelta(days=7)).date().isoformat()

    code, _, err = await cli(
        "schedule",
        "tuan",
        "--bank",
        "b1",
        "--count",
        "3",
        "--weeks",
        "23",
        "--starting",
        "2020-01-01",
    )
    assert code == 1 and "rule.starting" in err and "in the past" in err
    assert await ContestStore(redis_client, key_prefix).list() == []

    weekly = ["tuan", "--bank", "b1", "--count", "3", "--weeks", "23", "--starting", start]
    code, out, err = await cli("schedule", *weekly, "--dry-run")
    assert code == 0, err
    assert out.splitlines()[0] == "23 round(s) would be created (dry run) (Asia/Ho_Chi_Minh):"
    assert len(out.splitlines()) == 3 + 23 + 1  # and the rounds' rules
    assert out.splitlines()[-1] == (
        "each round: attempt_seconds=600 attempts_allowed=1 prediction_question=-"
        " counts=best tie_break=- min_seconds_between_attempts=0 board_updates=answer"
    )
    assert await ContestStore(redis_client, key_prefix).list() == []
    code, out, err = await cli("schedule", *weekly, "--attempts-allowed", "0")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "23 round(s) of tuan (Asia/Ho_Chi_Minh):"
    rows = [line.split() for line in lines[3:-1]]
    assert [r[0] for r in rows] == [f"tuan-r{n:02d}" for n in range(1, 24)]
    for r in rows:
        opens, closes = dt.datetime.fromisoformat(r[2]), dt.datetime.fromisoformat(r[3])
        assert r[1] == "scheduled"
        assert (opens.weekday(), opens.strftime("%H:%M%z")) == (0, "08:00+0700")
        assert (closes.weekday(), closes.strftime("%H:%M%z")) == (6, "22:00+0700")

    code, out, _ = await cli("show", "tuan")
    assert code == 0 and out.splitlines()[0] == "Tuần (tuan, central, Asia/Ho_Chi_Minh)"
    assert len(out.splitlines()) == 3 + 23
    code, out, _ = await cli("list")
    assert out.splitlines()[2].split() == ["tuan", "central", "Asia/Ho_Chi_Minh", "Tuần"]

    await import_units(
        redis_client,
        [Unit(id=UnitId("hn-1"), name="Ba Đình", province=ProvinceId("hanoi"), members=8)],
        prefix=key_prefix,
    )
    profile = Profile(name="=cmd", province=ProvinceId("hanoi"), unit=UnitId("hn-1"))
    draw = [DrawnQuestion(id=QuestionId("q1"), points=10)]
    for contest, member in [("tuan-r01", "a"), ("tuan-r01", "b"), ("tuan-r02", "a")]:
        attempts = Attempts(redis_client, ContestId(contest), prefix=key_prefix)
        await attempts.start(
            MemberId(member), profile, draw, duration_ms=60_000, attempts_allowed=0
        )
    code, out, _ = await cli("report", "tuan")
    assert code == 0
    assert "tuan-r01: 2 participant(s), 2 attempt(s)" in out
    assert "total: 2 participant(s), 3 attempt(s)" in out
    assert out.splitlines()[-1].split() == ["hanoi", "hn-1", "8", "2", "3", "25.00%"]
    code, out, _ = await cli("report", "tuan", "--json")
    assert json.loads(out)["total"]["units"][0]["participation_rate"] == 0.25
    code, out, _ = await cli("report", "tuan", "--csv", "--members")
    members = list(csv.reader(io.StringIO(out)))
    assert members[1] == ["a", "'=cmd", "hanoi", "hn-1", "2", "tuan-r01 tuan-r02", "2"]
    code, _, err = await cli("report", "tuan", "--format", "xlsx")
    assert code == 1 and "--out FILE" in err
    workbook = tmp_path / "tuan.xlsx"
    code, out, err = await cli("report", "tuan", "--format", "xlsx", "--out", str(workbook))
    assert (code, out) == (0, f"wrote {workbook}\n"), err
    book = openpyxl.load_workbook(workbook)
    areas = [[c.value for c in row] for row in book["areas"].iter_rows()]
    assert areas[-1] == ["total", "unit", "hanoi", "hn-1", 8, 2, 3, 0.25]
    member = book["members"]["B2"]  # a display name that would run as a formula stays text
    assert (member.value, member.data_type) == ("'=cmd", "s")

    code, _, err = await cli("show", "nope")
    assert code == 1 and "no campaign 'nope'" in err


Cli = Callable[..., Awaitable[tuple[int, str, str]]]


async def _campaign_cli(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
    campaign: str,
) -> tuple[Cli, dt.datetime]:
    """The organisation ``central`` with its bank and a campaign *campaign* made with the
    CLI; the CLI on this Redis (exit code, stdout, stderr) and Redis's now in Vietnam."""
    await setup_org(redis_client, key_prefix, CENTRAL)
    where = ["--redis-url", redis_url, "--key-prefix", key_prefix]

    async def cli(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(_run, capsys, *args, *where)

    code, _, err = await cli("create", "--org", "central", "--title", "Thi", "--id", campaign)
    assert code == 0, err
    return cli, dt.datetime.fromtimestamp(await now_ms(redis_client) / 1000, tz=HCM)


async def test_the_live_final_takes_member_shards(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--final-shards N`` makes a final of N member shards; outside 1-32, or without
    ``--final-at``, it is a problem at ``final.shards`` and nothing is created."""
    cli, now = await _campaign_cli(redis_client, redis_url, key_prefix, capsys, "ck")
    start = (now + dt.timedelta(days=7)).date().isoformat()
    final_at = (now + dt.timedelta(days=30)).replace(microsecond=0).isoformat()
    weekly = ["ck", "--bank", "b1", "--count", "3", "--weeks", "2", "--starting", start]
    store = ContestStore(redis_client, key_prefix)
    for bad in (["--final-at", final_at, "--final-shards", "33"], ["--final-shards", "2"]):
        code, _, err = await cli("schedule", *weekly, *bad)
        assert code == 1 and "final.shards" in err, err
    assert await store.list() == []
    code, out, err = await cli("schedule", *weekly, "--final-at", final_at, "--final-shards", "3")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[3:-1]] == ["ck-r01", "ck-r02", "ck-final"]
    assert {c.id: c.shards for c in await store.list()} == {"ck-r01": 1, "ck-r02": 1, "ck-final": 3}


async def test_schedule_flags_set_every_round_s_rules(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--prediction-question``, ``--counts``, ``--tie-break``,
    ``--min-seconds-between-attempts`` and ``--board-updates`` are every round's rules,
    printed under the rounds (the dry run's too); a bad one is the API's problem, located
    in the schedule, and creates nothing."""
    cli, now = await _campaign_cli(redis_client, redis_url, key_prefix, capsys, "luat")
    start = (now + dt.timedelta(days=7)).date().isoformat()
    weekly = ["luat", "--bank", "b1", "--count", "3", "--weeks", "2", "--starting", start]
    store = ContestStore(redis_client, key_prefix)
    for bad, field in [
        (["--prediction-question", "q1"], "prediction_question"),
        (["--tie-break", "fewest_attempts", "--tie-break", "fewest_attempts"], "tie_break[1]"),
        (["--min-seconds-between-attempts", "60"], "min_seconds_between_attempts"),
    ]:
        code, _, err = await cli("schedule", *weekly, *bad)
        assert code == 1 and field in err and "window." not in err, err
    assert await store.list() == []

    rules = [
        "--attempts-allowed",
        "7",
        "--prediction-question",
        "pred",
        "--counts",
        "last",
        "--tie-break",
        "fewest_attempts",
        "--tie-break",
        "earliest_start",
        "--min-seconds-between-attempts",
        "1800",
        "--board-updates",
        "attempt",
    ]
    shown = (
        "each round: attempt_seconds=600 attempts_allowed=7 prediction_question=pred"
        " counts=last tie_break=fewest_attempts,earliest_start"
        " min_seconds_between_attempts=1800 board_updates=attempt"
    )
    code, out, err = await cli("schedule", *weekly, *rules, "--dry-run")
    assert code == 0 and out.splitlines()[-1] == shown, (out, err)
    assert await store.list() == []
    code, out, err = await cli("schedule", *weekly, *rules)
    assert code == 0 and out.splitlines()[-1] == shown, (out, err)
    made = await store.list()
    assert sorted(c.id for c in made) == ["luat-r01", "luat-r02"]
    for contest in made:
        window = contest.window
        assert window is not None
        assert (window.attempts_allowed, window.prediction_question) == (7, "pred")
        assert (window.ranking.counts, window.ranking.tie_break) == (
            "last",
            ["fewest_attempts", "earliest_start"],
        )
        assert (window.min_seconds_between_attempts, window.board_updates) == (1800, "attempt")


async def test_the_live_final_takes_its_timing_and_scoring(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--final-question-seconds``, ``--final-speed`` and ``--final-streak-step``/``-cap``
    are the live final's (a live contest's ``live.question_seconds`` and ``scoring``); the
    weekly rounds keep the defaults. A streak step without a cap is the contest's problem at
    ``final.scoring.streak_cap``; any of them without ``--final-at`` is a problem; either
    creates nothing."""
    cli, now = await _campaign_cli(redis_client, redis_url, key_prefix, capsys, "cx")
    start = (now + dt.timedelta(days=7)).date().isoformat()
    final_at = (now + dt.timedelta(days=30)).replace(microsecond=0).isoformat()
    weekly = ["cx", "--bank", "b1", "--count", "3", "--weeks", "2", "--starting", start]
    store = ContestStore(redis_client, key_prefix)
    for bad, field in [
        (["--final-at", final_at, "--final-streak-step", "5"], "final.scoring.streak_cap"),
        (["--final-speed"], "final.scoring.speed"),
    ]:
        code, _, err = await cli("schedule", *weekly, *bad)
        assert code == 1 and field in err, err
    assert await store.list() == []
    final = ["--final-at", final_at, "--final-question-seconds", "20", "--final-speed"]
    streak = ["--final-streak-step", "5", "--final-streak-cap", "3"]
    code, _, err = await cli("schedule", *weekly, *final, *streak)
    assert code == 0, err
    contests = {str(c.id): c for c in await store.list()}
    assert contests["cx-final"].live is not None
    assert contests["cx-final"].live.question_seconds == 20
    scoring = contests["cx-final"].scoring
    assert (scoring.speed, scoring.streak_step, scoring.streak_cap) == (True, 5, 3)
    assert all(
        (c.scoring.speed, c.scoring.streak_step) == (False, 0)
        for i, c in contests.items()
        if i != "cx-final"
    )
