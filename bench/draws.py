"""Draw throughput: ``python -m bench.draws [--quick]``.

A window round draws each member's questions when they start an attempt, so draws per
second bound how fast a crowd can start. Printed beside the reference measured in the same
run: the least any draw must do, ``random.Random(seed).sample`` of the pool plus a shuffle
of each drawn question's options, with no quotas and no checks.

Rules measured, on the shipped sample bank (67 questions) and a synthetic bank of 3,000
questions over 10 topics: no quotas; quotas by topic only (disjoint, no flow needed); quotas
by topic and by difficulty (overlapping, decided by the minimum-flow check). Each both as
one-shot ``draw()`` (checks the rules every time) and with one ``Drawer`` reused for every
member, as a contest should.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path

from question_bank.draws import Drawer, DrawRules, Quota, draw, draw_seed
from question_bank.formats import load_file
from question_bank.ids import BankId, OptionId, QuestionId, TopicId
from question_bank.models import DIFFICULTIES, Bank, Option, Question, SingleChoice


def synthetic_bank(size: int = 3000, topics: int = 10) -> Bank:
    questions: list[Question] = [
        SingleChoice(
            id=QuestionId(f"q{i}"),
            text=f"Câu hỏi {i}",
            topic=TopicId(f"t{i % topics}"),
            difficulty=DIFFICULTIES[(i // topics) % 3],
            options=[
                Option(id=OptionId(x), text=x, weight=1.0 if x == "a" else 0.0) for x in "abcd"
            ],
        )
        for i in range(size)
    ]
    return Bank(id=BankId("synthetic"), title="Synthetic", questions=questions)


def reference(bank: Bank, count: int) -> Callable[[str], object]:
    pool = bank.questions

    def bare(seed: str) -> object:
        rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big"))
        picked = rng.sample(pool, count)
        for question in picked:
            if isinstance(question, SingleChoice):
                ids = [o.id for o in question.options]
                rng.shuffle(ids)
        return picked

    return bare


def _draw_once(bank: Bank, rules: DrawRules, seed: str) -> object:
    return draw(bank, rules, seed=seed)


def rate(fn: Callable[[str], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn(draw_seed("bench", f"m{n}", 1))
        n += 1
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    seconds = 0.5 if "--quick" in args else 3.0
    sample = load_file(Path(str(resources.files("question_bank") / "samples" / "vi-sample.yaml")))
    banks = {"sample (67 q)": sample, "synthetic (3000 q)": synthetic_bank()}
    for name, bank in banks.items():
        topics = sorted({q.topic for q in bank.questions if q.topic is not None})
        per_topic = max(1, 10 // len(topics))
        cases = {
            "no quotas": DrawRules(count=10),
            "topic quotas": DrawRules(
                count=10, quotas=[Quota(topic=t, count=per_topic) for t in topics[:5]]
            ),
            "topic + difficulty quotas": DrawRules(
                count=10,
                quotas=[Quota(topic=t, count=per_topic) for t in topics[:5]]
                + [Quota(difficulty="hard", count=3), Quota(difficulty="easy", count=3)],
            ),
        }
        ref = rate(reference(bank, 10), seconds)
        print(f"{name}: reference random.sample + option shuffles: {ref:,.0f} draws/s")
        for label, rules in cases.items():
            once: Callable[[str], object] = partial(_draw_once, bank, rules)
            got = rate(once, seconds)
            print(f"  draw(),  {label:<26} {got:>9,.0f} draws/s  ({got / ref:.2f}x reference)")
            got = rate(Drawer(bank, rules).draw, seconds)
            print(f"  Drawer,  {label:<26} {got:>9,.0f} draws/s  ({got / ref:.2f}x reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
