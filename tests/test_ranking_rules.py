"""The organisers' ranking rules of a window round (docs/scoring.md, "Ranking rules"):
which attempt counts (best / last / first) and the further tie-break keys
(earliest_start, fewest_attempts). Pure properties, then a round on a real redis-server."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from engine.core.contest import Contest, ContestSpec, WindowRanking, check_spec
from engine.window.runner import WindowRunner
from question_bank.draws import DrawRules
from question_bank.ids import BankId, ContestId, MemberId, OrgId
from scoring.attempts import Attempts, BestAttempt
from scoring.finalize import Finalizer
from scoring.ranking import (
    AttemptFigures,
    Counts,
    Entry,
    TieBreak,
    attempts_to_reach,
    counted_attempt,
    entry_from,
    entry_of,
    extend_heads,
    group_ties,
    head_key,
    heads_of,
    rank_entries,
    rank_order,
)
from scoring.window import WindowScoring
from tests.test_finalize import DRAW, PROFILE, wait_past

INF = float("inf")
KEYS: list[TieBreak] = ["earliest_start", "fewest_attempts"]
CHAINS: list[tuple[TieBreak, ...]] = [c for r in range(3) for c in itertools.permutations(KEYS, r)]


def plain_chain(e: Entry, truth: int | None, tie_break: tuple[TieBreak, ...]) -> tuple[Any, ...]:
    """The chain as a plain tuple (the reference the packed ints must agree with)."""
    if truth is None:
        dist: float = 0
    else:
        dist = INF if e.prediction is None else abs(e.prediction - truth)
    extra = [(e.started if key == "earliest_start" else e.reached) or INF for key in tie_break]
    return (-e.score, dist, e.time_used, e.submitted or INF, *extra)


ENTRIES = st.lists(
    st.builds(
        Entry,
        member=st.text(alphabet="abc", min_size=1, max_size=3),
        score=st.integers(0, 3),
        time_used=st.integers(0, 3),
        prediction=st.one_of(st.none(), st.integers(0, 5)),
        submitted=st.one_of(st.just(0), st.integers(1, 3)),
        started=st.one_of(st.just(0), st.integers(1, 3)),
        reached=st.one_of(st.just(0), st.integers(1, 3)),
    ),
    max_size=12,
    unique_by=lambda e: e.member,
)
TRUTH = st.one_of(st.none(), st.integers(0, 5))


@given(ENTRIES, TRUTH, st.sampled_from(CHAINS))
def test_the_chain_is_a_total_order_agreeing_with_the_plain_tuple(
    entries: list[Entry], truth: int | None, chain: tuple[TieBreak, ...]
) -> None:
    heads = extend_heads(heads_of(entries, truth), entries, chain)
    for (a, ha), (b, hb) in itertools.product(zip(entries, heads, strict=True), repeat=2):
        ta, tb = plain_chain(a, truth, chain), plain_chain(b, truth, chain)
        # Exactly one of <, ==, > holds, and the same one as for the plain tuples.
        assert (ha < hb, ha == hb, ha > hb) == (ta < tb, ta == tb, ta > tb)
    ranked = rank_entries(entries, truth, chain)
    for (a, ra), (b, rb) in itertools.pairwise(ranked):
        ta, tb = plain_chain(a, truth, chain), plain_chain(b, truth, chain)
        assert ta < tb and ra < rb or ta == tb and ra == rb and a.member < b.member


@given(ENTRIES, TRUTH, st.sampled_from(CHAINS), st.sampled_from(KEYS))
def test_adding_a_key_only_reorders_ties_of_the_previous_chain(
    entries: list[Entry], truth: int | None, chain: tuple[TieBreak, ...], key: TieBreak
) -> None:
    if key in chain:
        return
    before = {e.member: r for e, r in rank_entries(entries, truth, chain)}
    after = rank_entries(entries, truth, (*chain, key))
    ties = {r: sum(1 for x in before.values() if x == r) for r in before.values()}
    position = {e.member: i for i, (e, _) in enumerate(after)}
    for e, r in after:
        # Still within the group it tied with: never above it, never below it.
        assert before[e.member] <= r < before[e.member] + ties[before[e.member]]
    for a, b in itertools.product(entries, repeat=2):
        if before[a.member] < before[b.member]:
            assert position[a.member] < position[b.member]


T = 10  # attempt duration in the generated rounds


@st.composite
def member_attempts(draw: st.DrawFn) -> list[AttemptFigures]:
    """A member's attempts as the scripts make them: one after another (attempt n + 1
    starts once n has closed), each submitted within its time or expired at T (time
    used T, never submitted); the same prediction on every attempt."""
    prediction = draw(st.one_of(st.none(), st.integers(0, 5)))
    at = draw(st.integers(1, 20))
    out: list[AttemptFigures] = []
    for n in range(1, draw(st.integers(1, 4)) + 1):
        expired = draw(st.booleans())
        used = T if expired else draw(st.integers(0, T - 1))
        out.append(
            AttemptFigures(
                n=n,
                score=draw(st.integers(0, 3)),
                time_used=used,
                started=at,
                submitted=0 if expired else at + used,
                prediction=prediction,
            )
        )
        at += used + draw(st.integers(0, 5))
    return out


@given(member_attempts())
def test_last_and_first_and_best_pick_the_right_attempt(attempts: list[AttemptFigures]) -> None:
    last, first = counted_attempt(attempts, "last"), counted_attempt(attempts, "first")
    assert last is attempts[-1] and first is attempts[0]
    best = counted_attempt(attempts, "best")
    assert best is not None
    top = max(a.score for a in attempts)
    fastest = min(a.time_used for a in attempts if a.score == top)
    assert (best.score, best.time_used) == (top, fastest)
    assert best.n == min(a.n for a in attempts if (a.score, a.time_used) == (top, fastest))
    for counts in ("best", "last", "first"):
        e = entry_of("m", attempts, counts)
        chosen = counted_attempt(attempts, counts)
        assert e is not None and chosen is not None
        assert (e.attempt, e.score, e.started) == (chosen.n, chosen.score, chosen.started)
        reached = attempts[e.reached - 1]
        assert reached.score >= e.score
        assert all(a.score < e.score for a in attempts[: e.reached - 1])
    assert counted_attempt([], "best") is None and attempts_to_reach(attempts, 99) == 0


@given(
    member_attempts(),
    st.lists(member_attempts(), max_size=6),
    TRUTH,
    st.sampled_from(CHAINS),
)
def test_best_never_ranks_a_member_below_any_one_of_their_attempts(
    mine: list[AttemptFigures],
    others: list[list[AttemptFigures]],
    truth: int | None,
    chain: tuple[TieBreak, ...],
) -> None:
    rest = [e for i, o in enumerate(others) if (e := entry_of(f"o{i}", o, "best")) is not None]

    def rank_of(me: Entry) -> int:
        return {e.member: r for e, r in rank_entries([*rest, me], truth, chain)}["me"]

    def as_if_counted(a: AttemptFigures) -> Entry:
        """Attempt a counted: its figures, its start, the attempts taken to reach its score."""
        return entry_from("me", a, started=a.started, reached=attempts_to_reach(mine, a.score))

    best = entry_of("me", mine, "best")
    assert best is not None
    assert all(rank_of(best) <= rank_of(as_if_counted(a)) for a in mine)
    # Whoever else takes part: the best's key is never behind any attempt's.
    candidates = [best, *map(as_if_counted, mine)]
    keys = extend_heads(heads_of(candidates, truth), candidates, chain)
    assert all(keys[0] <= k for k in keys[1:])


# --------------------------------------------------------------------- the definition


def window_spec(**ranking: Any) -> ContestSpec:
    return msgspec.convert(
        {
            "title": "t",
            "mode": "window",
            "bank": "b",
            "draw": {"count": 1},
            "window": {"opens_at": 1, "closes_at": 2, "ranking": ranking},
        },
        ContestSpec,
    )


def test_old_definitions_decode_with_todays_rule() -> None:
    old = b'{"opens_at": 1, "closes_at": 2, "attempts_allowed": 3}'
    spec = msgspec.json.decode(
        b'{"title": "t", "mode": "window", "bank": "b", "draw": {"count": 1}, "window": '
        + old
        + b"}",
        type=ContestSpec,
    )
    assert spec.window is not None and spec.window.ranking == WindowRanking()
    assert (spec.window.ranking.counts, spec.window.ranking.tie_break) == ("best", [])


def test_a_key_listed_twice_is_a_located_problem() -> None:
    spec = window_spec(counts="last", tie_break=["fewest_attempts", "fewest_attempts"])
    problems = check_spec(spec, None, now_ms=0)
    assert {
        "field": "window.ranking.tie_break[1]",
        "message": "'fewest_attempts' is listed twice",
    } in problems
    ok = window_spec(counts="first", tie_break=["fewest_attempts", "earliest_start"])
    assert not [p for p in check_spec(ok, None, now_ms=0) if "ranking" in p["field"]]
    with pytest.raises(msgspec.ValidationError, match=r"window.ranking.counts"):
        window_spec(counts="worst")
    with pytest.raises(msgspec.ValidationError, match=r"window.ranking.tie_break\[0\]"):
        window_spec(tie_break=["alphabetical"])


# --------------------------------------------------------------------- a real round

C = ContestId("rk")
DURATION = 2_000  # ms: every attempt expires, so time used is exactly this and never submitted
# Right answers (10 points each) of each member's attempts 1, 2, 3.
SCORES = {"ann": [1, 3, 2], "bob": [2, 3, 3], "cat": [3, 1, 1]}
# Who starts first in each round of attempts (ann before bob in round 2: earliest_start).
START_ORDER = [["cat", "ann", "bob"], ["ann", "bob", "cat"], ["bob", "cat", "ann"]]


async def play_round(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    """Three members, three attempts each, every attempt left to expire at its deadline."""
    att = Attempts(redis_client, C, prefix=key_prefix)
    win = WindowScoring(redis_client, C, key_prefix, scripts=att.scripts)
    for n, order in enumerate(START_ORDER, start=1):
        deadline = 0
        for member in order:
            out = await att.start(
                MemberId(member), PROFILE, DRAW, duration_ms=DURATION, attempts_allowed=3
            )
            assert out.status == "started" and out.attempt is not None
            assert out.attempt.number == n
            for i, q in enumerate(DRAW):
                fraction = 1.0 if i < SCORES[member][n - 1] else 0.0
                ok = await win.answer(MemberId(member), n, q.id, fraction, unit="u1")
                assert ok.accepted
            await wait_past(redis_client, out.attempt.started)  # the next starts later
            deadline = out.attempt.deadline
        await wait_past(redis_client, deadline)
    assert await att.expire_due() == 3


RULES: list[tuple[Counts, list[TieBreak], list[tuple[str, int, int, int]]]] = [
    # (counts, tie_break, [(member, rank, score, counted attempt)]), worked by hand:
    # best: 30 each (ann and bob at attempt 2, cat at 1), all expired (time used 2000,
    # never submitted): one three-way tie, listed by member id.
    ("best", [], [("ann", 1, 30, 2), ("bob", 1, 30, 2), ("cat", 1, 30, 1)]),
    # The counted attempts' starts: cat's attempt 1 (round 1), then ann's and bob's
    # attempts 2, ann starting first in round 2.
    ("best", ["earliest_start"], [("cat", 1, 30, 1), ("ann", 2, 30, 2), ("bob", 3, 30, 2)]),
    # Attempts to first reach 30: cat 1, ann 2, bob 2 (bob's 20 first): ann and bob tie.
    ("best", ["fewest_attempts"], [("cat", 1, 30, 1), ("ann", 2, 30, 2), ("bob", 2, 30, 2)]),
    (
        "best",
        ["fewest_attempts", "earliest_start"],
        [("cat", 1, 30, 1), ("ann", 2, 30, 2), ("bob", 3, 30, 2)],
    ),
    # last: ann 20, bob 30, cat 10.
    ("last", [], [("bob", 1, 30, 3), ("ann", 2, 20, 3), ("cat", 3, 10, 3)]),
    # first: ann 10, bob 20, cat 30.
    ("first", [], [("cat", 1, 30, 1), ("bob", 2, 20, 1), ("ann", 3, 10, 1)]),
    # Each member's first counted attempt: distinct scores, so the keys change nothing.
    (
        "first",
        ["earliest_start", "fewest_attempts"],
        [("cat", 1, 30, 1), ("bob", 2, 20, 1), ("ann", 3, 10, 1)],
    ),
]


async def test_three_members_ranked_under_each_rule(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await play_round(redis_client, key_prefix)
    f = Finalizer(redis_client, C, prefix=key_prefix)
    for counts, tie_break, expected in RULES:
        info = await f.finalize_window(None, counts=counts, tie_break=tie_break)
        assert info.ranked == 3
        got = [(m, s.rank, s.score, s.attempt) for m, s in await f.standings()]
        assert got == expected, (counts, tie_break)
        assert all(s.time_used == DURATION and s.submitted == 0 for _, s in await f.standings())
    # The default path (P:{C}:best) and the every-attempt path agree on today's rule.
    await f.finalize_window(None)
    assert [(m, s.rank, s.attempt) for m, s in await f.standings()] == [
        ("ann", 1, 2),
        ("bob", 1, 2),
        ("cat", 1, 1),
    ]


async def test_the_window_runner_ranks_by_the_contests_rule(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await play_round(redis_client, key_prefix)
    spec = window_spec(counts="last", tie_break=["earliest_start"])
    assert spec.window is not None
    contest = Contest(
        id=C,
        org=OrgId("o"),
        title="t",
        mode="window",
        bank=BankId("b"),
        bank_version=1,
        draw=DrawRules(count=1),
        window=spec.window,
        state="closed",
    )

    async def no_bank(_: Contest) -> Any:
        raise AssertionError("no prediction question: the bank is not read")

    await WindowRunner(redis_client, key_prefix).final_standings(contest, no_bank)
    f = Finalizer(redis_client, C, prefix=key_prefix)
    assert [(m, s.rank, s.score) for m, s in await f.standings()] == [
        ("bob", 1, 30),
        ("ann", 2, 20),
        ("cat", 3, 10),
    ]


WIDE = st.integers(-(2**44), 2**44)
WIDE_ENTRIES = st.lists(
    st.builds(
        Entry,
        member=st.text(alphabet="abc", min_size=1, max_size=3),
        score=st.one_of(st.integers(0, 3), WIDE),
        time_used=st.one_of(st.integers(0, 3), WIDE),
        prediction=st.one_of(st.none(), st.integers(0, 5), WIDE),
        submitted=st.one_of(st.just(0), st.integers(1, 3), WIDE),
    ),
    max_size=12,
)


@given(WIDE_ENTRIES, st.one_of(st.none(), st.integers(0, 5), WIDE))
def test_heads_of_equals_head_key_of_each(entries: list[Entry], truth: int | None) -> None:
    """The batch packing (one pass per figure, then a fast path when every figure is in
    range) gives each entry exactly the key the one-entry definition gives."""
    expected = [head_key(e.score, e.prediction, truth, e.time_used, e.submitted) for e in entries]
    assert heads_of(entries, truth) == expected


async def test_finalize_writes_plain_ranks_over_chunks(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Ranks are written zero-padded to one width (``007``) with the members as HSCAN gave
    them: Redis stores the plain rank, in the order rank_entries gives."""
    f = Finalizer(redis_client, ContestId("padded"), prefix=key_prefix, chunk=7)
    bests = {
        f"m{i}": BestAttempt(n=1, score=i % 9, time_used=i % 4, submitted=1000 + i % 3, nq=1)
        for i in range(150)
    }
    await redis_client.hset(
        f.keys.best, mapping={m: msgspec.json.encode(b) for m, b in bests.items()}
    )
    await f.finalize_window(None)
    got = await redis_client.zrange(f.keys.final_order, 0, -1, withscores=True)
    entries = [entry_from(m, b) for m, b in bests.items()]
    want = [(e.member.encode(), float(r)) for e, r in rank_entries(entries, None)]
    assert got == want
    assert float(got[-1][1]) >= 100  # three digits: the padding was used
    assert await redis_client.hlen(f.keys.final) == 150


def rank_order_before(members: list[str], heads: list[int]) -> tuple[list[int], list[int]]:
    """rank_order as it was until the sixth session (the index in the low bits of one int
    per member, ties found by XOR of neighbours): the reference the new one must equal."""
    n = len(members)
    bits = max(1, n.bit_length())
    mask = (1 << bits) - 1
    keyed = sorted((h << bits) | i for i, h in enumerate(heads))
    order = [k & mask for k in keyed]
    ranks = list(range(1, n + 1))
    ties = [p for p in range(1, n) if keyed[p] ^ keyed[p - 1] <= mask]
    group_ties(members, order, ranks, ties)  # unchanged: shared with rank_order
    return order, ranks


@given(
    st.lists(
        st.tuples(st.text(alphabet="abcé", min_size=1, max_size=3), st.integers(0, 2**160)),
        max_size=30,
    ),
    st.integers(0, 4),
)
def test_rank_order_equals_the_one_before(rows: list[tuple[str, int]], spread: int) -> None:
    """On random members and heads (few distinct heads: many ties; or wide ones), the
    rank_order of the sixth session gives the order and ranks the one before gave."""
    members = [m for m, _ in rows]
    heads = [h % (spread + 1) if spread else h for _, h in rows]
    assert rank_order(members, heads) == rank_order_before(members, heads)
