"""Aiken: single-choice questions as plain text, one question after another.

::

    Thủ đô của Việt Nam là?
    A. Hà Nội
    B) Huế
    C. Đà Nẵng
    ANSWER: A

The question text is every line before the first option (several lines are joined with
line breaks); an option is a capital letter, ``.`` or ``)``, a space and its text; the
``ANSWER:`` line (any case, spaces allowed around the colon) names the correct letter and
ends the question. Blank lines are ignored. Option ids are the letters in lower case
(``a``, ``b``...); question ids are derived from the text (see :mod:`._common`), as
Aiken has no ids.

Aiken has only single choice with one correct option and nothing else: writing reports as
``not_expressible`` every other kind, partial credit, points, time limit, topic,
difficulty, explanation, media, title, feedback and ids it cannot keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeAlias

from ..errors import Location, Problem
from ..ids import BankId, OptionId, QuestionId
from ..models import Bank, Option, Question, SingleChoice
from . import Parsed, Written
from ._common import IdAssigner, lost, untrimmed

__all__ = ["EXTENSIONS", "NAME", "PROBLEM_CODES", "read", "write"]

NAME = "aiken"
EXTENSIONS = (".aiken",)

PROBLEM_CODES: dict[str, str] = {
    "option_without_question": "an option line (A. ...) with no question text before it",
    "answer_without_question": "an ANSWER: line with no question and options before it",
    "missing_answer": "a question whose options are not followed by an ANSWER: line",
    "bad_answer": "the ANSWER: line does not name one of the question's option letters",
    "duplicate_option_label": "two options of one question have the same letter",
}

_OPTION = re.compile(r"([A-Z])[.)][ \t]+(.*)")
_ANSWER = re.compile(r"ANSWER\s*:(.*)", re.IGNORECASE)
_Report: TypeAlias = Callable[[str, int, str], None]


class _Pending:
    def __init__(self, line: int) -> None:
        self.line = line
        self.text: list[str] = []
        self.options: list[tuple[int, str, str]] = []


def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse Aiken *text*; never raises: what cannot be read is a located problem."""
    problems: list[Problem] = []
    questions: list[Question] = []
    lines: dict[QuestionId, int] = {}
    ids = IdAssigner()
    pending: _Pending | None = None

    def problem(code: str, line: int, message: str) -> None:
        problems.append(Problem(code=code, message=message, where=Location(file=source, line=line)))

    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")), start=1):
        line = raw.strip()
        if not line:
            continue
        if (answer := _ANSWER.fullmatch(line)) is not None:
            if pending is None or not pending.options:
                problem("answer_without_question", number, "ANSWER: with no question before it")
            else:
                question = _finish(pending, answer[1].strip(), number, ids, problem)
                if question is not None:
                    questions.append(question)
                    lines.setdefault(question.id, pending.line)
            pending = None
        elif (option := _OPTION.fullmatch(line)) is not None:
            if pending is None:
                problem("option_without_question", number, f"option {option[1]} has no question")
            else:
                pending.options.append((number, option[1], option[2].strip()))
        else:
            if pending is not None and pending.options:
                problem("missing_answer", pending.line, "the options end without an ANSWER: line")
                pending = None
            if pending is None:
                pending = _Pending(number)
            pending.text.append(line)
    if pending is not None:
        problem("missing_answer", pending.line, "the file ends before this question's ANSWER:")
    bank = Bank(id=bank_id, title=title, questions=questions)
    return Parsed(bank=bank, problems=problems, lines=lines)


def _finish(
    pending: _Pending, letter: str, number: int, ids: IdAssigner, problem: _Report
) -> Question | None:
    labels = [label for _, label, _ in pending.options]
    duplicates = False
    for (line, label, _), earlier in zip(pending.options, range(len(labels)), strict=True):
        if label in labels[:earlier]:
            problem("duplicate_option_label", line, f"a second option {label}")
            duplicates = True
    if duplicates:
        return None
    if letter.upper() not in labels or len(letter) != 1:
        problem("bad_answer", number, f"ANSWER: {letter!r} is not one of {', '.join(labels)}")
        return None
    text = "\n".join(pending.text)
    options = [
        Option(id=OptionId(label.lower()), text=option, weight=float(label == letter.upper()))
        for _, label, option in pending.options
    ]
    return SingleChoice(id=ids.use(ids.derive("", text)), text=text, options=options)


def write(bank: Bank) -> Written:
    """Aiken text of the single-choice questions of *bank*; a warning for all it loses."""
    out: list[str] = []
    warnings: list[Problem] = []
    if bank.topics:
        warnings.append(lost(None, "topics", "Aiken has no topics"))
    if bank.language != "vi":
        warnings.append(lost(None, "language", "Aiken has no language"))
    ids = IdAssigner()
    for q in bank.questions:
        if not isinstance(q, SingleChoice):
            warnings.append(
                lost(q.id, "kind", f"Aiken has only single choice, not {type(q).__name__}")
            )
            continue
        correct = [i for i, o in enumerate(q.options) if o.weight == 1.0]
        if len(correct) != 1 or not 2 <= len(q.options) <= 26:
            warnings.append(lost(q.id, "options", "not one correct option among 2-26: left out"))
            continue
        warnings += _lost_fields(q)
        if (trimmed := untrimmed(q)) is not None:
            warnings.append(trimmed)
        text = "\n".join(line.strip() for line in q.text.split("\n") if line.strip())
        if text != q.text or any(_special(line) for line in text.split("\n")):
            warnings.append(lost(q.id, "text", "blank lines, edge spaces or A./ANSWER: lines"))
            text = " ".join(q.text.split())
        if ids.derive("", text) != q.id:
            warnings.append(lost(q.id, "id", "Aiken has no ids: the id is derived from the text"))
        ids.use(ids.derive("", text))
        out.append(text)
        for i, option in enumerate(q.options):
            option_text = option.text
            if "\n" in option_text or option_text != option_text.strip() or not option_text:
                option_text = " ".join(option_text.split())
                warnings.append(lost(q.id, f"options[{i}].text", "empty, line breaks, edge spaces"))
            out.append(f"{chr(ord('A') + i)}. {option_text}")
        out.append(f"ANSWER: {chr(ord('A') + correct[0])}\n")
    return Written(text="\n".join(out), warnings=warnings)


def _special(line: str) -> bool:
    return bool(_OPTION.fullmatch(line) or _ANSWER.fullmatch(line))


def _lost_fields(q: SingleChoice) -> list[Problem]:
    warnings = []
    for field, kept in (
        ("points", q.points == 10),
        ("time_limit", q.time_limit is None),
        ("topic", q.topic is None),
        ("difficulty", q.difficulty == "medium"),
        ("explanation", not q.explanation),
        ("media_url", q.media_url is None),
        ("title", not q.title),
    ):
        if not kept:
            warnings.append(lost(q.id, field, f"Aiken has no {field}"))
    if any(o.weight not in (0.0, 1.0) for o in q.options):
        warnings.append(lost(q.id, "options", "Aiken has no partial credit"))
    if any(o.feedback for o in q.options):
        warnings.append(lost(q.id, "options", "Aiken has no option feedback"))
    if [o.id for o in q.options] != [chr(ord("a") + i) for i in range(len(q.options))]:
        warnings.append(lost(q.id, "options", "option ids become a, b, c..."))
    return warnings
