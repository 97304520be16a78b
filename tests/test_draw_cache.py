"""The cached draw path (one Drawer / MemberDraws per contest and bank version, reused for
every member) makes exactly the draws of the uncached one (a fresh ``draw`` per member),
and the lazy random order is the eager Fisher-Yates it replaced, number for number."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.contest import Contest, WindowTiming
from engine.window.draws import MemberDraws
from question_bank.draws import Drawer, DrawRules, _random_order, draw, draw_seed
from question_bank.errors import DrawImpossible
from question_bank.ids import BankId, ContestId, MemberId, OrgId
from question_bank.models import Bank, MultipleChoice, SingleChoice
from tests.test_draws import rules_strategy, small_banks

MANY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def eager_order(rng: random.Random, n: int) -> list[int]:
    """The random order as the draw made it before the cache (a whole list up front)."""
    order = list(range(n))
    out = []
    for i in range(n):
        j = rng.randrange(i, n)
        order[i], order[j] = order[j], order[i]
        out.append(order[i])
    return out


@MANY
@given(seed=st.integers(0, 2**64), n=st.integers(0, 300), take=st.integers(0, 300))
def test_lazy_order_is_the_eager_fisher_yates(seed: int, n: int, take: int) -> None:
    lazy_rng, eager_rng = random.Random(seed), random.Random(seed)
    lazy = _random_order(lazy_rng, n)
    got = [next(lazy) for _ in range(min(take, n))]
    assert got == eager_order(eager_rng, n)[: len(got)]


def contest_of(bank: Bank, rules: DrawRules) -> Contest:
    return Contest(
        id=ContestId("c"),
        org=OrgId("o"),
        title="t",
        mode="window",
        bank=BankId(bank.id),
        bank_version=1,
        draw=rules,
        state="open",
        window=WindowTiming(opens_at=0, closes_at=1),
    )


@MANY
@given(
    bank=small_banks(),
    rules=rules_strategy,
    members=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=25),
    number=st.integers(1, 5),
)
def test_cached_draws_are_the_uncached_draws(
    bank: Bank, rules: DrawRules, members: list[str], number: int
) -> None:
    drawer = Drawer(bank, rules)
    cached = MemberDraws(contest_of(bank, rules), bank)
    by_id = {q.id: q for q in bank.questions}
    for member in members:
        seed = draw_seed("c", member, number)
        try:
            fresh = draw(bank, rules, seed=seed)
        except DrawImpossible:
            assert drawer.shortfalls
            continue
        assert drawer.draw(seed) == fresh
        got = cached.draw(MemberId(member), number)
        assert [(d.id, d.options, d.points) for d in got] == [
            (d.id, list(d.options), by_id[d.id].points) for d in fresh
        ]
        for d in got:
            question = by_id[d.id]
            if isinstance(question, SingleChoice | MultipleChoice):
                assert sorted(d.options) == sorted(o.id for o in question.options)
