"""The finalize's raw I/O (scoring.finalize_io) and the read/write path built on it, against
the path it replaced (redis-py's HSCAN, members decoded, HSET and ZADD through redis-py)."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
import redis.asyncio
import redis.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis._parsers.resp2 import _AsyncRESP2Parser

import scoring.finalize
import scoring.finalize_io
from question_bank.ids import ContestId
from scoring.attempts import BestAttempt
from scoring.errors import ScoringError
from scoring.finalize import Finalizer, heads_of, rank_order, true_figure
from scoring.finalize_io import Snapshot
from scoring.leaderboard import Leaderboard
from scoring.redis_server import RedisServer
from tests.test_finalize import best_attempts

C = ContestId("r1")


async def old_path(
    client: redis.asyncio.Redis, f: Finalizer, truth: int | None
) -> tuple[list[tuple[bytes, float]], dict[bytes, bytes]]:
    """The standings as the finalize before the seventh session computed them: redis-py's
    HSCAN into a dict, members decoded to str, ranks by rank_order on str."""
    fields: dict[bytes, bytes] = {}
    cursor = 0
    while True:
        cursor, part = await client.hscan(f.keys.best, cursor, count=f.chunk)
        for m, v in cast(dict[bytes, bytes], part).items():
            fields.setdefault(m, v)
        if cursor == 0:
            break
    members = [m.decode() for m in fields]
    bests = [msgspec.json.decode(v, type=BestAttempt, strict=False) for v in fields.values()]
    order, ranks = rank_order(members, heads_of(bests, truth))
    zset = sorted(
        ((members[i].encode(), float(r)) for i, r in zip(order, ranks, strict=True)),
        key=lambda x: (x[1], x[0]),
    )
    return zset, fields


# ids with 2-, 3- and 4-byte UTF-8 characters: ties are listed in code point order
BESTS = best_attempts("abzé中:1\U0001f600", max_size=40)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    BESTS,
    st.sampled_from(["perfect_scores", None, 4]),
    st.sampled_from([1, 3, 1000]),
    st.booleans(),
)
async def test_the_new_path_stores_what_the_old_one_computed(
    redis_client: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
    best: dict[str, BestAttempt],
    truth: str | int | None,
    chunk: int,
    threaded: bool,
) -> None:
    """Ranks (ties listed by member id, non-ASCII ids included) and the snapshot, with the
    snapshot written from a thread or on a pooled connection."""
    if not threaded:
        monkeypatch.setattr(scoring.finalize_io, "_blocking_twin", lambda client: None)
    await redis_client.flushdb()
    f = Finalizer(redis_client, C, prefix="io", chunk=chunk)
    if best:
        await redis_client.hset(
            f.keys.best, mapping={m: msgspec.json.encode(b) for m, b in best.items()}
        )
    if truth == "perfect_scores":
        info = await f.finalize_window("perfect_scores")
        expected_truth = true_figure(list(best.values()), "perfect_scores", 0)
    elif truth is None:
        info = await f.finalize_window(None)
        expected_truth = None
    else:
        assert isinstance(truth, int)
        info = await f.finalize_window("perfect_scores", truth=truth)
        expected_truth = truth
    assert info.truth == expected_truth and info.ranked == len(best)
    zset, fields = await old_path(redis_client, f, expected_truth)
    stored = await redis_client.zrange(f.keys.final_order, 0, -1, withscores=True)
    assert stored == zset
    assert await redis_client.hgetall(f.keys.final) == fields
    assert not await redis_client.exists(f"{f.keys.final}:tmp", f"{f.keys.final_order}:tmp")


async def test_a_field_read_twice_is_kept_once(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HSCAN may return a field twice (a rehash between calls): the first reading counts."""
    f = Finalizer(redis_client, C, prefix="dup")
    one = msgspec.json.encode(BestAttempt(n=1, score=3, time_used=5))
    two = msgspec.json.encode(BestAttempt(n=2, score=9, time_used=5))
    other = msgspec.json.encode(BestAttempt(n=1, score=1, time_used=5))

    async def chunks(key: str) -> AsyncGenerator[tuple[list[bytes], list[bytes]], None]:
        yield [b"a", b"b"], [one, other]
        yield [b"c", b"a"], [other, two]

    monkeypatch.setattr(f, "_hscan", chunks)
    raw, bests = await f._read_bests()
    assert raw == [b"a", b"b", b"c"]
    assert [b.score for b in bests] == [3, 1, 1]


@pytest.mark.parametrize("threaded", [True, False])
async def test_a_snapshot_error_is_raised(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    if not threaded:
        monkeypatch.setattr(scoring.finalize_io, "_blocking_twin", lambda client: None)
    await redis_client.set("not-a-hash", "x")
    snapshot = Snapshot(redis_client, "not-a-hash")
    snapshot.add([b"m"], [b"v"])
    await snapshot.start()
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await snapshot.wait()
    # the pool is still usable, and an empty snapshot writes nothing
    assert await redis_client.get("not-a-hash") == b"x"
    empty = Snapshot(redis_client, "nothing")
    await empty.start()
    await empty.wait()
    assert not await redis_client.exists("nothing")


async def test_a_finalize_error_in_the_snapshot_is_a_scoring_error(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = Finalizer(redis_client, C, prefix="err")
    best = msgspec.json.encode(BestAttempt(n=1, score=1, time_used=1))
    await redis_client.hset(f.keys.best, "m", best)
    await redis_client.set("wrong", "x")
    monkeypatch.setattr(scoring.finalize, "Snapshot", lambda client, key: Snapshot(client, "wrong"))
    with pytest.raises(ScoringError):
        await f.finalize_window(None)


async def test_the_thread_connects_with_the_clients_socket_password_and_db(
    tmp_path: Path,
) -> None:
    """The snapshot's own connection: a unix socket, a password, database 3."""
    sock = tmp_path / "r.sock"
    extra = {"unixsocket": str(sock), "unixsocketperm": "700"}
    with RedisServer(extra=extra) as server:
        async with redis.asyncio.Redis(host=server.host, port=server.port) as admin:
            await admin.config_set("requirepass", "s3cret")
        client = redis.asyncio.Redis(unix_socket_path=str(sock), password="s3cret", db=3)
        try:
            assert scoring.finalize_io._blocking_twin(client) is not None
            f = Finalizer(client, C, prefix="u")
            b = BestAttempt(n=1, score=2, time_used=3, submitted=4)
            await client.hset(f.keys.best, mapping={"x": msgspec.json.encode(b)})
            info = await f.finalize_window(None)
            assert info.ranked == 1
            assert await client.hgetall(f.keys.final) == {b"x": msgspec.json.encode(b)}
            assert sorted(await client.keys()) == sorted(
                k.encode()
                for k in (f.keys.best, f.keys.final, f.keys.final_order, f.keys.final_info)
            )
        finally:
            await client.aclose()


def test_keys_come_from_the_shards(redis_client: redis.asyncio.Redis) -> None:
    """One source of truth for a contest's keys: those of its shards."""
    f = Finalizer(redis_client, C, prefix="k", shards=3)
    assert f.keys is f.shards.contest
    board = Leaderboard(redis_client, C, "k", shards=3)
    assert board.keys is board.shards.contest


@pytest.mark.parametrize("parser", ["hiredis", "python"])
@pytest.mark.parametrize(("count", "pause"), [(37, 0.0), (37, 0.002), (1500, 0.0)])
async def test_hscan_chunks_reads_every_field_once(
    redis_url: str, parser: str, count: int, pause: float
) -> None:
    """The next HSCAN goes out before a chunk is handed over: with either parser, small
    replies and replies of several reads, a slow consumer or not, and an early stop."""
    kwargs: dict[str, Any] = {} if parser == "hiredis" else {"parser_class": _AsyncRESP2Parser}
    client = redis.asyncio.Redis.from_url(redis_url, **kwargs)
    try:
        fields = {b"f%d" % i: b"v%d-" % i + b"x" * (200 + i % 100) for i in range(6000)}
        await client.hset("h", mapping=fields)  # type: ignore[arg-type]
        got: dict[bytes, bytes] = {}
        async with aclosing(scoring.finalize_io.hscan_chunks(client, "h", count)) as chunks:
            async for members, values in chunks:
                for m, v in zip(members, values, strict=True):
                    assert got.setdefault(m, v) == v
                await asyncio.sleep(pause)
        assert got == fields
        # stopped early: the connection with an HSCAN in flight is not handed back
        async with aclosing(scoring.finalize_io.hscan_chunks(client, "h", 10)) as chunks:
            async for _ in chunks:
                break
        assert await client.hlen("h") == 6000
    finally:
        await client.aclose()
