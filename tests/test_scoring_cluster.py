"""The scoring scripts on a real 3-node Redis Cluster through ``RedisCluster``.

Every key of a contest carries the contest's hash tag, so each contest lives on one slot
and its scripts (EVALSHA, in pipelines too) run there unchanged; different contests spread
over the shards.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import key_slot

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import compare
from scoring.batcher import AnswerBatcher
from scoring.durability import check_durability
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard
from scoring.live import LiveScoring
from scoring.redis_server import RedisServer
from scoring.scripts import Scripts
from scoring.window import WindowScoring
from tests import cluster as cluster_support

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# The shared fixtures: one real 3-node cluster for this module, and a client on it.
cluster_nodes = cluster_support.cluster_nodes
cluster = cluster_support.cluster


def contests_on_distinct_slots(n: int) -> list[ContestId]:
    found: list[ContestId] = []
    slots: set[int] = set()
    i = 0
    while len(found) < n:
        contest = ContestId(f"cl{i}")
        slot = key_slot(ContestKeys(contest).leaderboard.encode())
        if all(abs(slot - s) > 6000 for s in slots):  # 3 shards of ~5461 slots
            found.append(contest)
            slots.add(slot)
        i += 1
    return found


async def test_every_contest_key_shares_one_slot() -> None:
    k = ContestKeys(ContestId("x"))
    names = [
        k.meta,
        k.question(QuestionId("q")),
        k.answers(QuestionId("q")),
        k.leaderboard,
        k.province_board("p"),
        k.audit,
        k.attempt("m", 1),
        k.best,  # type: ignore[arg-type]
    ]
    assert len({key_slot(n.encode()) for n in names}) == 1


async def test_live_and_window_scripts_on_a_cluster(
    cluster: redis.asyncio.cluster.RedisCluster, key_prefix: str
) -> None:
    contests = contests_on_distinct_slots(3)
    scripts = Scripts(cluster)
    async with AnswerBatcher(scripts, window_ms=2, connections=4) as batcher:
        for contest in contests:
            live = LiveScoring(cluster, contest, key_prefix, batcher=batcher, scripts=scripts)
            await live.configure(eliminate=True)
            q = QuestionId("q1")
            opened = await live.open_question(q, index=1, time_ms=60_000, points=10)
            assert opened.opened
            outcomes = await asyncio.gather(
                *(
                    live.accept(
                        MemberId(f"m{i % 50}"),
                        q,
                        (i % 2) * 1.0,
                        choices=[str(i % 2)],
                        province="hn",
                        unit=f"u{i % 3}",
                    )
                    for i in range(400)
                )
            )
            assert sum(o.accepted for o in outcomes) == 50
            closed = await live.close_question(q)
            assert closed.distribution == {"0": 25, "1": 25}
            assert (closed.eliminated, closed.players_left) == (25, 25)
            board = Leaderboard(cluster, contest, key_prefix)
            top = await board.top(5, province="hn")
            assert len(top) == 5 and top[0].rank == 1
            assert await board.size(unit="u0") > 0
            assert await compare(cluster, contest, key_prefix) == []

    # Window answers on the cluster.
    window = WindowScoring(cluster, contests[0], key_prefix)
    sec, usec = await cluster.time(target_nodes=redis.asyncio.cluster.RedisCluster.RANDOM)  # type: ignore[call-arg]
    now = int(sec) * 1000 + int(usec) // 1000
    member = MemberId("w")
    await cluster.hset(
        window.keys.attempt(member, 1),
        mapping={
            "started": now,
            "deadline": now + 60_000,
            "state": "open",
            "qs": '["a"]',
            "pts:a": 7,
        },
    )
    await cluster.hset(window.keys.attempt_counts, member, 1)
    out = await window.answer(member, 1, QuestionId("a"), 1.0)
    assert out.accepted and out.best == 7

    # The contests really are spread over different primaries.
    nodes = {
        cluster.get_node_from_key(ContestKeys(c, key_prefix).leaderboard).name for c in contests
    }
    assert len(nodes) == 3


async def test_scripts_reload_on_every_node(
    cluster: redis.asyncio.cluster.RedisCluster,
    cluster_nodes: list[RedisServer],
    key_prefix: str,
) -> None:
    """After SCRIPT FLUSH on every node, single calls and batches load the scripts again."""
    for node in cluster_nodes:
        with redis.Redis(host=node.host, port=node.port) as plain:
            plain.script_flush()
    scripts = Scripts(cluster)
    contests = contests_on_distinct_slots(3)
    for contest in contests:
        live = LiveScoring(cluster, contest, key_prefix + "r", scripts=scripts)
        assert (await live.open_question(QuestionId("q"), index=1, time_ms=9000, points=1)).opened
        assert (await live.accept(MemberId("m"), QuestionId("q"), 1.0)).accepted
    for node in cluster_nodes:
        with redis.Redis(host=node.host, port=node.port) as plain:
            plain.script_flush()
    calls = [
        LiveScoring(cluster, c, key_prefix + "r").answer_call(MemberId("n"), QuestionId("q"), 1.0)
        for c in contests
    ]
    results = await scripts.run_batch(calls)
    assert [r[0] for r in results] == [1, 1, 1]


async def test_durability_check_on_cluster(cluster: redis.asyncio.cluster.RedisCluster) -> None:
    findings = await check_durability(cluster)
    assert sorted(f.code for f in findings) == ["no_persistence"] * 3
    assert len({f.node for f in findings}) == 3
