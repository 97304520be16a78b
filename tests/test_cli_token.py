"""``contest token``: tokens that verify, spread over provinces and units."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.cli.token import DEFAULT_PROVINCES, members
from engine.directory.tokens import verify

SECRET = "k" * 40
CONTEST = str(Path(sys.executable).parent / "contest")


def test_one_token(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["token", "--contest", "c1", "--member", "m7", "--name", "Lan", "--province", "hue",
         "--unit", "u3", "--secret", SECRET, "--ttl", "120"]
    )  # fmt: skip
    assert code == 0
    token = capsys.readouterr().out.strip()
    member = verify(token, SECRET, "c1")
    assert (member.id, member.name, member.province, member.unit) == ("m7", "Lan", "hue", "u3")


def test_many_tokens_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["token", "--contest", "c1", "--count", "12", "--member-prefix", "x", "--json",
         "--secret", SECRET, "--province", "a,b,c", "--units-per-province", "2"]
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["member"] for r in rows] == [f"x{i}" for i in range(1, 13)]
    assert [r["province"] for r in rows[:4]] == ["a", "b", "c", "a"]
    assert {r["unit"] for r in rows} == {"a-u1", "a-u2", "b-u1", "b-u2", "c-u1", "c-u2"}
    for row in rows:
        member = verify(row["token"], SECRET, "c1")
        assert (member.id, member.province, member.unit) == (
            row["member"],
            row["province"],
            row["unit"],
        )
        assert row["contest"] == "c1"


def test_members_spread_evenly() -> None:
    rows = list(members("c", count=40, units=["u1", "u2", "u3"]))
    assert {r.province for r in rows} == set(DEFAULT_PROVINCES)
    assert [sum(r.unit == u for r in rows) for u in ("u1", "u2", "u3")] == [14, 13, 13]
    assert list(members("c", count=2, first=5))[1].member == "m6"


def test_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--contest", "c1", "--secret", SECRET]) == 2
    assert main(["token", "--contest", "c1", "--count", "0", "--secret", SECRET]) == 2
    assert main(["token", "--contest", "c1", "--member", "m", "--secret", "short"]) == 1
    assert "at least 32" in capsys.readouterr().err


def test_as_a_subprocess_with_the_secret_from_the_environment() -> None:
    env = {**os.environ, "CONTEST_TOKEN_SECRET": SECRET}
    out = subprocess.run(
        [CONTEST, "token", "--contest", "c9", "--member", "m1"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert verify(out.strip(), SECRET, "c9").id == "m1"
