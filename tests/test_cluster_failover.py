"""Failover: a Redis Cluster primary killed (SIGKILL) mid-round, its replica promoted; the
engine reconnects, re-reads the slots and loses no acknowledged answer.

A cluster of 3 primaries and 3 replicas, an AOF on every node (``appendfsync always``) and
``cluster-node-timeout`` 1 s; one ``contest serve`` worker on its ``redis+cluster://`` URL;
a window round whose keys are on primary 0; members answering over WebSocket at a steady
pace, retrying an answer the engine refused as ``unavailable`` (as the app does). Primary 0
is killed by its PID a second in. Every answer a member got an ``ack`` for (accepted, or
refused as ``duplicate``: recorded by an earlier try) must be in the attempt afterwards,
read from the promoted replica, and a broadcast afterwards (the round closed) must reach
every member (the relay's sharded subscription followed the slot to the promoted replica).
The stall (the longest pause between two acks) is printed, for docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.cluster import key_slot

from engine.contests.store import ContestStore
from engine.core import messages
from engine.core.contest import WindowTiming
from engine.runtime.redisconn import connect
from question_bank.draws import DrawRules
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.attempts import Attempts
from scoring.keys import ContestKeys
from scoring.redis_server import RedisServer
from tests import cluster as cluster_support
from tests.contest_helpers import make_bank, now_ms, setup_org
from tests.e2e import Member, settings_for, worker
from tests.gateway_support import create_contest
from tests.test_e2e_live import right
from tests.utils import timeout

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

MEMBERS = 16
QUESTIONS = 30
PACE_S = 0.08
"""Pause of each member between two answers."""


@pytest.fixture(scope="module")
def replicated() -> Iterator[list[RedisServer]]:
    try:
        with cluster_support.redis_cluster(
            replicas=1, appendonly=True, node_timeout_ms=1000, timeout=60
        ) as servers:
            yield servers
    except cluster_support.ClusterUnavailable as exc:
        pytest.skip(f"no Redis Cluster with replicas: {exc}")


def contest_on_first_primary() -> ContestId:
    """A contest id whose slot is served by primary 0 (slots 0-5460)."""
    for i in range(10_000):
        contest = ContestId(f"fo{i}")
        if key_slot(ContestKeys(contest).meta.encode()) <= 5000:
            return contest
    raise AssertionError("no such contest id")


async def answer_until_acked(
    member: Member, question: str, value: messages.AnswerValue, log: list[tuple[float, str]]
) -> messages.Ack:
    """Send the answer; on an ``unavailable`` error (Redis failing over) send it again."""
    while True:
        member._seq += 1
        seq = member._seq
        await member.send(messages.Answer(question=question, answer=value, seq=seq))
        reply = await member.wait(
            messages.Ack | messages.Error,  # type: ignore[arg-type]
            lambda m, seq=seq: m.seq == seq,  # type: ignore[misc]
            seconds=30,
        )
        if isinstance(reply, messages.Ack):
            log.append((time.monotonic(), "ack"))
            return reply
        assert reply.code == "unavailable", reply
        log.append((time.monotonic(), "unavailable"))
        await asyncio.sleep(0.1)


async def test_primary_killed_mid_round_no_acknowledged_answer_lost(
    replicated: list[RedisServer], key_prefix: str
) -> None:
    url = cluster_support.cluster_url(replicated[:3])
    client = connect(url)
    contest = contest_on_first_primary()
    bank = make_bank(questions=QUESTIONS)
    by_id = {q.id: q for q in bank.questions}
    try:
        await setup_org(client, key_prefix, "central", bank=bank)
        now = await now_ms(client)
        window = WindowTiming(opens_at=now - 1000, closes_at=now + 600_000, attempt_seconds=300)
        await create_contest(
            client, key_prefix, "window", setup=False, id=contest,
            draw=DrawRules(count=QUESTIONS), window=window,
        )  # fmt: skip
        async with worker(settings_for(url, key_prefix)) as settings:
            members = [Member(settings, contest, f"m{i}") for i in range(MEMBERS)]
            log: list[tuple[float, str]] = []
            acked: dict[str, set[str]] = {m.id: set() for m in members}
            for member in members:
                await member.connect()

            async def play(member: Member) -> None:
                await member.send(messages.StartAttempt())
                state = await member.wait(messages.AttemptState)
                for question in state.questions:
                    value = right(by_id[QuestionId(question.id)])
                    ack = await answer_until_acked(member, question.id, value, log)
                    assert ack.accepted or ack.reason == "duplicate", ack
                    acked[member.id].add(question.id)
                    await asyncio.sleep(PACE_S)

            playing = asyncio.gather(*(play(m) for m in members))
            await asyncio.sleep(1.0)
            primary = replicated[0]
            assert primary.process is not None
            killed_at = time.monotonic()
            primary.kill()  # SIGKILL by the PID of the server this test started
            async with asyncio.timeout(timeout(60)):
                await playing
            # Broadcasts reach every member again: the relay's shard subscription moved to
            # the promoted replica.
            await ContestStore(client, key_prefix).apply(contest, "close")
            for member in members:
                await member.wait(messages.StateChanged, lambda m: m.state == "closed", 20)
            for member in members:
                await member.close()
        acks = sorted(t for t, kind in log if kind == "ack")
        refused = sum(1 for t, kind in log if kind == "unavailable")
        # The stall: the longest pause between two acknowledgements (an answer the primary
        # ran just before the kill may be acknowledged just after it).
        stall = max(b - a for a, b in zip(acks, acks[1:], strict=False))
        print(
            f"\nfailover: answers stalled {stall * 1000:.0f} ms (longest pause between two "
            f"acks); {refused} answers refused as unavailable meanwhile (and sent again); "
            f"{sum(len(a) for a in acked.values())} answers acknowledged"
        )
        attempts = Attempts(client, contest, prefix=key_prefix)
        lost = []
        for member_id, questions in acked.items():
            stored = await attempts.attempt(MemberId(member_id), 1)
            assert stored is not None
            lost += [(member_id, q) for q in questions if QuestionId(q) not in stored.answers]
        assert lost == []
        assert all(len(a) == QUESTIONS for a in acked.values())
        before = sum(1 for t, kind in log if kind == "ack" and t < killed_at)
        assert 0 < before < MEMBERS * QUESTIONS  # the kill landed mid-round
    finally:
        await client.aclose()
