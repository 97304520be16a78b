"""A member-sharded live show gives exactly the figures of the same show on one shard.

Each example plays the same random answers (several questions, duplicates, places,
distributions of one or several keys, a streak bonus or not, the elimination rule or not)
on two contests: one with ``shards`` = 1 and one with S = 2..4 shards. After every close
the figures a reveal and the members read are equal: each ack, the close's figures
(eliminated, still in, fully correct, distribution), answers counted, the eliminated set,
the score histogram and top of the reveal's board, every board's top N, size, every
member's shared rank (one and many at once), the rows around each member, each member's
resume state and the unit participation; at the end the final standings. Run on one
redis-server (hypothesis) and on a 3-node Redis Cluster, where the shards' keys are on
distinct primaries.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
import redis.asyncio
import redis.asyncio.cluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import messages
from engine.live.results import results_after_reveal
from engine.live.show_messages import board_after
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import compare, entries, replay
from scoring.errors import ScoringUsageError
from scoring.finalize import Finalizer
from scoring.keys import MAX_SHARDS, ContestShards, key_slot, shard_of, shard_tag
from scoring.leaderboard import Leaderboard
from scoring.live import LiveScoring
from scoring.profiles import Profile, encode_profile
from scoring.units import unit_stats
from tests.cluster import cluster, cluster_nodes
from tests.utils import open_alike

__all__ = ["cluster", "cluster_nodes"]

PLACES = [("hn", "u1"), ("hn", "u2"), ("hcm", "u3"), ("", "")]
BOARDS: list[dict[str, str]] = [{}, {"province": "hn"}, {"province": "hcm"}, {"unit": "u2"}]
_serial = itertools.count()

answer = st.tuples(
    st.integers(0, 11),  # member
    st.sampled_from([0.0, 0.5, 1.0]),  # graded fraction
    st.sampled_from(["a", "b", "a,c"]),  # bucket
)
show = st.lists(st.lists(answer, max_size=16), min_size=1, max_size=4)

Answer = tuple[int, float, str]


def _mid(member: int) -> MemberId:
    return MemberId(f"m{member}")


async def _figures(
    client: Any,
    live: LiveScoring,
    qid: QuestionId,
    members: list[MemberId],
    asked: list[QuestionId],
) -> dict[str, Any]:
    """Everything a reveal, a member and an organiser read after a close (with the
    ``result`` a member of an elimination show gets)."""
    shards = live.shards.count
    board = Leaderboard(client, live.contest, live.keys.prefix, shards=shards)
    out: dict[str, Any] = {
        "distribution": await live.distribution(qid),
        "answered": await live.answered(qid),
        "eliminated": await live.eliminated_by(qid),
        "reveal": await board_after(client, live.keys, 5, shards=shards),
        "units": await unit_stats(client, live.contest, prefix=live.keys.prefix, shards=shards),
    }
    for i, where in enumerate(BOARDS):
        out[f"size{i}"] = await board.size(**where)
        out[f"top{i}"] = await board.top(7, **where)
        out[f"ranks{i}"] = await board.ranks(members, chunk=3, **where)
        out[f"rank{i}"] = [await board.rank(m, **where) for m in members]
        out[f"around{i}"] = [await board.around(m, k, **where) for m in members for k in (0, 2)]
    out["states"] = [await live.member_state(m, asked) for m in members]
    reveal = messages.Reveal(question=qid, index=len(asked) - 1, correct=None)
    prefix = live.keys.prefix
    out["results"] = await results_after_reveal(
        client, live.contest, reveal, members, prefix, shards=shards
    )
    return out


async def _play(
    client: Any,
    prefix: str,
    rounds: list[list[Answer]],
    *,
    shards: int,
    streak_step: int,
    eliminate: bool,
) -> None:
    serial = next(_serial)
    one = LiveScoring(client, ContestId(f"one{serial}"), prefix)
    many = LiveScoring(client, ContestId(f"many{serial}"), prefix, shards=shards)
    members = [_mid(i) for i in range(12)]
    for side in (one, many):
        await side.configure(streak_step=streak_step, streak_cap=2, eliminate=eliminate)
        for i, member in enumerate(members):
            province, unit = PLACES[i % len(PLACES)]
            profile = Profile(name=f"N{i}", province=province, unit=unit)
            await client.hset(side.keys.profiles, member, encode_profile(profile))
            if i % 3 == 0:
                assert await side.join(member)
    asked: list[QuestionId] = []
    for index, answers in enumerate(rounds):
        qid = QuestionId(f"q{index}")
        asked.append(qid)
        await open_alike((one, many), qid, index)
        for member, fraction, bucket in answers:
            province, unit = PLACES[member % len(PLACES)]
            got = [
                msgspec.structs.replace(
                    await side.accept(
                        _mid(member),
                        qid,
                        fraction,
                        bucket,
                        province=province,
                        unit=unit,
                        choices=bucket.split(","),
                    ),
                    at=0,  # Redis's clock at the accept: a ms apart
                )  # fmt: skip
                for side in (one, many)
            ]
            assert got[0] == got[1], (index, member)
        closed = [await side.close_question(qid, chunk=3) for side in (one, many)]
        assert closed[0] == closed[1]
        want = await _figures(client, one, qid, members, asked)
        assert await _figures(client, many, qid, members, asked) == want
        # each shard's boards are what its audit stream implies
        assert await compare(client, many.contest, prefix, shards=shards) == []
    # the audit streams hold the same answers, member by member in order
    streams = []
    for side in (one, many):
        kept = [e async for e in entries(client, side.contest, prefix, shards=side.shards.count)]
        by_member: dict[str, list[Any]] = {}
        for e in kept:
            by_member.setdefault(e.member, []).append((e.question, e.points, e.fraction))
        streams.append(by_member)
    assert streams[0] == streams[1]
    replayed = [await replay(client, s.contest, prefix, shards=s.shards.count) for s in (one, many)]
    assert replayed[0].totals == replayed[1].totals and replayed[0].times == replayed[1].times
    standings = []
    for side in (one, many):
        finalizer = Finalizer(client, side.contest, prefix=prefix, shards=side.shards.count)
        info = await finalizer.finalize_live()
        standings.append((info.ranked, await finalizer.standings()))
    assert standings[0] == standings[1]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rounds=show,
    shards=st.integers(2, 4),
    streak_step=st.sampled_from([0, 2]),
    eliminate=st.booleans(),
)
async def test_sharded_show_equals_one_shard(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    rounds: list[list[Answer]],
    shards: int,
    streak_step: int,
    eliminate: bool,
) -> None:
    await _play(
        redis_client, key_prefix, rounds, shards=shards, streak_step=streak_step,
        eliminate=eliminate,
    )  # fmt: skip


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=show, eliminate=st.booleans())
async def test_sharded_show_on_a_cluster_equals_one_shard(
    cluster: redis.asyncio.cluster.RedisCluster,
    key_prefix: str,
    rounds: list[list[Answer]],
    eliminate: bool,
) -> None:
    await _play(cluster, key_prefix, rounds, shards=3, streak_step=2, eliminate=eliminate)


async def test_three_shards_are_on_three_primaries(
    cluster: redis.asyncio.cluster.RedisCluster, key_prefix: str
) -> None:
    """On a cluster whose slots are split evenly, shard i's keys are on primary i."""
    await cluster.initialize()
    places = ContestShards(ContestId("spread"), key_prefix, 3)
    nodes = [cluster.get_node_from_key(k.leaderboard).name for k in places.keys]
    assert len(set(nodes)) == 3
    for shards in (2, 3):
        for i in range(shards):
            width = 16384 / shards
            assert i * width <= key_slot(shard_tag(ContestId("x"), i, shards)) < (i + 1) * width


def test_shard_of_is_stable_and_spread() -> None:
    """Member -> shard is CRC-32 modulo S (the same in every process); members spread."""
    assert shard_of("m1", 1) == 0
    # pinned: a change of the hash would move every member of a running show
    assert [shard_of(m, 3) for m in ["m1", "m2", "ann", "bob", "member-7"]] == [0, 0, 0, 2, 1]
    counts = [0, 0, 0]
    for i in range(3000):
        counts[shard_of(f"member-{i}", 3)] += 1
    assert min(counts) > 900


def test_shard_counts_are_bounded(redis_client: redis.asyncio.Redis) -> None:
    for bad in (0, -1, MAX_SHARDS + 1):
        with pytest.raises(ScoringUsageError):
            LiveScoring(redis_client, ContestId("c"), shards=bad)
        with pytest.raises(ScoringUsageError):
            Leaderboard(redis_client, ContestId("c"), shards=bad)
        with pytest.raises(ScoringUsageError):
            Finalizer(redis_client, ContestId("c"), shards=bad)


async def test_one_shard_keeps_the_contests_keys(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """S = 1: every key is the contest's own, as before sharding existed."""
    live = LiveScoring(redis_client, ContestId("plain"), key_prefix)
    assert [k.base for k in live.shards.keys] == [live.keys.base]
    await live.open_question(QuestionId("q"), index=0, time_ms=60_000, points=10)
    await live.accept(MemberId("ann"), QuestionId("q"), 1.0, "a", choices=["a"])
    await live.close_question(QuestionId("q"))
    keys = sorted(k.decode() for k in await redis_client.keys(f"{key_prefix}:*"))
    assert all(k.startswith(f"{key_prefix}:{{plain}}:") for k in keys), keys
