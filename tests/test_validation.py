"""Validation: a case for every problem code, all problems at once, located by line."""

from __future__ import annotations

import math
from typing import get_args

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.errors import BankInvalid, Location, Problem
from question_bank.formats import loads
from question_bank.ids import BankId, OptionId, QuestionId, TopicId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    Question,
    SingleChoice,
    Topic,
)
from question_bank.validation import _KIND_CHECKS, PROBLEM_CODES, is_valid_id, validate
from tests.strategies import banks

HEADER = """\
id: test-bank
title: Ngân hàng thử
topics:
  - {id: lich-su, name: Lịch sử}
  - {id: dia-ly, name: Địa lý}
questions:
"""

GOOD_SINGLE = """\
  - id: ok
    kind: single
    text: Thủ đô của Việt Nam là?
    options:
      - {id: a, text: Hà Nội, weight: 1}
      - {id: b, text: Huế}
"""


def problems_of(document: str, fmt: str = "yaml") -> list[Problem]:
    try:
        loads(document, fmt, source="bank.yaml")
    except BankInvalid as exc:
        return exc.problems
    return []


def marked_line(document: str) -> int:
    """1-based number of the line holding the ``# here`` marker."""
    return next(i for i, line in enumerate(document.splitlines(), 1) if "# here" in line)


# code -> a YAML question list (appended to HEADER) whose problem sits on the "# here" line,
# and the question and field it must name
YAML_CASES: dict[str, tuple[str, str | None, str | None]] = {
    "no_correct_option": (
        """\
  - id: q1  # here
    kind: single
    text: Chọn một
    options:
      - {id: a, text: Một, weight: 0.5}
      - {id: b, text: Hai}
""",
        "q1",
        "options",
    ),
    "several_correct_options": (
        """\
  - id: q1  # here
    kind: single
    text: Chọn một
    options:
      - {id: a, text: Một, weight: 1}
      - {id: b, text: Hai, weight: 1}
""",
        "q1",
        "options",
    ),
    "duplicate_question_id": (
        GOOD_SINGLE.replace("id: ok", "id: twice  # here")
        + GOOD_SINGLE.replace("id: ok", "id: twice"),
        "twice",
        "id",
    ),
    "duplicate_option": (
        """\
  - id: q1  # here
    kind: single
    text: Thủ đô?
    options:
      - {id: a, text: Hà Nội, weight: 1}
      - {id: b, text: "  HÀ   NỘI "}
""",
        "q1",
        "options[0].text",
    ),
    "duplicate_option_id": (
        """\
  - id: q1  # here
    kind: single
    text: Thủ đô?
    options:
      - {id: a, text: Hà Nội, weight: 1}
      - {id: a, text: Huế}
""",
        "q1",
        "options[0].id",
    ),
    "weights_not_100": (
        """\
  - id: q1  # here
    kind: multiple
    text: Chọn các số nguyên tố
    options:
      - {id: a, text: "2", weight: 0.5}
      - {id: b, text: "3", weight: 0.25}
      - {id: c, text: "4", weight: -1}
""",
        "q1",
        "options",
    ),
    "empty_text": (
        """\
  - id: q1  # here
    kind: true_false
    text: "   "
    answer: true
""",
        "q1",
        "text",
    ),
    "empty_option": (
        """\
  - id: q1  # here
    kind: single
    text: Thủ đô?
    options:
      - {id: a, text: Hà Nội, weight: 1}
      - {id: b, text: ""}
""",
        "q1",
        "options[1].text",
    ),
    "too_few_options": (
        """\
  - id: q1  # here
    kind: single
    text: Thủ đô?
    options:
      - {id: a, text: Hà Nội, weight: 1}
""",
        "q1",
        "options",
    ),
    "unknown_topic": (
        """\
  - id: q1  # here
    kind: true_false
    text: Trái Đất quay quanh Mặt Trời.
    topic: thien-van
    answer: true
""",
        "q1",
        "topic",
    ),
    "numeric_answer_empty": (
        """\
  - id: q1  # here
    kind: numeric
    text: Bao nhiêu?
    answers:
      - {low: 3}
""",
        "q1",
        "answers[0]",
    ),
    "numeric_answer_ambiguous": (
        """\
  - id: q1  # here
    kind: numeric
    text: Bao nhiêu?
    answers:
      - {value: 4, low: 3, high: 5}
""",
        "q1",
        "answers[0]",
    ),
    "numeric_range_reversed": (
        """\
  - id: q1  # here
    kind: numeric
    text: Bao nhiêu?
    answers:
      - {low: 5, high: 3}
""",
        "q1",
        "answers[0]",
    ),
    "not_finite": (
        """\
  - id: q1  # here
    kind: numeric
    text: Bao nhiêu?
    answers:
      - {value: .inf}
""",
        "q1",
        "answers[0].value",
    ),
    "no_answers": (
        """\
  - id: q1  # here
    kind: short_text
    text: Thủ đô?
    answers: []
""",
        "q1",
        "answers",
    ),
    "no_correct_answer": (
        """\
  - id: q1  # here
    kind: short_text
    text: Thủ đô?
    answers:
      - {text: Hà Nội, weight: 0.5}
""",
        "q1",
        "answers",
    ),
    "empty_answer": (
        """\
  - id: q1  # here
    kind: short_text
    text: Thủ đô?
    answers:
      - {text: Hà Nội}
      - {text: " "}
""",
        "q1",
        "answers[1].text",
    ),
    "duplicate_answer": (
        """\
  - id: q1  # here
    kind: short_text
    text: Thủ đô?
    ignore_diacritics: true
    answers:
      - {text: Hà Nội}
      - {text: ha noi}
""",
        "q1",
        "answers[0].text",
    ),
    "bad_media_url": (
        """\
  - id: q1  # here
    kind: true_false
    text: Đúng hay sai?
    media_url: "javascript:alert(1)"
    answer: false
""",
        "q1",
        "media_url",
    ),
    "bad_id": (
        """\
  - id: câu 1  # here
    kind: true_false
    text: Đúng hay sai?
    answer: false
""",
        "câu 1",
        "id",
    ),
    # decoding problems of the native file
    "missing_field": (
        """\
  - id: q1  # here
    kind: single
    text: Thiếu lựa chọn
""",
        "q1",
        "options",
    ),
    "unknown_field": (
        """\
  - id: q1
    kind: true_false
    text: Đúng hay sai?
    answer: true
    anwser: false  # here
""",
        "q1",
        "anwser",
    ),
    "wrong_type": (
        """\
  - id: q1
    kind: single
    text: Chọn
    points: [10]  # here
    options:
      - {id: a, text: A, weight: 1}
      - {id: b, text: B}
""",
        "q1",
        "points",
    ),
    "invalid_value": (
        """\
  - id: q1
    kind: essay  # here
    text: Viết một bài luận
""",
        "q1",
        "kind",
    ),
    "duplicate_key": (
        """\
  - id: q1
    kind: true_false
    text: Đúng hay sai?
    answer: true
    answer: false  # here
""",
        None,
        "answer",
    ),
}

# codes that need a whole document rather than a question list
DOCUMENT_CASES: dict[str, str] = {
    "syntax_error": "id: x\ntitle: y\nquestions:\n  - {id: q1, text: [1, 2}  # here\n",
    "bad_document": "- just a list  # here\n- of things\n",
    "too_complex": "a: &a [x, *a]  # here\n",
    "no_questions": "id: empty\ntitle: Không có câu hỏi\n",
    # the line of a bank-wide problem is not known: located by field only
    "duplicate_topic": "id: t\ntitle: T\ntopics: [{id: a}, {id: a}]\nquestions: []\n",
}

# codes a decoded file cannot produce (the model's constraints refuse such values as
# invalid_value first), shown on banks built in Python
BASE = SingleChoice(
    id=QuestionId("q1"),
    text="Chọn",
    options=[Option(id=OptionId("a"), text="A", weight=1.0), Option(id=OptionId("b"), text="B")],
)
PYTHON_CASES: dict[str, tuple[Question, str]] = {
    "weight_out_of_range": (
        msgspec.structs.replace(
            BASE,
            options=[
                Option(id=OptionId("a"), text="A", weight=1.0),
                Option(id=OptionId("b"), text="B", weight=-2.0),
            ],
        ),
        "options[1].weight",
    ),
    "value_out_of_range": (msgspec.structs.replace(BASE, points=-5), "points"),
}


@pytest.mark.parametrize("code", sorted(YAML_CASES))
def test_every_question_problem_is_found_and_located_by_line(code: str) -> None:
    questions, question, field = YAML_CASES[code]
    document = HEADER + questions
    problems = problems_of(document)
    found = [p for p in problems if p.code == code]
    assert found, problems
    problem = found[0]
    assert problem.where.file == "bank.yaml"
    assert problem.where.line == marked_line(document)
    assert problem.where.question == question
    assert problem.where.field == field
    assert problem.message
    assert code in str(problem) and f"bank.yaml:{problem.where.line}" in str(problem)


@pytest.mark.parametrize("code", sorted(DOCUMENT_CASES))
def test_every_document_problem_is_found(code: str) -> None:
    document = DOCUMENT_CASES[code]
    problems = problems_of(document)
    assert code in {p.code for p in problems}, problems
    if "# here" in document:
        located = next(p for p in problems if p.code == code)
        assert located.where.line == marked_line(document)


def test_duplicate_topic_names_the_field() -> None:
    problems = problems_of(DOCUMENT_CASES["duplicate_topic"])
    (dup,) = [p for p in problems if p.code == "duplicate_topic"]
    assert dup.where.field == "topics[0].id" and "2 times" in dup.message


@pytest.mark.parametrize("code", sorted(PYTHON_CASES))
def test_problems_only_python_built_banks_can_have(code: str) -> None:
    question, field = PYTHON_CASES[code]
    bank = Bank(id=BankId("b"), title="B", questions=[question])
    problems = validate(bank, source="api", lines={QuestionId("q1"): 7})
    assert [(p.code, p.where) for p in problems] == [
        (code, Location(file="api", line=7, question="q1", field=field))
    ]


def test_not_utf8() -> None:
    with pytest.raises(BankInvalid) as caught:
        loads(b"id: x\ntitle: \xff\xfe\n", "yaml")
    assert [p.code for p in caught.value.problems] == ["not_utf8"]


def test_every_code_has_a_case_and_a_description() -> None:
    covered = set(YAML_CASES) | set(DOCUMENT_CASES) | set(PYTHON_CASES) | {"not_utf8"}
    assert covered == set(PROBLEM_CODES)
    assert all(description.strip() for description in PROBLEM_CODES.values())


def test_every_question_kind_has_a_check() -> None:
    assert set(_KIND_CHECKS) == set(get_args(Question))


def test_many_problems_are_reported_at_once_each_on_its_line() -> None:
    document = HEADER + "".join(
        questions.replace("id: q1", f"id: q{i}")
        for i, (questions, _, _) in enumerate(
            (YAML_CASES[c] for c in ("no_correct_option", "empty_text", "unknown_topic")), 1
        )
    )
    problems = problems_of(document)
    lines = document.splitlines()
    assert [(p.code, p.where.question) for p in problems] == [
        ("no_correct_option", "q1"),
        ("empty_text", "q2"),
        ("unknown_topic", "q3"),
    ]
    for problem in problems:
        assert problem.where.line is not None
        assert f"id: {problem.where.question}" in lines[problem.where.line - 1]


def test_decode_and_validation_problems_come_together() -> None:
    document = HEADER + YAML_CASES["invalid_value"][0] + YAML_CASES["empty_option"][0]
    codes = [p.code for p in problems_of(document)]
    assert codes == ["invalid_value", "empty_option"]


def test_problems_in_json_are_located_by_line_too() -> None:
    document = """{
  "id": "b", "title": "T",
  "questions": [
    {"id": "q1", "kind": "true_false", "text": "Đúng?", "answer": true},
    {"id": "q2", "kind": "true_false", "text": "", "answer": true},
    {"id": "q3", "kind": "true_false", "text": "x",
     "answer": "yes"}
  ]
}"""
    problems = problems_of(document, "json")
    assert [(p.code, p.where.line, p.where.question, p.where.field) for p in problems] == [
        ("wrong_type", 7, "q3", "answer"),
        ("empty_text", 5, "q2", "text"),
    ]


def test_multiple_choice_weights_near_100_are_fine() -> None:
    third = 1 / 3
    options = [Option(id=OptionId(x), text=x, weight=round(third, 5)) for x in "abc"]
    question = MultipleChoice(id=QuestionId("m"), text="Chọn", options=options)
    assert validate(Bank(id=BankId("b"), title="B", questions=[question])) == []


def test_weights_above_100_are_reported() -> None:
    options = [Option(id=OptionId(x), text=x, weight=0.6) for x in "ab"]
    question = MultipleChoice(id=QuestionId("m"), text="Chọn", options=options)
    (problem,) = validate(Bank(id=BankId("b"), title="B", questions=[question]))
    assert problem.code == "weights_not_100" and "120 %" in problem.message


def test_topics_are_not_checked_when_the_bank_lists_none() -> None:
    question = msgspec.structs.replace(BASE, topic=TopicId("bat-ky"))
    assert validate(Bank(id=BankId("b"), title="B", questions=[question])) == []
    listed = Bank(id=BankId("b"), title="B", topics=[Topic(id=TopicId("x"))], questions=[question])
    assert [p.code for p in validate(listed)] == ["unknown_topic"]


def test_prediction_questions_keep_their_points_without_a_problem() -> None:
    question = Prediction(id=QuestionId("p"), text="Bao nhiêu người trả lời đúng hết?")
    assert validate(Bank(id=BankId("b"), title="B", questions=[question])) == []


def test_nan_weight_is_not_finite() -> None:
    options = [Option(id=OptionId("a"), text="A", weight=1.0), Option(id=OptionId("b"), text="B")]
    options[1] = msgspec.structs.replace(options[1], weight=math.nan)
    bank = Bank(
        id=BankId("b"), title="B", questions=[msgspec.structs.replace(BASE, options=options)]
    )
    assert [p.code for p in validate(bank)] == ["not_finite"]


def test_numeric_answers() -> None:
    answers = [NumericAnswer(value=1.5, tolerance=0.5), NumericAnswer(low=1, high=2, weight=0.5)]
    ok = Numeric(id=QuestionId("n"), text="Bao nhiêu?", answers=answers)
    assert validate(Bank(id=BankId("b"), title="B", questions=[ok])) == []


@pytest.mark.parametrize(
    ("text", "valid"),
    [("q1", True), ("lich-su.2024:a_b", True), ("", False), ("câu-1", False), ("a b", False)],
)
def test_ids(text: str, valid: bool) -> None:
    assert is_valid_id(text) is valid


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bank=banks(max_questions=4), data=st.data())
def test_valid_banks_have_no_problem_and_a_blanked_text_is_found(
    bank: Bank, data: st.DataObject
) -> None:
    assert validate(bank) == []
    index = data.draw(st.integers(0, len(bank.questions) - 1))
    broken = list(bank.questions)
    broken[index] = msgspec.structs.replace(broken[index], text=" \n ")
    problems = validate(msgspec.structs.replace(bank, questions=broken))
    assert [(p.code, p.where.question) for p in problems] == [("empty_text", broken[index].id)]


def test_problem_codes_are_documented() -> None:
    from pathlib import Path

    docs = Path(__file__).parent.parent / "docs" / "question-banks.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("## Validation") :]
    missing = [code for code in PROBLEM_CODES if f"`{code}`" not in section]
    assert not missing
