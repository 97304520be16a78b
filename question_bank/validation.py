"""Bank validation: every problem at once, each with where it is and why.

:func:`validate` checks a decoded :class:`~question_bank.models.Bank` and returns a list of
:class:`~question_bank.errors.Problem` (empty when the bank is fine); it never raises. Each
problem has a stable ``code`` (the keys of :data:`PROBLEM_CODES`, documented in
``docs/question-banks.md``) and a :class:`~question_bank.errors.Location`: the file, the
line the question starts on when the reader knows it (``lines``), the question id and the
field, written as a path relative to the question (``options[2].text``, 0-based as in
msgspec's error paths).

The checks by kind are small pure functions, one per question kind, in :data:`_KIND_CHECKS`.
Decoding problems of the native YAML/JSON files (syntax, wrong types, unknown fields) are
reported by those readers with the codes listed here too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeAlias

from .errors import Location, Problem
from .ids import QuestionId, TopicId
from .models import (
    MAX_PREDICTION,
    Bank,
    MultipleChoice,
    Numeric,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TrueFalse,
)
from .text import fold

__all__ = [
    "ID_PATTERN",
    "MAX_PREDICTION",
    "PROBLEM_CODES",
    "WEIGHT_TOLERANCE",
    "is_valid_id",
    "validate",
]

PROBLEM_CODES: dict[str, str] = {
    # the bank as a whole
    "no_questions": "the bank has no questions",
    "duplicate_question_id": "two or more questions share one id",
    "duplicate_topic": "two or more topics in the bank's topic list share one id",
    "bad_id": "an id is empty or has characters other than letters, digits, _ - . : (max 64)",
    # any question
    "empty_text": "the question text is empty or only whitespace",
    "unknown_topic": "the question's topic is not in the bank's topic list",
    "value_out_of_range": "points, time limit, tolerance or max value outside its allowed range",
    "not_finite": "a number is NaN or infinite",
    "bad_media_url": "the media URL is not an http:// or https:// URL",
    # choice questions
    "too_few_options": "a choice question has fewer than 2 options",
    "empty_option": "an option's text is empty or only whitespace",
    "duplicate_option": "two options have the same text (after NFC, case and space folding)",
    "duplicate_option_id": "two options of one question share one id",
    "weight_out_of_range": "a weight is outside -1.0 .. 1.0 (-100 % .. 100 %)",
    "no_correct_option": "no option earns full points (single) or none has a positive weight",
    "several_correct_options": "a single-choice question has more than one option of weight 1.0",
    "weights_not_100": "the positive weights of a multiple-choice question do not add up to 100 %",
    # numeric and short-text questions
    "no_answers": "a numeric or short-text question has no accepted answer",
    "no_correct_answer": "no accepted answer earns full points (weight 1.0)",
    "numeric_answer_empty": "a numeric answer has neither a value nor both low and high",
    "numeric_answer_ambiguous": "a numeric answer has both a value and a low/high range",
    "numeric_range_reversed": "a numeric range has low greater than high",
    "empty_answer": "an accepted short-text answer is empty or only whitespace",
    "duplicate_answer": "two accepted short-text answers compare equal",
    # decoding native YAML/JSON files (question_bank.formats.yaml / .json)
    "not_utf8": "the file is not UTF-8 text",
    "syntax_error": "the file is not well-formed YAML/JSON",
    "bad_document": "the document is not a bank (a mapping with questions)",
    "duplicate_key": "a key appears twice in one mapping",
    "missing_field": "a required field is missing",
    "unknown_field": "a field the format does not have (misspelt?)",
    "wrong_type": "a field's value has the wrong type",
    "invalid_value": "a field's value is not allowed (unknown kind, difficulty, out of range)",
    "too_complex": "the document expands (YAML aliases) or nests beyond the limits",
}
"""Every problem code :func:`validate` and the native readers report, with what it means."""

WEIGHT_TOLERANCE = 1e-3
"""How far from 1.0 the positive weights of a multiple-choice question may add up
(``3 x 33.333 %`` is fine)."""

ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
"""What bank, topic, question and option ids look like (they end up in keys and URLs)."""

_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)
_POINTS_MAX = 100_000
_SECONDS_MAX = 86_400

# (code, field relative to the question or None, message)
Finding: TypeAlias = tuple[str, str | None, str]


def is_valid_id(text: str) -> bool:
    """Whether *text* may be used as a bank, topic, question or option id."""
    return ID_PATTERN.fullmatch(text) is not None


def validate(
    bank: Bank, *, source: str = "<input>", lines: Mapping[QuestionId, int] | None = None
) -> list[Problem]:
    """Every problem of *bank*, in bank order (bank-wide ones first); ``[]`` when it is fine.

    *source* names the file in each location; *lines* gives the line each question starts
    on, for formats that have lines.
    """
    lines = lines or {}
    problems = [
        Problem(code=code, message=message, where=Location(file=source, field=field))
        for code, field, message in _bank_findings(bank)
    ]
    ids = [question.id for question in bank.questions]
    for index, count in _duplicates(ids):
        qid = ids[index]
        numbers = ", ".join(str(i + 1) for i, other in enumerate(ids) if other == qid)
        problems.append(
            Problem(
                code="duplicate_question_id",
                message=f"question id {qid!r} is used {count} times (questions no. {numbers})",
                where=Location(file=source, line=lines.get(qid), question=qid, field="id"),
            )
        )
    topics = {topic.id for topic in bank.topics}
    for number, question in enumerate(bank.questions, start=1):
        where_line = lines.get(question.id)
        label = question.id or f"no. {number}"
        for code, field, message in _question_findings(question, topics):
            where = Location(file=source, line=where_line, question=label, field=field)
            problems.append(Problem(code=code, message=message, where=where))
    return problems


def _bank_findings(bank: Bank) -> Iterator[Finding]:
    if not is_valid_id(bank.id):
        yield "bad_id", "id", f"bank id {bank.id!r} is not a valid id"
    if not bank.questions:
        yield "no_questions", "questions", "the bank has no questions"
    for index, count in _duplicates([topic.id for topic in bank.topics]):
        yield (
            "duplicate_topic",
            f"topics[{index}].id",
            f"topic id {bank.topics[index].id!r} is listed {count} times",
        )
    for index, topic in enumerate(bank.topics):
        if not is_valid_id(topic.id):
            yield "bad_id", f"topics[{index}].id", f"topic id {topic.id!r} is not a valid id"


def _duplicates(keys: Sequence[str]) -> Iterator[tuple[int, int]]:
    """(index of the first occurrence, count) of every key that occurs more than once."""
    counts = Counter(keys)
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if counts[key] > 1 and key not in seen:
            seen.add(key)
            yield index, counts[key]


def _question_findings(question: Question, topics: set[TopicId]) -> Iterator[Finding]:
    if not is_valid_id(question.id):
        yield "bad_id", "id", f"question id {question.id!r} is not a valid id"
    if not question.text.strip():
        yield "empty_text", "text", "the question text is empty"
    if not 0 <= question.points <= _POINTS_MAX:
        yield "value_out_of_range", "points", f"points must be 0..{_POINTS_MAX}"
    if question.time_limit is not None and not 1 <= question.time_limit <= _SECONDS_MAX:
        yield "value_out_of_range", "time_limit", f"time limit must be 1..{_SECONDS_MAX} s"
    if question.topic is not None and topics and question.topic not in topics:
        known = ", ".join(sorted(topics))
        yield "unknown_topic", "topic", f"topic {question.topic!r} is not one of: {known}"
    if question.media_url is not None and not _URL.fullmatch(question.media_url):
        yield "bad_media_url", "media_url", f"{question.media_url!r} is not an http(s) URL"
    yield from _KIND_CHECKS[type(question)](question)


def _check_options(options: list[Option]) -> Iterator[Finding]:
    """Checks every choice question shares: count, texts, ids, weight ranges."""
    if len(options) < 2:
        yield "too_few_options", "options", f"{len(options)} option(s); at least 2 are needed"
    for index, option in enumerate(options):
        if not option.text.strip():
            yield "empty_option", f"options[{index}].text", f"option {option.id!r} has no text"
        if not is_valid_id(option.id):
            yield "bad_id", f"options[{index}].id", f"option id {option.id!r} is not a valid id"
        yield from _check_weight(option.weight, f"options[{index}].weight")
    for index, count in _duplicates([option.id for option in options]):
        yield (
            "duplicate_option_id",
            f"options[{index}].id",
            f"option id {options[index].id!r} is used {count} times",
        )
    texts = [fold(option.text) for option in options]
    for index, count in _duplicates(texts):
        if texts[index]:
            yield (
                "duplicate_option",
                f"options[{index}].text",
                f"option text {options[index].text!r} appears {count} times",
            )


def _check_weight(weight: float, field: str) -> Iterator[Finding]:
    if not math.isfinite(weight):
        yield "not_finite", field, f"weight {weight} is not a finite number"
    elif not -1.0 <= weight <= 1.0:
        yield "weight_out_of_range", field, f"weight {weight:g} is outside -1.0 .. 1.0"


def _is_full(weight: float) -> bool:
    return abs(weight - 1.0) <= 1e-9


def _check_single(question: SingleChoice) -> Iterator[Finding]:
    yield from _check_options(question.options)
    correct = [option.id for option in question.options if _is_full(option.weight)]
    if not correct and question.options:
        yield "no_correct_option", "options", "no option has weight 1.0 (100 %)"
    if len(correct) > 1:
        yield (
            "several_correct_options",
            "options",
            f"options {', '.join(correct)} all have weight 1.0; a single choice has one",
        )


def _check_multiple(question: MultipleChoice) -> Iterator[Finding]:
    yield from _check_options(question.options)
    positive = [o.weight for o in question.options if math.isfinite(o.weight) and o.weight > 0]
    if not positive:
        if question.options:
            yield "no_correct_option", "options", "no option has a positive weight"
        return
    try:
        total = math.fsum(positive)
    except OverflowError:  # weights far out of range, reported above
        total = math.inf
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        reach = "cannot reach" if total < 1.0 else "exceed"
        yield (
            "weights_not_100",
            "options",
            f"the positive weights add up to {total * 100:g} %: they {reach} 100 %",
        )


def _check_true_false(question: TrueFalse) -> Iterator[Finding]:
    return iter(())


def _check_numeric(question: Numeric) -> Iterator[Finding]:
    if not question.answers:
        yield "no_answers", "answers", "no accepted answer"
        return
    for index, answer in enumerate(question.answers):
        field = f"answers[{index}]"
        numbers = {
            "value": answer.value,
            "tolerance": answer.tolerance,
            "low": answer.low,
            "high": answer.high,
        }
        bad = [name for name, x in numbers.items() if x is not None and not math.isfinite(x)]
        for name in bad:
            yield "not_finite", f"{field}.{name}", f"{name} is not a finite number"
        yield from _check_weight(answer.weight, f"{field}.weight")
        if bad:
            continue
        has_range = answer.low is not None or answer.high is not None
        if answer.tolerance < 0:
            yield "value_out_of_range", f"{field}.tolerance", "tolerance must not be negative"
        if answer.value is None and (answer.low is None or answer.high is None):
            yield "numeric_answer_empty", field, "give a value, or both low and high"
        elif answer.value is not None and has_range:
            yield "numeric_answer_ambiguous", field, "give a value or a low..high range, not both"
        elif answer.low is not None and answer.high is not None and answer.low > answer.high:
            yield (
                "numeric_range_reversed",
                field,
                f"low {answer.low:g} is greater than high {answer.high:g}",
            )
    if not any(_is_full(answer.weight) for answer in question.answers):
        yield "no_correct_answer", "answers", "no accepted answer has weight 1.0 (100 %)"


def _check_short_text(question: ShortText) -> Iterator[Finding]:
    if not question.answers:
        yield "no_answers", "answers", "no accepted answer"
        return
    keys = [fold(a.text, ignore_diacritics=question.ignore_diacritics) for a in question.answers]
    for index, (answer, key) in enumerate(zip(question.answers, keys, strict=True)):
        if not key:
            yield "empty_answer", f"answers[{index}].text", "accepted answer is empty"
        yield from _check_weight(answer.weight, f"answers[{index}].weight")
    for index, count in _duplicates(keys):
        if keys[index]:
            yield (
                "duplicate_answer",
                f"answers[{index}].text",
                f"accepted answer {question.answers[index].text!r} appears {count} times"
                + (" (ignoring diacritics)" if question.ignore_diacritics else ""),
            )
    if not any(_is_full(answer.weight) for answer in question.answers):
        yield "no_correct_answer", "answers", "no accepted answer has weight 1.0 (100 %)"


def _check_prediction(question: Prediction) -> Iterator[Finding]:
    # Not graded: its points are ignored (the prediction only breaks ties), so a prediction
    # with the default points is not a problem.
    if not 0 <= question.max_value <= MAX_PREDICTION:
        yield "value_out_of_range", "max_value", f"max_value must be 0..{MAX_PREDICTION}"


_KIND_CHECKS: dict[type[Question], Callable[[Question], Iterator[Finding]]] = {
    SingleChoice: _check_single,  # type: ignore[dict-item]
    MultipleChoice: _check_multiple,  # type: ignore[dict-item]
    TrueFalse: _check_true_false,  # type: ignore[dict-item]
    Numeric: _check_numeric,  # type: ignore[dict-item]
    ShortText: _check_short_text,  # type: ignore[dict-item]
    Prediction: _check_prediction,  # type: ignore[dict-item]
}
"""One check per question kind (checked exhaustively against the ``Question`` union in
the tests)."""
