"""Answer checking: how much of a question's points an answer earns, by question kind.

Pure functions, one checker per kind in a registry (CTFd's ``FLAG_CLASSES`` idea)::

    grade(question, answer) -> float        # fraction of the points, in [0, 1]
    choice_key(question, answer) -> str     # bucket of the live answer distribution
    correct_answer(question) -> Answer | None  # what the reveal shows

Answers arrive as the wire decodes them (``bool | int | float | str | list[str]``):

=============  ===================================  =======================================
kind           answer                               fraction
=============  ===================================  =======================================
single         an option id (``"b"``)               that option's weight, clamped to [0, 1]
multiple       option ids (``["a", "c"]``);         sum of the chosen weights, clamped to
               duplicates ignored; at least one     [0, 1] (never below zero)
true_false     ``true`` / ``false``                 1 if it is the answer, else 0
numeric        a number (int or float, finite)      best weight among the accepted answers
                                                    it matches (``value ± tolerance`` or
                                                    ``low..high``, both inclusive), else 0
short_text     text (non-empty after folding)       best weight among the accepted answers
                                                    equal after :func:`~question_bank.text.fold`
                                                    (NFC, case, whitespace; optionally no
                                                    diacritics, ``đ``/``Đ`` included)
prediction     a whole number in [0, max_value]     0: not graded; ranks ties at finalize
=============  ===================================  =======================================

An answer of the wrong shape (a string to a true/false question, an unknown option id, a
boolean where a number is due, ...) raises :class:`~question_bank.errors.InvalidAnswer`,
which the gateway turns into a refusal with code ``bad_answer``. A well-formed wrong answer
is not an error: it grades 0.

Numeric comparisons allow a slack of ``1e-9`` relative to the magnitudes involved, so that
``3.15`` matches ``3.14 ± 0.01`` even though ``3.15 - 3.14`` is ``0.0100000000000002`` in
binary floating point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, TypeAlias

from .errors import InvalidAnswer
from .models import (
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TrueFalse,
)
from .text import fold

__all__ = [
    "CHECKERS",
    "MAX_TEXT_ANSWER",
    "Answer",
    "Checker",
    "best_numeric_answer",
    "choice_key",
    "correct_answer",
    "grade",
    "kind_of",
    "number_text",
    "numeric_matches",
]

Answer: TypeAlias = bool | int | float | str | list[str]
"""An answer as the wire decodes it (``engine.core.messages.AnswerValue``)."""

MAX_TEXT_ANSWER: Final = 1000
"""Longest short-text answer accepted, in characters."""

_REL_SLACK: Final = 1e-9
_MAX_INT: Final = 2**63


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _invalid(question: Question, message: str) -> InvalidAnswer:
    return InvalidAnswer(message, question=question.id)


def _option_map(question: SingleChoice | MultipleChoice) -> dict[str, Option]:
    return {option.id: option for option in question.options}


def _number(question: Question, answer: Answer) -> float | int:
    # bool is an int in Python; a true/false is never a number here.
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise _invalid(question, "expected a number")
    if isinstance(answer, float) and not math.isfinite(answer):
        raise _invalid(question, "expected a finite number")
    if isinstance(answer, int) and abs(answer) > _MAX_INT:
        raise _invalid(question, "number out of range")
    return answer


def number_text(x: float | int) -> str:
    """``3`` for 3 and 3.0, ``3.14`` for 3.14: the same number gives the same text (the
    distribution key of a numeric answer, and how the reveal writes a number)."""
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


class Checker:
    """How one kind of question is checked: a grade, a distribution key, the correct answer."""

    __slots__ = ("choice_key", "correct", "grade", "kind")

    def __init__(
        self,
        kind: str,
        grade: Callable[[Question, Answer], float],
        choice_key: Callable[[Question, Answer], str],
        correct: Callable[[Question], Answer | None],
    ) -> None:
        self.kind = kind
        self.grade = grade
        self.choice_key = choice_key
        self.correct = correct


# --------------------------------------------------------------------------- single


def _single_option(question: Question, answer: Answer) -> Option:
    assert isinstance(question, SingleChoice)
    if not isinstance(answer, str):
        raise _invalid(question, "expected one option id")
    option = _option_map(question).get(answer)
    if option is None:
        raise _invalid(question, f"no option {answer!r}")
    return option


def _grade_single(question: Question, answer: Answer) -> float:
    return _clamp(_single_option(question, answer).weight)


def _key_single(question: Question, answer: Answer) -> str:
    return _single_option(question, answer).id


def _correct_single(question: Question) -> Answer:
    assert isinstance(question, SingleChoice)
    best = max(question.options, key=lambda option: option.weight)
    return best.id


# --------------------------------------------------------------------------- multiple


def _multiple_options(question: Question, answer: Answer) -> list[Option]:
    assert isinstance(question, MultipleChoice)
    if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
        raise _invalid(question, "expected a list of option ids")
    if not answer:
        raise _invalid(question, "expected at least one option id")
    options = _option_map(question)
    unknown = sorted({a for a in answer if a not in options})
    if unknown:
        raise _invalid(question, f"no option {', '.join(map(repr, unknown))}")
    return [options[a] for a in sorted(set(answer))]


def _grade_multiple(question: Question, answer: Answer) -> float:
    chosen = _multiple_options(question, answer)
    return _clamp(math.fsum(option.weight for option in chosen))


def _key_multiple(question: Question, answer: Answer) -> str:
    return ",".join(option.id for option in _multiple_options(question, answer))


def _correct_multiple(question: Question) -> Answer:
    assert isinstance(question, MultipleChoice)
    return sorted(option.id for option in question.options if option.weight > 0)


# --------------------------------------------------------------------------- true/false


def _bool(question: Question, answer: Answer) -> bool:
    if not isinstance(answer, bool):
        raise _invalid(question, "expected true or false")
    return answer


def _grade_true_false(question: Question, answer: Answer) -> float:
    assert isinstance(question, TrueFalse)
    return 1.0 if _bool(question, answer) is question.answer else 0.0


def _key_true_false(question: Question, answer: Answer) -> str:
    return "true" if _bool(question, answer) else "false"


def _correct_true_false(question: Question) -> Answer:
    assert isinstance(question, TrueFalse)
    return question.answer


# --------------------------------------------------------------------------- numeric


def numeric_matches(accepted: NumericAnswer, x: float) -> bool:
    """Does *x* match ``value ± tolerance`` or ``low..high`` (inclusive, with a tiny slack)?"""
    if accepted.value is not None:
        slack = _REL_SLACK * max(1.0, abs(accepted.value), abs(x))
        return abs(x - accepted.value) <= accepted.tolerance + slack
    if accepted.low is None and accepted.high is None:
        return False
    low = -math.inf if accepted.low is None else accepted.low
    high = math.inf if accepted.high is None else accepted.high
    slack = _REL_SLACK * max(1.0, abs(x))
    return low - slack <= x <= high + slack


def _grade_numeric(question: Question, answer: Answer) -> float:
    assert isinstance(question, Numeric)
    x = _number(question, answer)
    weights = [a.weight for a in question.answers if numeric_matches(a, x)]
    return _clamp(max(weights)) if weights else 0.0


def _key_numeric(question: Question, answer: Answer) -> str:
    return number_text(_number(question, answer))


def best_numeric_answer(question: Numeric) -> NumericAnswer | None:
    """The accepted answer the reveal shows: the best-weighted one (the first of equals)."""
    if not question.answers:
        return None
    return max(question.answers, key=lambda a: a.weight)


def _correct_numeric(question: Question) -> Answer | None:
    assert isinstance(question, Numeric)
    best = best_numeric_answer(question)
    if best is None:
        return None
    if best.value is not None:
        return best.value
    if best.low is not None and best.high is not None:
        return f"{number_text(best.low)}..{number_text(best.high)}"
    return best.low if best.low is not None else best.high


# --------------------------------------------------------------------------- short text


def _folded(question: Question, answer: Answer) -> str:
    assert isinstance(question, ShortText)
    if not isinstance(answer, str):
        raise _invalid(question, "expected text")
    if len(answer) > MAX_TEXT_ANSWER:
        raise _invalid(question, f"answer longer than {MAX_TEXT_ANSWER} characters")
    key = fold(answer, ignore_diacritics=question.ignore_diacritics)
    if not key:
        raise _invalid(question, "empty answer")
    return key


def _grade_short_text(question: Question, answer: Answer) -> float:
    assert isinstance(question, ShortText)
    key = _folded(question, answer)
    ignore = question.ignore_diacritics
    weights = [a.weight for a in question.answers if fold(a.text, ignore_diacritics=ignore) == key]
    return _clamp(max(weights)) if weights else 0.0


def _key_short_text(question: Question, answer: Answer) -> str:
    return _folded(question, answer)


def _correct_short_text(question: Question) -> Answer | None:
    assert isinstance(question, ShortText)
    if not question.answers:
        return None
    return max(question.answers, key=lambda a: a.weight).text


# --------------------------------------------------------------------------- prediction


def _prediction(question: Question, answer: Answer) -> int:
    assert isinstance(question, Prediction)
    x = _number(question, answer)
    if isinstance(x, float):
        if not x.is_integer():
            raise _invalid(question, "expected a whole number")
        x = int(x)
    if not 0 <= x <= question.max_value:
        raise _invalid(question, f"expected a whole number from 0 to {question.max_value}")
    return x


def _grade_prediction(question: Question, answer: Answer) -> float:
    _prediction(question, answer)
    return 0.0


def _key_prediction(question: Question, answer: Answer) -> str:
    return str(_prediction(question, answer))


def _correct_prediction(question: Question) -> Answer | None:
    return None


# --------------------------------------------------------------------------- registry

CHECKERS: Final[dict[str, Checker]] = {
    checker.kind: checker
    for checker in (
        Checker("single", _grade_single, _key_single, _correct_single),
        Checker("multiple", _grade_multiple, _key_multiple, _correct_multiple),
        Checker("true_false", _grade_true_false, _key_true_false, _correct_true_false),
        Checker("numeric", _grade_numeric, _key_numeric, _correct_numeric),
        Checker("short_text", _grade_short_text, _key_short_text, _correct_short_text),
        Checker("prediction", _grade_prediction, _key_prediction, _correct_prediction),
    )
}
"""Kind (the ``kind`` tag of :data:`~question_bank.models.Question`) -> its checker."""


def kind_of(question: Question) -> str:
    """The ``kind`` tag of a question (``"single"``, ``"numeric"``, ...)."""
    tag = type(question).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _checker(question: Question) -> Checker:
    return CHECKERS[kind_of(question)]


def grade(question: Question, answer: Answer) -> float:
    """Fraction of *question*'s points that *answer* earns, in ``[0, 1]``.

    Raises :class:`~question_bank.errors.InvalidAnswer` if the answer's shape does not fit
    the question (see the table in the module docstring).
    """
    return _checker(question).grade(question, answer)


def choice_key(question: Question, answer: Answer) -> str:
    """The bucket of *answer* in the live answer distribution.

    Option ids (sorted, unique, joined with ``,``), ``"true"``/``"false"``, the folded text,
    or the number (``"3"`` for 3 and 3.0). Raises :class:`InvalidAnswer` like :func:`grade`.
    """
    return _checker(question).choice_key(question, answer)


def correct_answer(question: Question) -> Answer | None:
    """What the reveal shows as correct, in the shape of an answer to *question*.

    The best-weighted option id (single), the ids of positive options (multiple), the
    boolean, the best numeric answer (a range as ``"low..high"``), the best text; ``None``
    for a prediction (measured at close).
    """
    return _checker(question).correct(question)
