"""Window attempts, finalize and export on a real 3-node Redis Cluster (``RedisCluster``).

Every key of a contest carries the contest's hash tag, and the attempt scripts build the
keys they reach beyond KEYS from ``P:{C}`` (same tag, same slot), so they run unchanged.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio.cluster

from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.export import export
from scoring.finalize import Finalizer
from scoring.profiles import Profile
from scoring.window import WindowScoring
from tests import cluster as cluster_support
from tests.utils import timeout

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# The shared fixtures: one real 3-node cluster for this module, and a client on it.
cluster_nodes = cluster_support.cluster_nodes
cluster = cluster_support.cluster

DRAW = [DrawnQuestion(id=QuestionId(f"q{i}"), points=10) for i in range(2)]
PROFILE = Profile(name="Lê", province=ProvinceId("hn"), unit=UnitId("u1"))


async def test_attempt_lifecycle_and_finalize_on_a_cluster(
    cluster: redis.asyncio.cluster.RedisCluster, key_prefix: str
) -> None:
    contest = ContestId("clw")
    att = Attempts(cluster, contest, prefix=key_prefix)
    win = WindowScoring(cluster, contest, key_prefix, scripts=att.scripts)
    ann, bob = MemberId("ann"), MemberId("bob")
    first = await att.start(ann, PROFILE, DRAW, duration_ms=60_000)
    assert first.status == "started"
    for q in DRAW:
        ok = await win.answer(ann, 1, q.id, 1.0, "a", province="hn", unit="u1")
        assert ok.accepted
    state = await att.resume(ann)
    assert state is not None and state.score == 20 and set(state.answers) == {"q0", "q1"}
    assert (await att.submit(ann, 1)).status == "submitted"
    short = await att.start(bob, PROFILE, DRAW, duration_ms=50)
    assert short.attempt is not None
    await win.answer(bob, 1, QuestionId("q0"), 1.0, "a", province="hn", unit="u1")
    async with asyncio.timeout(timeout()):
        while await att.expire_due() == 0:
            await asyncio.sleep(0.01)
    closed = await att.attempt(bob, 1)
    assert closed is not None and closed.state == "expired" and closed.time_used == 50

    f = Finalizer(cluster, contest, prefix=key_prefix)
    info = await f.finalize_window("perfect_scores")
    assert (info.truth, info.ranked) == (1, 2)
    assert [(m, s.rank, s.score) for m, s in await f.standings()] == [
        ("ann", 1, 20),
        ("bob", 2, 10),
    ]
    rows = json.loads(await export(cluster, contest, "json", prefix=key_prefix))
    assert [(r["member"], r["name"], r["prediction"]) for r in rows] == [
        ("ann", "Lê", 1),
        ("bob", "Lê", None),
    ]
