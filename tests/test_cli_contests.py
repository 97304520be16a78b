"""``contest contest``: an organiser without curl runs a window round from the command line
(the real ``contest`` executable against a real redis-server); a bad definition or an illegal
move is one line on stderr, exit 1, and changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import redis.asyncio

from engine.contests.store import ContestStore
from engine.directory.orgs import CENTRAL
from tests.contest_helpers import now_ms, setup_org

CONTEST = str(Path(sys.executable).parent / "contest")
HCM = ZoneInfo("Asia/Ho_Chi_Minh")

ROUND = """\
id: tuan-1
title: Tìm hiểu lịch sử — tuần 1
mode: window
bank: b1
draw: {{count: 3}}
window:
  opens_at: {opens}
  closes_at: "{closes}"
  attempt_seconds: 600
"""


def _contest(*args: str, group: str = "contest") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONTEST, group, *args], capture_output=True, text=True, timeout=60, check=False
    )


def _one_line_error(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert says in result.stderr, result.stderr


async def test_a_window_round_from_a_yaml_file(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    await setup_org(redis_client, key_prefix, CENTRAL)
    await setup_org(redis_client, key_prefix, "other")
    where = ["--redis-url", redis_url, "--key-prefix", key_prefix]

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_contest, *args, *where)

    now = dt.datetime.fromtimestamp(await now_ms(redis_client) / 1000, tz=HCM)
    opens = (now + dt.timedelta(hours=1)).replace(microsecond=0)
    closes = opens + dt.timedelta(days=6)
    good = tmp_path / "tuan-1.yaml"
    # opens_at unquoted (YAML reads it as a timestamp), closes_at a quoted string
    good.write_text(ROUND.format(opens=opens.isoformat(), closes=closes.isoformat()), "utf-8")

    # bad definitions (a time without a zone, a field of the wrong type, times reversed, no
    # file) are refused and create nothing
    bad = tmp_path / "bad.yaml"
    bad.write_text(ROUND.format(opens="2027-01-04T08:00", closes=closes.isoformat()), "utf-8")
    _one_line_error(await cli("create", str(bad), "--org", "central"), f"{bad}: window.opens_at:")
    assert "has no zone" in (await cli("create", str(bad), "--org", "central")).stderr
    typo = tmp_path / "typo.json"
    typo.write_text(
        json.dumps({"title": "x", "mode": "window", "bank": "b1", "draw": {"count": ""}})
    )
    _one_line_error(await cli("create", str(typo), "--org", "central"), f"{typo}: draw.count")
    later = tmp_path / "later.yaml"
    later.write_text(ROUND.format(opens=closes.isoformat(), closes=opens.isoformat()), "utf-8")
    _one_line_error(
        await cli("create", str(later), "--org", "central"), "window.closes_at: must be after"
    )
    _one_line_error(await cli("create", str(tmp_path / "none.yaml"), "--org", "central"), "none")
    assert await ContestStore(redis_client, key_prefix).list() == []

    result = await cli("create", str(good), "--org", "central")
    assert (result.returncode, result.stdout) == (0, "created contest tuan-1 (window, draft)\n")
    contest = await ContestStore(redis_client, key_prefix).get("tuan-1")
    assert contest.window is not None
    assert contest.window.opens_at == int(opens.timestamp() * 1000)
    assert contest.window.closes_at == int(closes.timestamp() * 1000)

    result = await cli("list", "--state", "draft")
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[2].split()
    times = [opens.isoformat(), closes.isoformat()]
    assert row[:6] == ["tuan-1", "central", "window", "draft", *times]
    assert len((await cli("list", "--state", "open")).stdout.splitlines()) == 2  # headers only
    assert "tuan-1" not in (await cli("list", "--org", "other")).stdout

    result = await cli("show", "tuan-1")
    assert result.stdout.splitlines()[:2] == [
        "Tìm hiểu lịch sử — tuần 1 (tuan-1, central, Asia/Ho_Chi_Minh)",
        "mode: window  state: draft",
    ]
    assert json.loads((await cli("show", "tuan-1", "--json")).stdout)["state"] == "draft"

    # the organisation's time zone shows the times (and reads a bare date) in Paris
    org = ["set", "central", *where]
    bad = await asyncio.to_thread(_contest, *org, "--zone", "Mars/Olympus", group="org")
    _one_line_error(bad, "zone: 'Mars/Olympus' is not an IANA time zone")
    done = await asyncio.to_thread(_contest, *org, "--zone", "Europe/Paris", group="org")
    assert done.stdout == "organisation central: Central (Europe/Paris)\n", done.stderr
    paris = ZoneInfo("Europe/Paris")
    row = (await cli("list", "--state", "draft")).stdout.splitlines()[2].split()
    assert row[4:6] == [opens.astimezone(paris).isoformat(), closes.astimezone(paris).isoformat()]
    assert "(tuan-1, central, Europe/Paris)" in (await cli("show", "tuan-1")).stdout
    dated = tmp_path / "dated.yaml"
    dated.write_text(
        ROUND.format(opens="2030-03-04", closes="2030-03-05").replace("tuan-1", "d1"), "utf-8"
    )
    assert (await cli("create", str(dated), "--org", "central")).returncode == 0
    window = (await ContestStore(redis_client, key_prefix).get("d1")).window
    assert window is not None
    assert window.opens_at == int(dt.datetime(2030, 3, 4, tzinfo=paris).timestamp() * 1000)
    await ContestStore(redis_client, key_prefix).apply("d1", "delete")

    result = await cli("schedule", "tuan-1", "--org", "central")
    assert (result.returncode, result.stdout) == (0, "contest tuan-1: scheduled\n")
    # an illegal move, and another organisation's contest: one line, nothing moves
    _one_line_error(await cli("close", "tuan-1"), "cannot close a contest that is scheduled")
    _one_line_error(await cli("cancel", "tuan-1", "--org", "other"), "another organisation")
    assert (await ContestStore(redis_client, key_prefix).get("tuan-1")).state == "scheduled"

    for command, state in [("start", "open"), ("close", "closed"), ("finalize", "finalized")]:
        result = await cli(command, "tuan-1", "--org", "central")
        assert (result.returncode, result.stdout) == (0, f"contest tuan-1: {state}\n"), result
    contest = await ContestStore(redis_client, key_prefix).get("tuan-1")
    assert [t.event for t in contest.history] == ["schedule", "open", "close", "finalize"]
    shown = (await cli("show", "tuan-1")).stdout.splitlines()
    assert [line.split()[:2] for line in shown[-4:]] == [
        ["schedule", "scheduled"],
        ["open", "open"],
        ["close", "closed"],
        ["finalize", "finalized"],
    ]
    _one_line_error(await cli("finalize", "tuan-1"), "cannot finalize a contest that is finalized")
    _one_line_error(await cli("show", "nope"), "no contest 'nope'")

    result = await cli("delete", "tuan-1", "--org", "central")
    assert (result.returncode, result.stdout) == (0, "contest tuan-1: deleted\n"), result
    assert "tuan-1" not in (await cli("list")).stdout
    assert "tuan-1" in (await cli("list", "--state", "deleted")).stdout
