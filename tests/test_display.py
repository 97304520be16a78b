"""Answers in words (question_bank.display.correct_text): examples and properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.display import MULTIPLE_SEPARATOR, correct_text
from question_bank.ids import OptionId, QuestionId
from question_bank.models import (
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    ShortText,
    SingleChoice,
    TextAnswer,
    TrueFalse,
)

Q = QuestionId("q1")


def numeric(**answer: float) -> Numeric:
    return Numeric(id=Q, text="?", answers=[NumericAnswer(**answer)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "right", "wrong"),
    [
        ("vi", "Đúng", "Sai"),
        ("vi-VN", "Đúng", "Sai"),
        ("VI", "Đúng", "Sai"),
        ("en", "True", "False"),
        ("en_GB", "True", "False"),
        ("fr", "True", "False"),  # no words of its own: English
    ],
)
def test_true_false_in_the_banks_language(language: str, right: str, wrong: str) -> None:
    assert correct_text(TrueFalse(id=Q, text="?", answer=True), language) == right
    assert correct_text(TrueFalse(id=Q, text="?", answer=False), language) == wrong


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ({"value": 3143.0}, "3143"),
        ({"value": 3.5}, "3.5"),
        ({"value": -0.25}, "-0.25"),
        ({"value": 1e20}, "1e+20"),
        ({"value": 3.14, "tolerance": 0.01}, "3.14 ± 0.01"),
        ({"value": 1000.0, "tolerance": 5.0}, "1000 ± 5"),
        ({"low": 1.0, "high": 2.5}, "1 – 2.5"),
        ({"low": 4.0}, "≥ 4"),
        ({"high": 9.0}, "≤ 9"),
    ],
)
def test_numbers_as_written(answer: dict[str, float], text: str) -> None:
    assert correct_text(numeric(**answer)) == text


def test_numeric_shows_the_best_weighted_answer() -> None:
    q = Numeric(
        id=Q,
        text="?",
        answers=[NumericAnswer(low=10, high=20, weight=0.5), NumericAnswer(value=15)],
    )
    assert correct_text(q) == "15"
    assert correct_text(Numeric(id=Q, text="?", answers=[])) == ""


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_reads_back_as_itself(x: float) -> None:
    text = correct_text(numeric(value=x))
    assert float(text) == x
    if x.is_integer() and abs(x) < 2**53:
        assert text == str(int(x))  # 3143, never 3143.0


def test_single_choice_is_the_option_text_as_written() -> None:
    q = SingleChoice(
        id=Q,
        text="?",
        options=[
            Option(id=OptionId("a"), text="Huế."),
            Option(id=OptionId("b"), text="Hà Nội.", weight=1.0),
        ],
    )
    assert correct_text(q) == "Hà Nội."


def test_multiple_choice_joins_without_doubling_punctuation() -> None:
    q = MultipleChoice(
        id=Q,
        text="?",
        options=[
            Option(id=OptionId("a"), text="Sông Hồng.", weight=0.5),
            Option(id=OptionId("b"), text="Sông Mê Kông", weight=0.0),
            Option(id=OptionId("c"), text="Sông Đà;", weight=0.5),
        ],
    )
    assert correct_text(q) == "Sông Hồng; Sông Đà"


WORDS = st.text(alphabet=st.sampled_from("abcHàNộiĐ "), min_size=1, max_size=10).filter(str.strip)
ENDING = st.text(alphabet=st.sampled_from(".,;: "), max_size=3)


@given(st.lists(st.tuples(WORDS, ENDING, st.booleans()), min_size=1, max_size=6))
def test_multiple_choice_texts_in_bank_order_never_doubled(
    rows: list[tuple[str, str, bool]],
) -> None:
    correct = [i for i, (_, _, right) in enumerate(rows) if right]
    weight = 1.0 / len(correct) if correct else 0.0
    options = [
        Option(id=OptionId(f"o{i}"), text=words + ending, weight=weight if right else 0.0)
        for i, (words, ending, right) in enumerate(rows)
    ]
    shown = correct_text(MultipleChoice(id=Q, text="?", options=options))
    assert shown == MULTIPLE_SEPARATOR.join(rows[i][0].rstrip() for i in correct)
    for mark in ".,;:":
        assert mark + MULTIPLE_SEPARATOR not in shown


def test_other_kinds() -> None:
    text = ShortText(id=Q, text="?", answers=[TextAnswer(text="Hà Nội")])
    assert correct_text(text) == "Hà Nội"
    assert correct_text(ShortText(id=Q, text="?", answers=[])) == ""
    assert correct_text(Prediction(id=Q, text="?")) == ""
