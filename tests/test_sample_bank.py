"""The Vietnamese sample bank shipped with the package: loads clean, covers every kind."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from question_bank.draws import DrawRules, Quota, check_rules, draw, draw_seed
from question_bank.formats import dumps, load_file, loads
from question_bank.ids import TopicId
from question_bank.models import (
    DIFFICULTIES,
    Bank,
    MultipleChoice,
    Numeric,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TrueFalse,
)
from question_bank.text import fold, nfc


def sample_path() -> Path:
    return Path(str(resources.files("question_bank") / "samples" / "vi-sample.yaml"))


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_file(sample_path())  # raises BankInvalid listing every problem, if any


def test_loads_with_no_problem_and_is_nfc(bank: Bank) -> None:
    text = sample_path().read_text(encoding="utf-8")
    assert text == nfc(text)
    assert bank.id == "vi-sample" and bank.language == "vi"
    assert len(bank.questions) >= 60


def test_every_kind_and_variant_is_represented(bank: Bank) -> None:
    kinds = Counter(type(q) for q in bank.questions)
    assert set(kinds) == {SingleChoice, MultipleChoice, TrueFalse, Numeric, ShortText, Prediction}
    numeric = [a for q in bank.questions if isinstance(q, Numeric) for a in q.answers]
    assert any(a.value is not None and a.tolerance == 0 for a in numeric)  # exact
    assert any(a.value is not None and a.tolerance > 0 for a in numeric)  # tolerance
    assert any(a.low is not None and a.high is not None for a in numeric)  # range
    multiple = [q for q in bank.questions if isinstance(q, MultipleChoice)]
    assert any(any(0 < o.weight < 1 for o in q.options) for q in multiple)  # partial credit
    assert any(any(o.weight < 0 for o in q.options) for q in multiple)  # penalties
    short = [q for q in bank.questions if isinstance(q, ShortText)]
    assert any(q.ignore_diacritics for q in short)
    measures = {q.measure for q in bank.questions if isinstance(q, Prediction)}
    assert "perfect_scores" in measures


def test_topics_and_difficulties(bank: Bank) -> None:
    topics = {t.id for t in bank.topics}
    assert len(topics) >= 4 and all(t.name for t in bank.topics)
    for topic in topics:
        difficulties = {q.difficulty for q in bank.questions if q.topic == topic}
        assert difficulties == set(DIFFICULTIES), topic
    graded = [q for q in bank.questions if not isinstance(q, Prediction)]
    assert all(q.topic in topics for q in graded)


def test_answers_typed_without_diacritics_fold_equal(bank: Bank) -> None:
    by_id: dict[str, Question] = {q.id: q for q in bank.questions}
    question = by_id["ls-04"]
    assert isinstance(question, ShortText) and question.ignore_diacritics
    keys = {fold(a.text, ignore_diacritics=True) for a in question.answers}
    assert fold("ngo quyen", ignore_diacritics=True) in keys
    assert fold("NGÔ   QUYỀN", ignore_diacritics=True) in keys


def test_round_trips_through_both_native_formats(bank: Bank) -> None:
    for fmt in ("yaml", "json"):
        assert loads(dumps(bank, fmt).text, fmt) == bank


def test_a_weekly_round_can_be_drawn_from_it(bank: Bank) -> None:
    rules = DrawRules(
        count=10,
        quotas=[Quota(topic=TopicId(t.id), count=2) for t in bank.topics]
        + [Quota(difficulty="hard", count=3), Quota(difficulty="easy", count=3)],
    )
    assert check_rules(bank, rules) == []
    drawn = draw(bank, rules, seed=draw_seed("tuan-1", "doan-vien-1", 1))
    assert len({d.id for d in drawn}) == 10
    assert not any(d.id.startswith("du-doan") for d in drawn)
