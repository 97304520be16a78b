"""Durability: settings are checked, and an AOF restart loses no acknowledged answer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis.asyncio

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import compare
from scoring.durability import assess, check_durability, log_findings
from scoring.live import LiveScoring
from scoring.redis_server import RedisServer

C = ContestId("aof")
Q1, Q2 = QuestionId("q1"), QuestionId("q2")


def codes(config: dict[str, str]) -> list[str]:
    return [f.code for f in assess(config)]


def test_assess() -> None:
    assert codes({"appendonly": "no", "save": ""}) == ["no_persistence"]
    assert codes({"appendonly": "no", "save": "3600 1"}) == ["aof_off"]
    assert codes({"appendonly": "yes", "appendfsync": "no"}) == ["fsync_no"]
    assert codes({"appendonly": "yes", "appendfsync": "everysec"}) == ["fsync_everysec"]
    assert codes({"appendonly": "yes", "appendfsync": "always"}) == ["fsync_always"]
    assert codes(
        {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "allkeys-lru"}
    ) == ["fsync_always", "eviction"]
    assert [f.level for f in assess({"appendonly": "no", "save": ""})] == ["error"]


async def test_check_the_test_server(
    redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    findings = await check_durability(redis_client)
    assert [f.code for f in findings] == ["no_persistence"]
    with caplog.at_level(logging.INFO):
        log_findings(findings, logging.getLogger("test"))
    assert "no_persistence" in caplog.text and caplog.records[0].levelno == logging.ERROR


async def test_aof_always_keeps_acknowledged_answers_through_kill(tmp_path: Path) -> None:
    """Answer, SIGKILL redis-server (a crash), restart on the same AOF, answer again."""
    server = RedisServer(data_dir=tmp_path, appendonly=True, appendfsync="always").start()
    port = server.port
    try:
        client = redis.asyncio.Redis(port=port)
        try:
            assert [f.code for f in await check_durability(client)] == ["fsync_always"]
            live = LiveScoring(client, C, "d")
            await live.open_question(Q1, index=1, time_ms=600_000, points=10, speed=False)
            await live.open_question(Q2, index=2, time_ms=600_000, points=20, speed=False)
            first = await live.accept(MemberId("ann"), Q1, 1.0, "a", province="hn", unit="u1")
            assert first.accepted
        finally:
            await client.aclose()
        server.kill()
        server = RedisServer(
            data_dir=tmp_path, appendonly=True, appendfsync="always", port=port
        ).start()
        client = redis.asyncio.Redis(port=port)
        try:
            live = LiveScoring(client, C, "d")
            again = await live.accept(MemberId("ann"), Q1, 0.0, "b")
            assert (again.accepted, again.reason, again.total) == (False, "duplicate", 10)
            # the close applies the answer from the audit stream the AOF kept
            await live.close_question(Q1)
            second = await live.accept(MemberId("ann"), Q2, 1.0, "c", province="hn", unit="u1")
            assert second.accepted and second.total == 30
            await live.close_question(Q2)
            state = await live.member_state(MemberId("ann"), [Q1, Q2])
            assert state.rank == 1 and set(state.answers) == {Q1, Q2}
            assert await client.xlen(live.keys.audit) == 2
            assert await compare(client, C, "d") == []
        finally:
            await client.aclose()
    finally:
        server.stop()
