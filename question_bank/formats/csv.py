"""CSV as spreadsheets export it: one question per row under a header row.

UTF-8 with or without a BOM; the delimiter (``,``, ``;`` or tab) is the one the header row
uses most; quoted cells may hold line breaks and delimiters. Columns (header names are
case-insensitive; spaces and ``-`` count as ``_``; only ``text`` is required; order free):

``id``, ``kind``, ``title``, ``text``, ``option_a`` ... ``option_z``, ``correct``,
``points``, ``time_limit``, ``topic``, ``difficulty``, ``explanation``, ``media_url``,
``ignore_diacritics``, ``measure``, ``max_value``.

Vietnamese header names are accepted too, with or without diacritics, in any case
(:data:`VIETNAMESE_COLUMNS`: ``Câu hỏi``, ``Loại``, ``Đáp án A``, ``Đáp án đúng``,
``Điểm``, ``Chủ đề``, ``Độ khó``...), and a row-number column (``STT``, ``No``, ``#``) is
ignored. An unknown header is a problem that suggests the closest known name.

``correct`` by kind (``kind`` empty means ``single``):

* single: the letter of the correct option (``b``); partial credit as ``b, c:50``;
* multiple: letters with percent weights (``a:50, c:50, d:-100``); bare letters share
  what the weighted ones leave of 100 % (``a, c`` is 50 % each);
* true_false: ``true``/``false`` (also ``t``/``f``, ``1``/``0``, ``đúng``/``sai``);
* numeric: answers separated by ``|``, each ``3``, ``3:0.5`` (tolerance) or ``1..5``
  (range), optionally ``%50%`` first for partial credit; ``3,5`` reads as 3.5;
* short_text: accepted answers separated by ``|``, optionally ``%50%`` first;
* prediction: empty (``measure`` and ``max_value`` columns).

A row whose kind is one the engine cannot run (``essay``, ``matching``, ``description``...,
:data:`UNSUPPORTED_KINDS`) is left out with a warning (``Parsed.skipped``); any other
unknown kind is a problem (a typo).

Each problem is located by the line its row starts on and the column.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias, get_args

from ..errors import Location, Problem
from ..ids import BankId, QuestionId, TopicId
from ..models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    PredictionMeasure,
    Question,
    ShortText,
    SingleChoice,
    TextAnswer,
    Topic,
    TrueFalse,
)
from ..text import strip_diacritics
from . import Parsed
from ._common import (
    IdAssigner,
    leading_percent,
    numeric_answer,
    option_id,
    parse_number,
    parse_percent,
    topic_from_label,
)
from ._csvwrite import COLUMNS, write

__all__ = [
    "COLUMNS",
    "EXTENSIONS",
    "NAME",
    "PROBLEM_CODES",
    "UNSUPPORTED_KINDS",
    "VIETNAMESE_COLUMNS",
    "read",
    "read_records",
    "write",
]

NAME = "csv"
EXTENSIONS = (".csv", ".tsv")

PROBLEM_CODES: dict[str, str] = {
    "csv_syntax": "the file is not readable as CSV (for example a quote never closed)",
    "missing_column": "the header row has no text column",
    "unknown_column": "a header the format does not have (misspelt?)",
    "duplicate_column": "two header cells name the same column",
    "extra_cells": "a row has filled cells past the last header column or under a blank one",
    "bad_value": "a cell that does not parse: kind, points, time limit, difficulty, number...",
    "bad_correct": "the correct cell names an option that is not there, or is malformed",
    "unsupported_question": "a row of a kind the engine cannot run (essay...): left out, a warning",
}

_ALIASES = {"question": "text", "answer": "correct", "type": "kind"}
VIETNAMESE_COLUMNS: dict[str, str] = {
    "mã": "id",
    "mã câu hỏi": "id",
    "loại": "kind",
    "loại câu hỏi": "kind",
    "tiêu đề": "title",
    "câu hỏi": "text",
    "nội dung": "text",
    "nội dung câu hỏi": "text",
    "đáp án đúng": "correct",
    "điểm": "points",
    "thời gian": "time_limit",
    "thời gian (giây)": "time_limit",
    "chủ đề": "topic",
    "độ khó": "difficulty",
    "giải thích": "explanation",
    "hình ảnh": "media_url",
    "bỏ qua dấu": "ignore_diacritics",
}
"""Vietnamese header -> column; ``Đáp án A`` (also ``Phương án A``, ``Lựa chọn A``) is
``option_a``. Matched without diacritics and case, so ``Cau hoi`` and ``CÂU HỎI`` work."""
_OPTION_WORDS = ("option", "dap_an", "phuong_an", "lua_chon")
_ROW_NUMBER = frozenset({"stt", "no", "#", "so_thu_tu", "n_o", "nr"})
"""Headers of a row-number column, ignored."""
_KINDS = ("single", "multiple", "true_false", "numeric", "short_text", "prediction")
UNSUPPORTED_KINDS = frozenset(
    {"essay", "matching", "description", "cloze", "multianswer", "calculated", "ordering"}
)
"""Question kinds of other tools (Moodle's) the engine cannot run: such rows are skipped."""
_TRUE = ("true", "t", "1", "yes", "y", "đúng", "đ", "x")
_FALSE = ("false", "f", "0", "no", "n", "sai", "s")
_DIFFICULTY = {"dễ": "easy", "trung bình": "medium", "khó": "hard"}
_MEASURES: dict[str, PredictionMeasure] = {m: m for m in get_args(PredictionMeasure)}
_Bad: TypeAlias = Callable[..., None]


def _key(header: str) -> str:
    """A header cell as looked up: no diacritics, lower case, runs of spaces, ``-`` and
    ``.`` as one ``_`` (``Đáp án A`` -> ``dap_an_a``, ``No.`` -> ``no``)."""
    return re.sub(r"[\s.-]+", "_", strip_diacritics(header).strip().lower()).strip("_")


_NAMES: dict[str, str] = {
    **{name: name for name in COLUMNS},
    **_ALIASES,
    **{_key(vi): column for vi, column in VIETNAMESE_COLUMNS.items()},
}
"""Every header key -> its column (option columns apart)."""
_SUGGEST: dict[str, str] = {
    **{name: name for name in (*COLUMNS, *_ALIASES, "option_a")},
    **{_key(vi): vi for vi in (*VIETNAMESE_COLUMNS, "đáp án a")},
}
"""Header key -> the name an unknown header's problem suggests."""


def _column(header: str) -> str | None:
    """The column a header cell names, ``""`` for a row-number column, ``None`` if unknown."""
    key = _key(header)
    if key in _ROW_NUMBER:
        return ""
    if key in _NAMES:
        return _NAMES[key]
    word, _, letter = key.rpartition("_")
    if word in _OPTION_WORDS and re.fullmatch(r"[a-z]", letter):
        return f"option_{letter}"
    return None


def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse CSV *text*; never raises: what cannot be read is a located problem."""
    rows = _Rows(source)
    text = text.removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=lambda d: (header_line.count(d), d == ","))
    return _read(_records(text, delimiter, rows), rows, bank_id=bank_id, title=title)


def read_records(
    records: Iterator[tuple[int, list[str]]], *, source: str, bank_id: BankId, title: str
) -> Parsed:
    """Questions of a header record and one record per row, each ``(line, cells)``: what
    the spreadsheet (``xlsx``) reader shares with CSV; problems are located by line."""
    return _read(records, _Rows(source), bank_id=bank_id, title=title)


def _read(
    records: Iterator[tuple[int, list[str]]], rows: _Rows, *, bank_id: BankId, title: str
) -> Parsed:
    questions: list[Question] = []
    lines: dict[QuestionId, int] = {}
    topics: dict[TopicId, Topic] = {}
    ids = IdAssigner()
    columns = rows.header(next(records, (1, [])))
    for line, cells in records:
        row = {
            name: cells[i].strip().replace("\r\n", "\n") for i, name in columns if i < len(cells)
        }
        if not any(cell.strip() for cell in cells):
            continue
        if any(cell.strip() for cell in cells[rows.width :]):
            rows.problem("extra_cells", line, "cells past the last header column", None, None)
        for i in rows.unnamed:
            if i < len(cells) and cells[i].strip():
                message = f"a filled cell in column {i + 1}, whose header cell is blank"
                rows.problem("extra_cells", line, message, None, None)
        qid = ids.use(row.get("id") or ids.derive(row.get("title", ""), row.get("text", "")))
        question = rows.question(line, qid, row)
        if question is None:
            continue
        if question.topic is not None:
            topics.setdefault(question.topic, topic_from_label(row["topic"]))
        questions.append(question)
        lines.setdefault(qid, line)  # a repeated id is located on its first
    bank = Bank(id=bank_id, title=title, topics=list(topics.values()), questions=questions)
    return Parsed(bank=bank, problems=rows.problems, lines=lines, skipped=rows.skipped)


def _records(text: str, delimiter: str, rows: _Rows) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            rows.problem("csv_syntax", start, f"not readable as CSV: {exc}", None, None)
            return
        yield start, cells
        start = reader.line_num + 1


class _Rows:
    """Problems of one file, and what each row turns into."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.skipped: list[Problem] = []
        self.width = 0
        self.unnamed: list[int] = []
        """Columns (0-based) whose header cell is blank: a cell under one is reported."""

    def problem(
        self, code: str, line: int, message: str, qid: str | None, field: str | None
    ) -> None:
        where = Location(file=self.source, line=line, question=qid, field=field)
        self.problems.append(Problem(code=code, message=message, where=where))

    def header(self, record: tuple[int, list[str]]) -> list[tuple[int, str]]:
        line, cells = record
        self.width = len(cells)
        columns: list[tuple[int, str]] = []
        for i, cell in enumerate(cells):
            if not cell.strip():
                self.unnamed.append(i)
                continue
            name = _column(cell)
            if name == "":
                continue  # a row-number column
            if name is None:
                message = f"unknown column {cell!r}"
                close = difflib.get_close_matches(_key(cell), _SUGGEST, n=1, cutoff=0.6)
                if close:
                    message += f"; did you mean {_SUGGEST[close[0]]!r}?"
                self.problem("unknown_column", line, message, None, cell)
            elif name in (n for _, n in columns):
                self.problem("duplicate_column", line, f"column {name} appears twice", None, name)
            else:
                columns.append((i, name))
        if "text" not in (n for _, n in columns):
            self.problem("missing_column", line, "the header row has no text column", None, "text")
        return columns

    def question(self, line: int, qid: QuestionId, row: dict[str, str]) -> Question | None:
        def bad(field: str, message: str, code: str = "bad_value") -> None:
            self.problem(code, line, message, qid, field)

        kind = row.get("kind", "").lower() or "single"
        if kind in UNSUPPORTED_KINDS:
            where = Location(file=self.source, line=line, question=qid, field="kind")
            message = f"left out: the engine cannot run {kind} questions"
            self.skipped.append(Problem(code="unsupported_question", message=message, where=where))
            return None
        if kind not in _KINDS:
            bad("kind", f"kind {kind!r} is not one of {', '.join(_KINDS)}")
            return None
        common: dict[str, Any] = {"id": qid, "text": row.get("text", "")}
        common["title"] = row.get("title", "")
        common["explanation"] = row.get("explanation", "")
        common["media_url"] = row.get("media_url") or None
        if row.get("topic"):
            common["topic"] = topic_from_label(row["topic"]).id
        for field in ("points", "time_limit", "max_value"):
            if row.get(field):
                value = parse_number(row[field])
                if value is None or not value.is_integer():
                    bad(field, f"{field} {row[field]!r} is not a whole number")
                elif field != "max_value" or kind == "prediction":
                    common[field] = int(value)
        if row.get("difficulty"):
            difficulty = _DIFFICULTY.get(row["difficulty"].lower(), row["difficulty"].lower())
            if difficulty in ("easy", "medium", "hard"):
                common["difficulty"] = difficulty
            else:
                bad("difficulty", f"difficulty {row['difficulty']!r}: easy, medium or hard")
        correct = row.get("correct", "")
        if kind in ("single", "multiple"):
            options = self.options(row, correct, kind == "single", bad)
            if kind == "single":
                return SingleChoice(**common, options=options)
            return MultipleChoice(**common, options=options)
        if kind == "true_false":
            if correct.lower() not in _TRUE + _FALSE:
                bad("correct", f"true/false answer {correct!r}: true or false")
            return TrueFalse(**common, answer=correct.lower() in _TRUE)
        if kind == "numeric":
            return Numeric(**common, answers=list(self.numeric(correct, bad)))
        if kind == "short_text":
            ignore = row.get("ignore_diacritics", "").lower()
            if ignore not in ("",) + _TRUE + _FALSE:
                bad("ignore_diacritics", f"{ignore!r}: true or false")
            answers = []
            for part in filter(None, (p.strip() for p in correct.split("|"))):
                weight, text = _weighted(part, 1.0, "correct", bad)
                answers.append(TextAnswer(text=text, weight=weight))
            return ShortText(**common, answers=answers, ignore_diacritics=ignore in _TRUE)
        if correct:
            bad("correct", "a prediction question has no correct answer", "bad_correct")
        measure = row.get("measure") or "perfect_scores"
        if measure not in _MEASURES:
            bad("measure", f"measure {measure!r} is not one of {', '.join(_MEASURES)}")
        return Prediction(**common, measure=_MEASURES.get(measure, "perfect_scores"))

    def options(self, row: dict[str, str], correct: str, single: bool, bad: _Bad) -> list[Option]:
        texts = {name[-1]: row[name] for name in sorted(row) if name.startswith("option_")}
        letters = [letter for letter, text in texts.items() if text]
        last = max(letters, default="`")
        letters = [chr(c) for c in range(ord("a"), ord(last) + 1)]
        weights: dict[str, float] = {}
        bare: list[str] = []
        named: set[str] = set()
        for token in filter(None, (t.strip() for t in re.split(r"[,;]", correct))):
            letter, _, percent = token.lower().partition(":")
            letter = letter.strip()
            if letter not in letters or not texts.get(letter):
                bad("correct", f"{token!r} names no option", "bad_correct")
            elif letter in named:
                bad("correct", f"{token!r}: option {letter} is named twice", "bad_correct")
            elif not percent:
                named.add(letter)
                bare.append(letter)
            elif (weight := parse_percent(percent.strip().removesuffix("%"))) is None:
                bad("correct", f"{token!r}: the weight is not a percentage", "bad_correct")
            else:
                named.add(letter)
                weights[letter] = weight
        rest = 1.0 - sum(w for w in weights.values() if w > 0)
        for letter in bare:
            weights[letter] = 1.0 if single else rest / len(bare)
        return [
            Option(id=option_id(i), text=texts.get(letter, ""), weight=weights.get(letter, 0.0))
            for i, letter in enumerate(letters)
        ]

    def numeric(self, correct: str, bad: _Bad) -> Iterator[NumericAnswer]:
        for part in filter(None, (p.strip() for p in correct.split("|"))):
            weight, text = _weighted(part, 1.0, "correct", bad)
            answer = numeric_answer(text, weight=weight, decimal_comma=True)
            if answer is None:
                bad("correct", f"{text!r} is not a number, value:tolerance or low..high")
            else:
                yield answer


def _weighted(text: str, default: float, field: str, bad: _Bad) -> tuple[float, str]:
    marker = leading_percent(text)
    if marker is None:
        return default, text
    percent, weight, end = marker
    if weight is None:
        bad(field, f"%{percent}% is not a percentage")
        weight = 0.0
    return weight, text[end:].strip()
