"""Answer checking (question_bank.checking): every kind, examples and properties."""

import math
import typing
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from question_bank import checking
from question_bank.checking import choice_key, correct_answer, grade
from question_bank.errors import InvalidAnswer, QuestionBankError
from question_bank.ids import OptionId, QuestionId
from question_bank.models import (
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TextAnswer,
    TrueFalse,
)
from scoring.points import weights_fraction

Q = QuestionId("q1")
WEIGHT = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
IDS = "abcdefgh"


def options(weights: list[float]) -> list[Option]:
    return [
        Option(id=OptionId(IDS[i]), text=f"option {i}", weight=w) for i, w in enumerate(weights)
    ]


def test_every_kind_has_a_checker() -> None:
    kinds = {typing.cast(str, t.__struct_config__.tag) for t in typing.get_args(Question)}
    assert set(checking.CHECKERS) == kinds


def test_invalid_answer_is_a_bank_error_with_a_code() -> None:
    q = TrueFalse(id=Q, text="?", answer=True)
    with pytest.raises(InvalidAnswer) as info:
        grade(q, "yes")
    assert isinstance(info.value, QuestionBankError)
    assert info.value.code == "bad_answer"
    assert info.value.question == "q1"
    assert "q1" in str(info.value)


# ----------------------------------------------------------------------------- single


@given(st.lists(WEIGHT, min_size=1, max_size=8), st.data())
def test_single_grades_the_chosen_weight(weights: list[float], data: st.DataObject) -> None:
    q = SingleChoice(id=Q, text="?", options=options(weights))
    i = data.draw(st.integers(0, len(weights) - 1))
    got = grade(q, IDS[i])
    assert got == min(max(weights[i], 0.0), 1.0)
    assert choice_key(q, IDS[i]) == IDS[i]


@pytest.mark.parametrize("answer", ["z", "", ["a"], 1, True, None])
def test_single_refuses_bad_shapes(answer: typing.Any) -> None:
    q = SingleChoice(id=Q, text="?", options=options([1.0, 0.0]))
    with pytest.raises(InvalidAnswer):
        grade(q, answer)
    with pytest.raises(InvalidAnswer):
        choice_key(q, answer)


def test_single_correct_answer() -> None:
    q = SingleChoice(id=Q, text="?", options=options([0.0, 0.5, 1.0, -0.5]))
    assert correct_answer(q) == "c"
    assert grade(q, "b") == 0.5
    assert grade(q, "d") == 0.0


# ----------------------------------------------------------------------------- multiple


@given(st.lists(WEIGHT, min_size=1, max_size=8), st.data())
def test_multiple_sums_unique_weights_clamped(weights: list[float], data: st.DataObject) -> None:
    q = MultipleChoice(id=Q, text="?", options=options(weights))
    ids = IDS[: len(weights)]
    chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=12))
    got = grade(q, chosen)
    unique = sorted(set(chosen))
    assert got == weights_fraction(weights[IDS.index(c)] for c in unique)
    assert 0.0 <= got <= 1.0
    # Order and duplicates never matter, for the grade nor for the distribution key.
    assert grade(q, list(reversed(chosen)) + chosen) == got
    assert choice_key(q, chosen) == ",".join(unique)


@pytest.mark.parametrize("answer", [[], ["a", "z"], "a", [1], True, 3])
def test_multiple_refuses_bad_shapes(answer: typing.Any) -> None:
    q = MultipleChoice(id=Q, text="?", options=options([0.5, 0.5, -1.0]))
    with pytest.raises(InvalidAnswer):
        grade(q, answer)


def test_multiple_examples() -> None:
    q = MultipleChoice(id=Q, text="?", options=options([0.5, 0.5, -1.0, 0.0]))
    assert grade(q, ["a", "b"]) == 1.0
    assert grade(q, ["a"]) == 0.5
    assert grade(q, ["a", "c"]) == 0.0  # never below zero
    assert grade(q, ["a", "b", "c"]) == 0.0
    assert grade(q, ["a", "a", "a"]) == 0.5
    assert correct_answer(q) == ["a", "b"]


# ----------------------------------------------------------------------------- true/false


@given(st.booleans(), st.booleans())
def test_true_false(truth: bool, answer: bool) -> None:
    q = TrueFalse(id=Q, text="?", answer=truth)
    assert grade(q, answer) == (1.0 if truth == answer else 0.0)
    assert choice_key(q, answer) == ("true" if answer else "false")
    assert correct_answer(q) is truth


@pytest.mark.parametrize("answer", [1, 0, "true", [], 1.0])
def test_true_false_refuses_non_booleans(answer: typing.Any) -> None:
    with pytest.raises(InvalidAnswer):
        grade(TrueFalse(id=Q, text="?", answer=True), answer)


# ----------------------------------------------------------------------------- numeric

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(FINITE, st.floats(min_value=0.0, max_value=100.0), st.floats(-1.0, 1.0), WEIGHT)
def test_numeric_tolerance_is_inclusive(
    value: float, tolerance: float, offset: float, weight: float
) -> None:
    q = Numeric(
        id=Q, text="?", answers=[NumericAnswer(value=value, tolerance=tolerance, weight=weight)]
    )
    x = value + offset * tolerance  # inside or on the edge of the tolerance
    assert grade(q, x) == min(max(weight, 0.0), 1.0)
    outside = value + tolerance + 1e-3 * max(1.0, abs(value)) + 1e-3
    assert grade(q, outside) == 0.0


def test_numeric_float_edge_and_ranges() -> None:
    q = Numeric(id=Q, text="?", answers=[NumericAnswer(value=3.14, tolerance=0.01)])
    assert grade(q, 3.15) == 1.0  # 3.15 - 3.14 is 0.0100000000000002 in doubles
    assert grade(q, 3.13) == 1.0
    assert grade(q, 3.16) == 0.0
    r = Numeric(
        id=Q,
        text="?",
        answers=[
            NumericAnswer(low=10, high=20, weight=0.5),
            NumericAnswer(value=15, weight=1.0),
            NumericAnswer(low=100, weight=0.25),
        ],
    )
    assert grade(r, 10) == 0.5
    assert grade(r, 20.0) == 0.5
    assert grade(r, 15) == 1.0  # best matching weight
    assert grade(r, 9.99) == 0.0
    assert grade(r, 1e9) == 0.25  # open range
    assert correct_answer(r) == 15
    assert correct_answer(Numeric(id=Q, text="?", answers=[NumericAnswer(low=1, high=2.5)])) == (
        "1..2.5"
    )


@given(st.integers(-(10**9), 10**9))
def test_numeric_choice_key_same_number_same_key(n: int) -> None:
    q = Numeric(id=Q, text="?", answers=[NumericAnswer(value=0)])
    assert choice_key(q, n) == choice_key(q, float(n)) == str(n)


@pytest.mark.parametrize("answer", [True, False, "3", math.nan, math.inf, [3]])
def test_numeric_refuses_non_numbers(answer: typing.Any) -> None:
    with pytest.raises(InvalidAnswer):
        grade(Numeric(id=Q, text="?", answers=[NumericAnswer(value=1)]), answer)


# ----------------------------------------------------------------------------- short text

VIET = ["Hà Nội", "Hồ Chí Minh", "Đà Nẵng", "Thừa Thiên Huế", "Điện Biên Phủ", "Bắc Ninh"]


def _spacing(text: str, data: st.DataObject) -> str:
    words = text.split()
    seps = data.draw(st.lists(st.sampled_from([" ", "  ", "\t", "\n", "\u00a0"]), min_size=1))
    out = data.draw(st.sampled_from(["", " ", "\t "]))
    for i, word in enumerate(words):
        out += word + (seps[i % len(seps)] if i < len(words) - 1 else "")
    return out + data.draw(st.sampled_from(["", " ", "\n"]))


@given(st.sampled_from(VIET), st.sampled_from(["NFC", "NFD"]), st.data())
def test_short_text_folds_form_case_and_spacing(
    truth: str, form: typing.Literal["NFC", "NFD"], data: st.DataObject
) -> None:
    q = ShortText(id=Q, text="?", answers=[TextAnswer(text=truth)])
    typed = unicodedata.normalize(form, _spacing(truth, data))
    typed = data.draw(st.sampled_from([typed, typed.upper(), typed.lower(), typed.swapcase()]))
    assert grade(q, typed) == 1.0
    assert choice_key(q, typed) == choice_key(q, truth)


@given(st.sampled_from(VIET), st.booleans())
def test_short_text_diacritics_option(truth: str, ignore: bool) -> None:
    q = ShortText(id=Q, text="?", answers=[TextAnswer(text=truth)], ignore_diacritics=ignore)
    bare = unicodedata.normalize("NFD", truth)
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    bare = bare.replace("đ", "d").replace("Đ", "D")
    assert bare != truth
    assert grade(q, bare) == (1.0 if ignore else 0.0)
    assert grade(q, bare.lower()) == (1.0 if ignore else 0.0)


def test_short_text_d_stroke() -> None:
    q = ShortText(id=Q, text="?", answers=[TextAnswer(text="Đà Nẵng")], ignore_diacritics=True)
    for typed in ("da nang", "DA NANG", "đà nẵng", "ĐÀ NẴNG", "Đa Nang", "dà nẵng"):
        assert grade(q, typed) == 1.0, typed
    strict = ShortText(id=Q, text="?", answers=[TextAnswer(text="Đà Nẵng")])
    assert grade(strict, "đà nẵng") == 1.0
    assert grade(strict, "da nang") == 0.0
    assert choice_key(q, "ĐÀ  NẴNG ") == "da nang"


@given(st.text(min_size=1, max_size=30))
def test_short_text_never_crashes_on_text(typed: str) -> None:
    q = ShortText(id=Q, text="?", answers=[TextAnswer(text="x", weight=0.5)])
    try:
        got = grade(q, typed)
    except InvalidAnswer:
        assume(False)
    else:
        assert got in (0.0, 0.5)
        assert got == (0.5 if choice_key(q, typed) == "x" else 0.0)


def test_short_text_best_weight_and_refusals() -> None:
    q = ShortText(
        id=Q,
        text="?",
        answers=[TextAnswer(text="Hanoi", weight=0.5), TextAnswer(text="Hà Nội", weight=1.0)],
    )
    assert grade(q, "hanoi") == 0.5
    assert grade(q, "hà nội") == 1.0
    assert correct_answer(q) == "Hà Nội"
    for bad in ("", "   ", 3, ["Hà Nội"], "x" * 1001):
        with pytest.raises(InvalidAnswer):
            grade(q, bad)


# ----------------------------------------------------------------------------- prediction


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_prediction_is_not_graded(max_value: int, answer: int) -> None:
    q = Prediction(id=Q, text="?", max_value=max_value)
    if answer <= max_value:
        assert grade(q, answer) == 0.0
        assert grade(q, float(answer)) == 0.0
        assert choice_key(q, answer) == str(answer)
    else:
        with pytest.raises(InvalidAnswer):
            grade(q, answer)
    assert correct_answer(q) is None


@pytest.mark.parametrize("answer", [-1, 1.5, True, "12", [1], math.nan])
def test_prediction_refuses_bad_numbers(answer: typing.Any) -> None:
    with pytest.raises(InvalidAnswer):
        grade(Prediction(id=Q, text="?"), answer)


def test_numeric_and_text_corner_cases() -> None:
    empty = NumericAnswer()  # neither a value nor a range: matches nothing
    assert not checking.numeric_matches(empty, 0.0)
    assert grade(Numeric(id=Q, text="?", answers=[empty]), 0) == 0.0
    assert correct_answer(Numeric(id=Q, text="?", answers=[])) is None
    assert correct_answer(Numeric(id=Q, text="?", answers=[NumericAnswer(low=4)])) == 4
    assert correct_answer(Numeric(id=Q, text="?", answers=[NumericAnswer(high=9)])) == 9
    assert correct_answer(ShortText(id=Q, text="?", answers=[])) is None
    assert grade(ShortText(id=Q, text="?", answers=[]), "x") == 0.0


@given(
    st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=5)),
    st.sampled_from(["numeric", "prediction"]),
)
def test_numbers_are_graded_or_refused_never_crash(answer: typing.Any, kind: str) -> None:
    q: Question
    if kind == "numeric":
        q = Numeric(id=Q, text="?", answers=[NumericAnswer(value=1.5, tolerance=0.5)])
    else:
        q = Prediction(id=Q, text="?", max_value=10**9)
    try:
        got = grade(q, answer)
    except InvalidAnswer:
        return
    assert got in (0.0, 1.0)
    assert isinstance(choice_key(q, answer), str)
