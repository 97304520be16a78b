"""Answers in words, for people: the ``correct_text`` a reveal shows next to ``correct``.

Pure functions::

    correct_text(question, language) -> str

=============  ==============================================================================
kind           text
=============  ==============================================================================
single         the correct option's text, as written
multiple       the correct options' texts in bank order, joined with ``"; "``; a separator
               ending a text (``.``, ``,``, ``;``, ``:``) is dropped so none is doubled
true_false     the bank language's word for it: ``Đúng`` / ``Sai`` (``vi``), ``True`` /
               ``False`` (``en``, and any language without its own words here)
numeric        the number as written (``3143``, ``3.5``; never ``3143.0``), with its
               tolerance (``3.14 ± 0.01``), a range ``1 – 2.5``, or ``≥ 4`` / ``≤ 9``
short_text     the best accepted answer, as written
prediction     ``""`` (measured at close; no correct answer in the bank)
=============  ==============================================================================

The answer shown is the one :func:`~question_bank.checking.correct_answer` gives ``correct``.
"""

from __future__ import annotations

from typing import Final

from .checking import best_numeric_answer, correct_answer, number_text
from .models import MultipleChoice, Numeric, NumericAnswer, Question, SingleChoice, TrueFalse

__all__ = ["MULTIPLE_SEPARATOR", "TRUE_FALSE_WORDS", "correct_text"]

TRUE_FALSE_WORDS: Final[dict[str, tuple[str, str]]] = {
    "vi": ("Đúng", "Sai"),
    "en": ("True", "False"),
}
"""Words for true and false by a bank's language (its primary subtag: ``vi-VN`` is ``vi``);
a language not listed gets English."""

MULTIPLE_SEPARATOR: Final = "; "
"""Between the correct options' texts of a multiple-choice question."""

_TRAILING: Final = " \t.,;:"


def correct_text(question: Question, language: str = "vi") -> str:
    """*question*'s correct answer in words, in the bank's *language* (see the table above)."""
    match question:
        case SingleChoice():
            correct = correct_answer(question)
            return next((o.text for o in question.options if o.id == correct), "")
        case MultipleChoice():
            correct = correct_answer(question)
            wanted = set(correct) if isinstance(correct, list) else set()
            parts = (o.text.rstrip(_TRAILING) for o in question.options if o.id in wanted)
            return MULTIPLE_SEPARATOR.join(part for part in parts if part)
        case TrueFalse():
            primary = language.replace("_", "-").split("-")[0].lower()
            yes, no = TRUE_FALSE_WORDS.get(primary, TRUE_FALSE_WORDS["en"])
            return yes if question.answer else no
        case Numeric():
            best = best_numeric_answer(question)
            return "" if best is None else _numeric_text(best)
    correct = correct_answer(question)
    return "" if correct is None else str(correct)


def _numeric_text(answer: NumericAnswer) -> str:
    if answer.value is not None:
        value = number_text(answer.value)
        return f"{value} ± {number_text(answer.tolerance)}" if answer.tolerance else value
    if answer.low is not None and answer.high is not None:
        return f"{number_text(answer.low)} – {number_text(answer.high)}"
    if answer.low is not None:
        return f"≥ {number_text(answer.low)}"
    if answer.high is not None:
        return f"≤ {number_text(answer.high)}"
    return ""
