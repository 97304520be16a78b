"""CSV writer (``question_bank.formats.csv.write``): the columns the CSV reader reads.

The text starts with a UTF-8 BOM so that spreadsheet programs open Vietnamese text
correctly; rows end with CRLF as spreadsheets write them. Every question gets its ``id``
written out. What CSV cannot hold is reported as ``not_expressible``: per-option and
per-answer feedback, true/false feedback, option ids other than ``a``, ``b``..., more than
26 options, ``|`` inside a short-text answer, a topic name that does not slug to its id,
topics no question uses, the bank's language.
"""

from __future__ import annotations

import csv
import io

from ..errors import Problem
from ..models import (
    Bank,
    MultipleChoice,
    Numeric,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TrueFalse,
)
from . import Written
from ._common import (
    format_numeric_answer,
    format_percent,
    kind_of,
    lost,
    option_id,
    topic_label,
    untrimmed,
)

__all__ = ["COLUMNS", "write"]

COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "title",
    "text",
    "correct",
    "points",
    "time_limit",
    "topic",
    "difficulty",
    "explanation",
    "media_url",
    "ignore_diacritics",
    "measure",
    "max_value",
)
"""Every column but the option columns (``option_a`` ... ``option_z``)."""

_BEFORE_OPTIONS = 4  # option columns go after id, kind, title, text


def write(bank: Bank) -> Written:
    """CSV text of *bank*, with a ``not_expressible`` warning for everything it loses."""
    warnings: list[Problem] = []
    if bank.language != "vi":
        warnings.append(lost(None, "language", "CSV has no language"))
    used = {q.topic for q in bank.questions}
    for topic in bank.topics:
        if topic.id not in used:
            warnings.append(lost(None, "topics", f"topic {topic.id!r} has no question: lost"))
        elif not topic_label(topic)[1]:
            warnings.append(lost(None, "topics", f"topic {topic.id!r} reads back differently"))
    labels = {t.id: topic_label(t)[0] for t in bank.topics}
    width = max([len(q.options) for q in bank.questions if hasattr(q, "options")] + [4])
    width = min(width, 26)
    options = [f"option_{option_id(i)}" for i in range(width)]
    header = [*COLUMNS[:_BEFORE_OPTIONS], *options, *COLUMNS[_BEFORE_OPTIONS:]]
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(header)
    for q in bank.questions:
        cells, more = _row(q, width)
        warnings += more
        if (trimmed := untrimmed(q)) is not None:
            warnings.append(trimmed)
        cells["topic"] = labels.get(q.topic, q.topic) if q.topic is not None else ""
        out.writerow([cells.get(name, "") for name in header])
    return Written(text="\ufeff" + buffer.getvalue(), warnings=warnings)


def _row(q: Question, width: int) -> tuple[dict[str, str], list[Problem]]:
    warnings: list[Problem] = []
    cells = {
        "id": q.id,
        "kind": kind_of(q),
        "title": q.title,
        "text": q.text,
        "points": str(q.points),
        "time_limit": "" if q.time_limit is None else str(q.time_limit),
        "difficulty": q.difficulty,
        "explanation": q.explanation,
        "media_url": q.media_url or "",
    }
    match q:
        case SingleChoice() | MultipleChoice():
            if len(q.options) > width:
                warnings.append(lost(q.id, "options", f"only {width} options fit: rest lost"))
            if [o.id for o in q.options] != [option_id(i) for i in range(len(q.options))]:
                warnings.append(lost(q.id, "options", "option ids become a, b, c..."))
            if any(o.feedback for o in q.options):
                warnings.append(lost(q.id, "options", "CSV has no option feedback"))
            for i, option in enumerate(q.options[:width]):
                cells[f"option_{option_id(i)}"] = option.text
            cells["correct"] = _choice_correct(q, width)
        case TrueFalse():
            if q.feedback_true or q.feedback_false:
                warnings.append(lost(q.id, "feedback", "CSV has no true/false feedback"))
            cells["correct"] = "true" if q.answer else "false"
        case Numeric():
            parts = []
            for a in q.answers:
                text = format_numeric_answer(a)
                if text is None:
                    warnings.append(lost(q.id, "answers", "an answer without value or range"))
                    continue
                parts.append(_weight(a.weight, text))
            if any(a.feedback for a in q.answers):
                warnings.append(lost(q.id, "answers", "CSV has no answer feedback"))
            cells["correct"] = " | ".join(parts)
        case ShortText():
            if any("|" in a.text or a.text != a.text.strip() or not a.text for a in q.answers):
                warnings.append(lost(q.id, "answers", "an empty answer, edge spaces or '|'"))
            if any(a.feedback for a in q.answers):
                warnings.append(lost(q.id, "answers", "CSV has no answer feedback"))
            cells["correct"] = " | ".join(_weight(a.weight, a.text) for a in q.answers)
            cells["ignore_diacritics"] = "true" if q.ignore_diacritics else ""
        case Prediction():
            cells["measure"] = q.measure
            cells["max_value"] = str(q.max_value)
    return cells, warnings


def _weight(weight: float, text: str) -> str:
    if weight == 1.0 and not text.startswith("%"):
        return text
    return f"%{format_percent(weight)}%{text}"


def _choice_correct(q: SingleChoice | MultipleChoice, width: int) -> str:
    weighted = [(option_id(i), o.weight) for i, o in enumerate(q.options[:width]) if o.weight]
    if isinstance(q, SingleChoice):
        parts = [
            f"{letter}" if w == 1.0 else f"{letter}:{format_percent(w)}" for letter, w in weighted
        ]
        return ", ".join(parts)
    positive = [letter for letter, w in weighted if w > 0]
    if len(positive) == len(weighted) and all(w == 1.0 / len(positive) for _, w in weighted):
        return ", ".join(positive)
    return ", ".join(f"{letter}:{format_percent(w)}" for letter, w in weighted)
