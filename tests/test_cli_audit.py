"""``contest audit``: the audit stream as the load tests read it, against a real Redis."""

import asyncio
import json
import re
from pathlib import Path

import pytest
import redis.asyncio

from engine.cli import main
from engine.runtime.redisconn import connect
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import AuditEntry
from scoring.keys import ContestKeys
from scoring.live import LiveScoring

SCORING_DOC = (Path(__file__).parent.parent / "docs" / "scoring.md").read_text(encoding="utf-8")


def documented_audit_fields() -> dict[str, str]:
    """docs/scoring.md's audit table: stream field -> ``--jsonl`` name."""
    section = SCORING_DOC.split("\n## Audit\n", 1)[1].split("\n## ", 1)[0]
    rows = re.finditer(r"^\| (`(\w+)`|\(entry id\)) \| `(\w+)` \|", section, re.M)
    return {row.group(2) or "": row.group(3) for row in rows}


async def _two_answers(client: redis.asyncio.Redis, prefix: str) -> None:
    live = LiveScoring(client, ContestId("aud"), prefix)
    await live.open_question(QuestionId("q1"), index=0, time_ms=10_000, points=10)
    for member in ("m1", "m2"):
        outcome = await live.accept(
            MemberId(member), QuestionId("q1"), 1.0, "a", province="hn", unit="u1"
        )
        assert outcome.accepted
    # a second answer is refused and must not appear in the stream
    again = await live.accept(MemberId("m1"), QuestionId("q1"), 0.0, "b", province="hn", unit="u1")
    assert not again.accepted


def test_audit_lists_every_accepted_answer(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def setup() -> None:
        client = connect(redis_url)
        try:
            await _two_answers(client, key_prefix)
        finally:
            await client.aclose()

    asyncio.run(setup())
    base = ["audit", "aud", "--redis-url", redis_url, "--key-prefix", key_prefix]

    assert main([*base, "--jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["member"], r["question"], r["choice"], r["points"]) for r in rows] == [
        ("m1", "q1", "a", 10),
        ("m2", "q1", "a", 10),
    ]

    assert main([*base, "--count"]) == 0
    assert capsys.readouterr().out.strip() == "2"

    assert main(base) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "member", "question"] and len(table) == 3


def test_audit_fields_are_the_ones_the_doc_lists(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/scoring.md names every field of the stream and of ``contest audit --jsonl``."""
    documented = documented_audit_fields()
    assert set(documented.values()) == set(AuditEntry.__struct_fields__)

    async def setup() -> set[str]:
        client = connect(redis_url)
        try:
            await _two_answers(client, key_prefix)
            rows = await client.xrange(ContestKeys(ContestId("aud"), key_prefix).audit)
            return {key.decode() for _, fields in rows for key in fields}
        finally:
            await client.aclose()

    stream_fields = asyncio.run(setup())
    assert stream_fields <= set(documented) - {""}
    assert (
        main(["audit", "aud", "--redis-url", redis_url, "--key-prefix", key_prefix, "--jsonl"]) == 0
    )
    for line in capsys.readouterr().out.splitlines():
        assert set(json.loads(line)) == set(documented.values())


def test_audit_without_redis_fails_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "x", "--redis-url", "redis://127.0.0.1:1/0", "--count"])
    assert code == 1
    assert capsys.readouterr().err.startswith("error:")
