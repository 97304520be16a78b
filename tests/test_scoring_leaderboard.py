"""Leaderboards and unit aggregates on a real Redis, boards written by the Lua prelude."""

from __future__ import annotations

import json

import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, QuestionId, UnitId
from scoring.keys import ContestKeys, GlobalKeys
from scoring.leaderboard import Leaderboard, composite, split_composite
from scoring.live import LiveScoring
from scoring.profiles import Profile, encode_profile
from scoring.scripts import LUA_DIR
from scoring.units import unit_stats

C = ContestId("lb")

SET_BOARDS = (
    (LUA_DIR / "_lib.lua").read_text()
    + """
local bk = {totals = KEYS[1], times = KEYS[2], lb = KEYS[3], lbp = KEYS[4], lbu = KEYS[5]}
for i = 1, #ARGV, 3 do
  set_board(bk, ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), 'p1', 'u1')
end
return 1
"""
)


async def write_boards(
    client: redis.asyncio.Redis, keys: ContestKeys, rows: list[tuple[str, int, int]]
) -> None:
    """Write (member, score, time) rows through the prelude's set_board (the scripts' path)."""
    args = [x for row in rows for x in row]
    board_keys = [
        keys.totals,
        keys.times,
        keys.leaderboard,
        f"{keys.base}:lb:p:p1",
        f"{keys.base}:lb:u:u1",
    ]
    await client.eval(SET_BOARDS, len(board_keys), *board_keys, *args)


def expected_ranks(rows: list[tuple[str, int, int]]) -> list[tuple[int, str, int, int]]:
    """A plain Python sort: score desc, time asc; rank = 1 + strictly better rows."""
    ordered = sorted(rows, key=lambda r: (-r[1], r[2]))
    return [(1 + sum((o[1], -o[2]) > (r[1], -r[2]) for o in rows), *r) for r in ordered]


def test_composite_round_trip() -> None:
    assert split_composite(composite(12, 345)) == (12, 345)
    assert split_composite(float(composite(2**20 - 1, 2**32 - 1))) == (2**20 - 1, 2**32 - 1)
    assert composite(1, 10**6) > composite(0, 0) > composite(0, 1)


rows_strategy = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 3_600_000)), min_size=1, max_size=40
).map(lambda xs: [(f"m{i}", s, t) for i, (s, t) in enumerate(xs)])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows_strategy, ties=st.booleans(), n=st.integers(1, 50), k=st.integers(0, 5))
async def test_ranking_matches_python_sort(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    rows: list[tuple[str, int, int]],
    ties: bool,
    n: int,
    k: int,
) -> None:
    if ties:  # force many equal (score, time) pairs
        rows = [(m, s % 3, t % 2) for m, s, t in rows]
    contest = ContestId(f"h{abs(hash(tuple(rows))) % 10**9}-{n}-{k}")
    keys = ContestKeys(contest, key_prefix)
    await redis_client.delete(
        keys.totals, keys.times, keys.leaderboard, f"{keys.base}:lb:p:p1", f"{keys.base}:lb:u:u1"
    )
    await write_boards(redis_client, keys, rows)
    board = Leaderboard(redis_client, contest, key_prefix)
    expected = expected_ranks(rows)
    rank_of = {m: r for r, m, _, _ in expected}

    top = await board.top(n)
    assert [(s.rank, s.score, s.time_used) for s in top] == [
        (r, sc, t) for r, _, sc, t in expected[:n]
    ]
    for member, score, used in rows:
        mine = await board.rank(MemberId(member))
        assert mine is not None
        assert (mine.rank, mine.score, mine.time_used) == (rank_of[member], score, used)
    member = rows[len(rows) // 2][0]
    window = await board.around(MemberId(member), k)
    assert member in [s.member for s in window]
    assert all(s.rank == rank_of[s.member] for s in window)
    ordered_ranks = [s.rank for s in window]
    assert ordered_ranks == sorted(ordered_ranks)
    assert len(window) <= 2 * k + 1
    unit_top = await board.top(n, unit="u1")
    assert [s.rank for s in unit_top] == [r for r, *_ in expected[:n]]
    # many members at once (board_ranks.lua), in chunks smaller than the list, with a
    # member who is not on the board
    asked = [m for m, _, _ in rows] + ["nobody"]
    size, many = await board.ranks(asked, chunk=max(1, len(asked) // 3))
    assert size == len(rows)
    assert many == [(rank_of[m], sc, t) for m, sc, t in rows] + [None]


async def test_shared_ranks_and_profiles(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    keys = ContestKeys(C, key_prefix)
    await write_boards(
        redis_client,
        keys,
        [("a", 10, 100), ("b", 8, 50), ("c", 8, 50), ("d", 8, 60), ("e", 0, 0)],
    )
    await redis_client.hset(
        keys.profiles, "b", encode_profile(Profile(name="Bình", province="hn", unit="u1"))
    )
    await redis_client.hset(keys.profiles, "c", b"not json")
    board = Leaderboard(redis_client, C, key_prefix)
    top = await board.top(10)
    assert [(s.member, s.rank) for s in top] == [
        ("a", 1),
        ("b", 2),
        ("c", 2),
        ("d", 4),
        ("e", 5),
    ] or [(s.member, s.rank) for s in top] == [
        ("a", 1),
        ("c", 2),
        ("b", 2),
        ("d", 4),
        ("e", 5),
    ]
    b = await board.rank(MemberId("b"))
    assert b is not None and (b.name, b.province, b.unit, b.rank) == ("Bình", "hn", "u1", 2)
    c = await board.rank(MemberId("c"))
    assert c is not None and c.name == ""  # a corrupt profile hides nothing
    assert await board.rank(MemberId("zz")) is None
    assert await board.around(MemberId("zz"), 3) == []
    around_d = await board.around(MemberId("d"), 1)
    assert [(s.rank, s.member) for s in around_d][1:] == [(4, "d"), (5, "e")]
    assert around_d[0].rank == 2
    assert await board.top(0) == []
    assert await board.size() == 5
    assert await board.size(province="p1") == 5
    assert await board.size(province="elsewhere") == 0


async def test_live_answers_fill_province_and_unit_boards_and_units(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    q = QuestionId("q1")
    await live.open_question(q, index=1, time_ms=10_000, points=10, speed=False)
    members = [("a", "hn", "u1", 1.0), ("b", "hn", "u2", 0.5), ("c", "hcm", "u3", 1.0)]
    for m, p, u, f in members:
        assert (await live.accept(MemberId(m), q, f, province=p, unit=u)).accepted
    await live.accept(MemberId("d"), q, 1.0)  # no province/unit: global board only
    await live.close_question(q)  # the boards are written when the question closes
    board = Leaderboard(redis_client, C, key_prefix)
    assert [s.member for s in await board.top(10, province="hn")] == ["a", "b"]
    assert [s.member for s in await board.top(10, unit="u3")] == ["c"]
    assert await board.size() == 4

    units_key = GlobalKeys(key_prefix).units
    await redis_client.hset(
        units_key,
        mapping={
            "u1": json.dumps({"name": "Unit one", "province": "hn", "members": 4}),
            "u2": "garbage",
            "u9": json.dumps({"name": "Nobody came", "province": "dn", "members": "7"}),
        },
    )
    await redis_client.hset(live.keys.unit_completed, "u1", 1)
    stats = {s.unit: s for s in await unit_stats(redis_client, C, prefix=key_prefix)}
    assert set(stats) == {"u1", "u2", "u3", "u9"}
    assert (stats["u1"].participants, stats["u1"].completed, stats["u1"].registered) == (1, 1, 4)
    assert stats["u1"].participation_rate == 0.25 and stats["u1"].name == "Unit one"
    assert (stats["u2"].participants, stats["u2"].registered) == (1, 0)
    assert stats["u2"].participation_rate is None
    assert (stats["u9"].participants, stats["u9"].registered) == (0, 7)
    some = await unit_stats(redis_client, C, prefix=key_prefix, units=[UnitId("u3"), UnitId("u1")])
    assert [(s.unit, s.participants) for s in some] == [("u1", 1), ("u3", 1)]
    assert await unit_stats(redis_client, C, prefix=key_prefix, units=[]) == []


async def test_window_profiles_decoded_together_survive_a_bad_one(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """A window's profiles are decoded in one call; one bad profile (not JSON, or JSON of
    the wrong shape) or none falls back to one at a time: the others keep their names, and
    big composites (score 100,000, time 599,999 ms) come back exact."""
    keys = ContestKeys(C, key_prefix)
    rows = [(f"m{i}", 100_000 - i, 599_999 - i) for i in range(6)]
    await write_boards(redis_client, keys, rows)
    for m, _, _ in rows:
        await redis_client.hset(keys.profiles, m, encode_profile(Profile(name=f"N {m}")))
    board = Leaderboard(redis_client, C, key_prefix)
    good = await board.top(6)
    assert [(s.member, s.name, s.score, s.time_used) for s in good] == [
        (m, f"N {m}", sc, t) for m, sc, t in rows
    ]
    await redis_client.hset(keys.profiles, "m1", b"not json")
    await redis_client.hset(keys.profiles, "m3", b"[1, 2]")
    await redis_client.hdel(keys.profiles, "m4")
    names = [s.name for s in await board.top(6)]
    assert names == ["N m0", "", "N m2", "", "", "N m5"]
    around = await board.around(MemberId("m3"), 1)
    assert [(s.member, s.name, s.rank) for s in around] == [
        ("m2", "N m2", 3),
        ("m3", "", 4),
        ("m4", "", 5),
    ]
