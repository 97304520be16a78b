"""Draws: quotas met, no repeats, reproducible, options permuted, uniform enough, exact checks."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.draws import (
    Drawer,
    DrawnQuestion,
    DrawRules,
    Quota,
    check_rules,
    draw,
    draw_seed,
)
from question_bank.errors import DrawImpossible
from question_bank.ids import BankId, OptionId, QuestionId, TopicId
from question_bank.models import (
    DIFFICULTIES,
    Bank,
    MultipleChoice,
    Option,
    Prediction,
    Question,
    SingleChoice,
    TrueFalse,
)
from tests.strategies import banks

TOPICS = (None, "lich-su", "dia-ly", "khoa-hoc")
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def choice(qid: str, topic: str | None, difficulty: str, n_options: int = 4) -> SingleChoice:
    options = [
        Option(id=OptionId(chr(97 + i)), text=f"đáp án {i}", weight=1.0 if i == 0 else 0.0)
        for i in range(n_options)
    ]
    return SingleChoice(
        id=QuestionId(qid),
        text=f"Câu hỏi {qid}",
        topic=TopicId(topic) if topic else None,
        difficulty=difficulty,  # type: ignore[arg-type]
        options=options,
    )


@st.composite
def small_banks(draw_: st.DrawFn, max_size: int = 9) -> Bank:
    cells = draw_(
        st.lists(
            st.tuples(st.sampled_from(TOPICS), st.sampled_from(DIFFICULTIES), st.integers(0, 2)),
            min_size=1,
            max_size=max_size,
        )
    )
    questions: list[Question] = []
    for i, (topic, difficulty, kind) in enumerate(cells):
        if kind == 0:
            questions.append(choice(f"q{i}", topic, difficulty, 2 + i % 4))
        elif kind == 1:
            questions.append(
                TrueFalse(id=QuestionId(f"q{i}"), text="Đúng?", answer=True, topic=topic)  # type: ignore[arg-type]
            )
        else:
            questions.append(Prediction(id=QuestionId(f"q{i}"), text="Bao nhiêu?", topic=topic))  # type: ignore[arg-type]
    return Bank(id=BankId("b"), title="B", questions=questions)


quotas = st.builds(
    Quota,
    topic=st.sampled_from(TOPICS),
    difficulty=st.none() | st.sampled_from(DIFFICULTIES),
    count=st.integers(1, 4),
)
rules_strategy = st.builds(
    DrawRules,
    count=st.integers(1, 8),
    quotas=st.lists(quotas, max_size=4),
    kinds=st.sampled_from([[], ["single"], ["single", "true_false"], ["prediction", "single"]]),
    shuffle_options=st.booleans(),
    exclude_prediction=st.booleans(),
    shuffle_questions=st.booleans(),
)


def pool_of(bank: Bank, rules: DrawRules) -> list[Question]:
    return [
        q
        for q in bank.questions
        if (not rules.kinds or q.__struct_config__.tag in rules.kinds)
        and not (rules.exclude_prediction and isinstance(q, Prediction))
    ]


def meets(questions: list[Question], rules: DrawRules) -> bool:
    return all(
        sum(1 for q in questions if quota.matches(q)) >= quota.count for quota in rules.quotas
    )


@FAST
@given(bank=small_banks(), rules=rules_strategy, seed=st.text(max_size=10))
def test_draw_properties(bank: Bank, rules: DrawRules, seed: str) -> None:
    shortfalls = check_rules(bank, rules)
    if shortfalls:
        with pytest.raises(DrawImpossible) as caught:
            draw(bank, rules, seed=seed)
        assert caught.value.shortfalls == shortfalls
        return
    drawn = draw(bank, rules, seed=seed)
    by_id = {q.id: q for q in pool_of(bank, rules)}
    ids = [d.id for d in drawn]
    assert len(ids) == rules.count == len(set(ids))  # the count, no question twice
    assert set(ids) <= set(by_id)  # only allowed kinds, no prediction unless allowed
    assert meets([by_id[i] for i in ids], rules)
    for item in drawn:
        question = by_id[item.id]
        if isinstance(question, SingleChoice | MultipleChoice):
            option_ids = [o.id for o in question.options]
            assert sorted(item.options) == sorted(option_ids)
            if not rules.shuffle_options:
                assert item.options == option_ids
        else:
            assert item.options == []
    if not rules.shuffle_questions:
        order = list(by_id)
        assert ids == sorted(ids, key=order.index)
    assert draw(bank, rules, seed=seed) == drawn  # reproducible


@FAST
@given(bank=small_banks(max_size=8), rules=rules_strategy)
def test_check_rules_is_exact(bank: Bank, rules: DrawRules) -> None:
    """check_rules says yes exactly when some set of count questions meets every quota."""
    pool = pool_of(bank, rules)
    possible = any(
        meets(list(subset), rules) for subset in itertools.combinations(pool, rules.count)
    )
    assert (check_rules(bank, rules) == []) is possible


@settings(FAST, max_examples=30)
@given(bank=banks(max_questions=6), seed=st.text(max_size=5))
def test_any_valid_bank_draws(bank: Bank, seed: str) -> None:
    rules = DrawRules(count=1, exclude_prediction=False)
    (item,) = draw(bank, rules, seed=seed)
    assert item.id in {q.id for q in bank.questions}


def chi_square(counts: Counter[str], expected: float, keys: Sequence[str]) -> float:
    return sum((counts[k] - expected) ** 2 / expected for k in keys)


# Seeds are fixed, so these tests are deterministic; the bounds are still chosen loose enough
# (p < 1e-6 for a fair draw) that any change of seeds would not make them fail.


def test_uniform_without_quotas() -> None:
    bank = Bank(
        id=BankId("b"),
        title="B",
        questions=[choice(f"q{i}", TOPICS[i % 4], DIFFICULTIES[i % 3]) for i in range(12)],
    )
    rules = DrawRules(count=4)
    picked: Counter[str] = Counter()
    first_option: Counter[str] = Counter()
    first_question: Counter[str] = Counter()
    runs = 3000
    for n in range(runs):
        drawn = draw(bank, rules, seed=draw_seed("c", f"m{n}", 1))
        picked.update(d.id for d in drawn)
        first_option[drawn[0].options[0]] += 1
        first_question[drawn[0].id] += 1
    ids = [q.id for q in bank.questions]
    assert chi_square(picked, runs * 4 / 12, ids) < 50  # 11 degrees of freedom
    assert chi_square(first_question, runs / 12, ids) < 50
    assert chi_square(first_option, runs / 4, list("abcd")) < 35  # 3 degrees of freedom


def test_uniform_within_quotas() -> None:
    # 6 hard lich-su, 6 easy lich-su, 6 hard dia-ly: 2 hard and 3 lich-su out of 4
    questions: list[Question] = [choice(f"h{i}", "lich-su", "hard") for i in range(6)]
    questions += [choice(f"e{i}", "lich-su", "easy") for i in range(6)]
    questions += [choice(f"d{i}", "dia-ly", "hard") for i in range(6)]
    bank = Bank(id=BankId("b"), title="B", questions=questions)
    rules = DrawRules(
        count=4,
        quotas=[Quota(topic=TopicId("lich-su"), count=3), Quota(difficulty="hard", count=2)],
    )
    picked: Counter[str] = Counter()
    runs = 2000
    for n in range(runs):
        drawn = draw(bank, rules, seed=f"seed-{n}")
        chosen = [q for q in questions if q.id in {d.id for d in drawn}]
        assert meets(chosen, rules)
        picked.update(d.id for d in drawn)
    for prefix in "hed":  # each cell: its questions equally likely
        cell = [q.id for q in questions if q.id.startswith(prefix)]
        mean = sum(picked[k] for k in cell) / len(cell)
        assert mean > 0
        assert chi_square(picked, mean, cell) < 40  # 5 degrees of freedom


def test_draw_impossible_names_every_shortfall() -> None:
    questions: list[Question] = [choice(f"h{i}", "lich-su", "hard") for i in range(3)]
    questions += [choice(f"m{i}", "dia-ly", "medium") for i in range(4)]
    bank = Bank(id=BankId("b"), title="B", questions=questions)
    rules = DrawRules(
        count=10,
        quotas=[
            Quota(topic=TopicId("lich-su"), difficulty="hard", count=5),
            Quota(topic=TopicId("dia-ly"), count=2),
            Quota(difficulty="easy", count=1),
        ],
    )
    with pytest.raises(DrawImpossible) as caught:
        draw(bank, rules, seed="x")
    assert caught.value.shortfalls == [
        "count: needs 10, bank has 7 (short by 3)",
        "topic=lich-su difficulty=hard: needs 5, bank has 3 (short by 2)",
        "difficulty=easy: needs 1, bank has 0 (short by 1)",
    ]
    assert "topic=lich-su difficulty=hard: needs 5, bank has 3 (short by 2)" in str(caught.value)


def test_quotas_that_need_more_than_count() -> None:
    bank = Bank(
        id=BankId("b"),
        title="B",
        questions=[choice(f"q{i}", TOPICS[1 + i % 2], "easy") for i in range(20)],
    )
    rules = DrawRules(
        count=5,
        quotas=[Quota(topic=TopicId("lich-su"), count=3), Quota(topic=TopicId("dia-ly"), count=3)],
    )
    assert check_rules(bank, rules) == [
        "quotas together: need at least 6 questions, but count is 5 (short by 1)"
    ]


def test_overlapping_quotas_share_questions() -> None:
    # only hard lich-su questions can meet both quotas within 3 questions
    questions: list[Question] = [choice(f"h{i}", "lich-su", "hard") for i in range(3)]
    questions += [choice(f"e{i}", "lich-su", "easy") for i in range(10)]
    questions += [choice(f"d{i}", "dia-ly", "hard") for i in range(10)]
    bank = Bank(id=BankId("b"), title="B", questions=questions)
    rules = DrawRules(
        count=3,
        quotas=[Quota(topic=TopicId("lich-su"), count=3), Quota(difficulty="hard", count=3)],
    )
    for n in range(50):
        assert {d.id for d in draw(bank, rules, seed=str(n))} == {"h0", "h1", "h2"}


def test_kinds_and_prediction() -> None:
    questions: list[Question] = [
        choice("c", None, "easy"),
        TrueFalse(id=QuestionId("t"), text="Đúng?", answer=False),
        Prediction(id=QuestionId("p"), text="Bao nhiêu?"),
    ]
    bank = Bank(id=BankId("b"), title="B", questions=questions)
    assert check_rules(bank, DrawRules(count=3)) == ["count: needs 3, bank has 2 (short by 1)"]
    everything = DrawRules(count=3, exclude_prediction=False, shuffle_questions=False)
    assert [d.id for d in draw(bank, everything, seed="s")] == ["c", "t", "p"]
    only = DrawRules(count=1, kinds=["true_false"])
    assert draw(bank, only, seed="s") == [DrawnQuestion(id=QuestionId("t"))]


def test_seed() -> None:
    seed = draw_seed("tuan-1", "member-42", 1)
    # pinned: a change here breaks the replay of every past draw
    assert seed == "21c14f9251ac3c195312e75506aee677fa07daf048afdb18dfba1c5904b3cd9e"
    others = {
        draw_seed("tuan-1", "member-42", 2),
        draw_seed("tuan-1", "member-4", 21),
        draw_seed("tuan-1m", "ember-42", 1),
    }
    assert seed not in others and len(others) == 3


GOLDEN = "q14:d,a,c,b;q1:b,d,c,a;q3:a,d,c,b;q13:d,a,b,c;q18:b,d,a,c"
"""A pinned draw: a change of the algorithm would break the replay of past draws."""

REPLAY = """
from question_bank.draws import DrawRules, Quota, draw, draw_seed
from tests.test_draws import golden_bank
quotas = [Quota(topic="lich-su", count=2), Quota(difficulty="hard", count=1)]
rules = DrawRules(count=5, quotas=quotas)
drawn = draw(golden_bank(), rules, seed=draw_seed("c", "m", 1))
print(";".join(d.id + ":" + ",".join(d.options) for d in drawn))
"""


def golden_bank() -> Bank:
    return Bank(
        id=BankId("golden"),
        title="G",
        questions=[choice(f"q{i}", TOPICS[i % 4], DIFFICULTIES[i % 3]) for i in range(20)],
    )


def test_same_draw_in_other_processes_whatever_their_hash_seed() -> None:
    rules = DrawRules(
        count=5,
        quotas=[Quota(topic=TopicId("lich-su"), count=2), Quota(difficulty="hard", count=1)],
    )
    here = draw(golden_bank(), rules, seed=draw_seed("c", "m", 1))
    expected = ";".join(d.id + ":" + ",".join(d.options) for d in here)
    assert expected == GOLDEN
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", REPLAY],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        assert out.stdout.strip() == expected


def test_rules_decode_from_json() -> None:
    raw = b'{"count": 10, "quotas": [{"topic": "lich-su", "difficulty": "hard", "count": 2}]}'
    rules = msgspec.json.decode(raw, type=DrawRules)
    assert rules.quotas == [Quota(topic=TopicId("lich-su"), difficulty="hard", count=2)]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"count": 0}', type=DrawRules)


def test_a_reused_drawer_draws_what_draw_does() -> None:
    bank = golden_bank()
    rules = DrawRules(
        count=6,
        quotas=[
            Quota(topic=TopicId("lich-su"), count=2),
            Quota(topic=TopicId("dia-ly"), count=2),
            Quota(difficulty="hard", count=2),
            Quota(difficulty="easy", count=1),
        ],
    )
    drawer = Drawer(bank, rules)
    assert drawer.shortfalls == check_rules(bank, rules) == []
    for n in range(200):
        seed = draw_seed("c", f"m{n}", 1)
        assert drawer.draw(seed) == draw(bank, rules, seed=seed)
    impossible = Drawer(bank, DrawRules(count=21))
    assert impossible.shortfalls == ["count: needs 21, bank has 20 (short by 1)"]
    with pytest.raises(DrawImpossible):
        impossible.draw("x")


@FAST
@given(
    available=st.dictionaries(
        st.tuples(st.sampled_from("ABC"), st.sampled_from("xyz")), st.integers(0, 3), max_size=6
    ),
    by_topic=st.dictionaries(st.sampled_from("ABC"), st.integers(1, 3), max_size=2),
    by_difficulty=st.dictionaries(st.sampled_from("xyz"), st.integers(1, 3), max_size=2),
    by_cell=st.dictionaries(
        st.tuples(st.sampled_from("ABC"), st.sampled_from("xyz")), st.integers(1, 2), max_size=2
    ),
)
def test_quota_flow_against_brute_force(
    available: dict[tuple[str, str], int],
    by_topic: dict[str, int],
    by_difficulty: dict[str, int],
    by_cell: dict[tuple[str, str], int],
) -> None:
    """The fewest questions, and the cells some smallest choice uses, by enumeration."""
    from question_bank._quotaflow import solve

    cells = sorted(available)
    best: int | None = None
    used: set[tuple[str, str]] = set()
    for counts in itertools.product(*(range(available[c] + 1) for c in cells)):
        x = dict(zip(cells, counts, strict=True))
        ok = (
            all(
                sum(n for (t, _), n in x.items() if t == topic) >= r
                for topic, r in by_topic.items()
            )
            and all(
                sum(n for (_, d), n in x.items() if d == diff) >= r
                for diff, r in by_difficulty.items()
            )
            and all(x.get(cell, 0) >= r for cell, r in by_cell.items())
        )
        if not ok:
            continue
        total = sum(counts)
        if best is None or total < best:
            best, used = total, set()
        if total == best:
            used |= {c for c, n in x.items() if n > 0}
    solved = solve(available, by_topic, by_difficulty, by_cell)
    if best is None:
        assert solved is None
    else:
        assert solved == (best, frozenset(used))
