"""Moodle GIFT: read and write, following Moodle's own ``qformat_gift`` rules.

Reading (see docs/question-banks.md for the full mapping):

* Questions are separated by blank lines; lines are trimmed; a line starting with ``//``
  is a comment. A comment ``// @key: value`` inside a question's block carries what GIFT
  has no syntax for (``id``, ``points``, ``time_limit``, ``difficulty``, ``media_url``,
  ``ignore_diacritics``); Moodle ignores such comments, so files stay valid GIFT.
* ``$CATEGORY: $course$/top/Lịch sử`` sets the topic of the questions after it (the last
  part of the path; ``$course$/top`` or an empty path: no topic).
* ``::title::text{answers}``; the answer block in the middle of the text (Moodle's "missing
  word") becomes ``_____`` in the text. Kinds as Moodle decides them: ``{#...}`` numeric,
  any ``~`` choice (single when some answer starts with ``=``, else multiple), ``=`` with
  ``->`` matching, ``T``/``TRUE``/``F``/``FALSE`` true/false, else short answer.
* ``[html]``, ``[moodle]``, ``[plain]``, ``[markdown]`` markers are removed; HTML is turned
  into plain text (tags dropped, entities decoded, ``<br>``/``<p>`` as line breaks) and the
  first ``http(s)`` ``<img>`` of the question text becomes its ``media_url``.
* Essay (``{}``), matching, descriptions (no answer block) and several answer blocks are
  questions the engine cannot run: each is left out and reported (``Parsed.skipped``, a
  warning with its line), so the rest of a Moodle export imports; a numeric "any other
  answer" feedback (``~#...``) is dropped from its question, reported the same way.

Ids follow :mod:`._common`: ``// @id:``, else the title if it is a valid id, else a hash of
the question text. Writing emits the same dialect, with a ``not_expressible`` warning for
what GIFT cannot hold (prediction questions, language, unused topics...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..errors import Location, Problem
from ..ids import BankId, QuestionId
from ..models import (
    DIFFICULTIES,
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Question,
    ShortText,
    SingleChoice,
    TextAnswer,
    Topic,
    TrueFalse,
)
from . import Parsed
from ._common import IdAssigner, leading_percent, numeric_answer, option_id
from ._gifttext import Escaped, category_topic, html_to_text, split_format
from ._giftwrite import write

__all__ = ["EXTENSIONS", "NAME", "PROBLEM_CODES", "category_topic", "read", "write"]

NAME = "gift"
EXTENSIONS = (".gift", ".txt")

PROBLEM_CODES: dict[str, str] = {
    "syntax_error": "unbalanced braces, an unclosed ::title::, a nested { ... }",
    "unsupported_question": "a question the engine cannot run: essay, matching, description,"
    " several answer blocks in one text",
    "unsupported_feature": "a part of a question the engine does not keep (numeric ~# feedback)",
    "bad_weight": "a %weight% that is not a number",
    "bad_number": "a numeric answer that is not a number, value:tolerance or low..high",
    "bad_metadata": "a // @key: value comment with a bad value, or not inside a question",
}

_TRUE_FALSE = {"T": True, "TRUE": True, "F": False, "FALSE": False}
_META = re.compile(r"//\s*@([a-z_]+)\s*:(.*)")
_META_KEYS = ("id", "points", "time_limit", "difficulty", "media_url", "ignore_diacritics")
_BLANK = "_____"


def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse GIFT *text*; never raises: what cannot be read is a located problem."""
    reader = _Reader(source)
    block: list[tuple[int, str]] = []
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if line:
            block.append((number, line))
        elif block:
            reader.block(block)
            block = []
    if block:
        reader.block(block)
    bank = Bank(
        id=bank_id, title=title, topics=list(reader.topics.values()), questions=reader.questions
    )
    return Parsed(bank=bank, problems=reader.problems, lines=reader.lines, skipped=reader.skipped)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.skipped: list[Problem] = []
        """What the engine cannot run, left out: ``unsupported_*`` warnings."""
        self.questions: list[Question] = []
        self.lines: dict[QuestionId, int] = {}
        self.topics: dict[str, Topic] = {}
        self.topic: Topic | None = None
        self.ids = IdAssigner()

    def problem(self, code: str, line: int, message: str, question: str | None = None) -> None:
        where = Location(file=self.source, line=line, question=question)
        self.problems.append(Problem(code=code, message=message, where=where))

    def skip(self, code: str, line: int, message: str, question: str | None = None) -> None:
        """Leave out what the engine cannot run; a warning located like a problem."""
        where = Location(file=self.source, line=line, question=question)
        self.skipped.append(Problem(code=code, message=f"left out: {message}", where=where))

    def block(self, block: list[tuple[int, str]]) -> None:
        meta: dict[str, tuple[str, int]] = {}
        content: list[tuple[int, str]] = []
        for number, line in block:
            if not line.startswith("//"):
                content.append((number, line))
            elif (m := _META.fullmatch(line)) and m[1] in _META_KEYS:
                meta[m[1]] = (m[2].strip(), number)
        if content and content[0][1].startswith("$CATEGORY:"):
            self.topic = category_topic(str(Escaped.parse([content[0]]))[len("$CATEGORY:") :])
            if self.topic is not None:
                self.topics.setdefault(self.topic.id, self.topic)
            content = content[1:]
        if content:
            self.question(Escaped.parse(content), meta)
        else:
            for _, number in meta.values():
                self.problem("bad_metadata", number, "a // @ comment not inside a question")

    def question(self, src: Escaped, meta: dict[str, tuple[str, int]]) -> None:
        start = src.line()
        title = ""
        if src.startswith("::"):
            end = src.find("::", 2)
            if end < 0:
                self.problem("syntax_error", start, "the ::title:: is not closed with ::")
                return
            title, src = src[2:end].text.strip(), src[end + 2 :].strip()
        opening, closing = src.find("{"), src.find("}")
        if opening < 0 and closing < 0:
            self.skip("unsupported_question", start, "a description (no answer block {...})")
            return
        if opening < 0 or closing < 0 or closing < opening:
            where = src.line(closing if opening < 0 or 0 <= closing < opening else opening)
            self.problem("syntax_error", where, "unbalanced braces: { without } or } without {")
            return
        if 0 <= src.find("{", opening + 1) < closing:
            self.problem("syntax_error", src.line(opening), "a { inside an answer block")
            return
        before, answers, after = (
            src[:opening],
            src[opening + 1 : closing].strip(),
            src[closing + 1 :],
        )
        if after.find("{") >= 0 or after.find("}") >= 0:
            self.skip("unsupported_question", src.line(closing + 1), "several answer blocks")
            return
        fmt, text = split_format(
            (before.text + _BLANK + after.text if after.text.strip() else before.text).strip(),
            "moodle",
        )
        media = None
        if fmt == "html":
            text, media = html_to_text(text)
        explanation = ""
        if (cut := answers.rfind("####")) >= 0:
            explanation = _text(answers[cut + 4 :], fmt)
            answers = answers[:cut].strip()
        qid = self.ids.use(meta["id"][0] if "id" in meta else self.ids.derive(title, text.strip()))
        common = self.common(qid, meta, media)
        common.update(id=qid, title=title, text=text.strip(), explanation=explanation)
        question = self.answers(answers, fmt, common, meta)
        if question is not None:
            self.questions.append(question)
            self.lines.setdefault(qid, start)  # a repeated id is located on its first

    def common(
        self, qid: str, meta: dict[str, tuple[str, int]], media: str | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"topic": self.topic.id if self.topic else None}
        fields["media_url"] = media
        for key, (value, number) in meta.items():
            if key in ("points", "time_limit"):
                if value.isascii() and value.isdigit() and len(value) > 20:
                    self.problem("bad_metadata", number, f"@{key} is far too large", qid)
                elif value.isascii() and value.isdigit():
                    fields[key] = int(value)
                else:
                    self.problem("bad_metadata", number, f"@{key} must be a whole number", qid)
            elif key == "difficulty":
                if value in DIFFICULTIES:
                    fields[key] = value
                else:
                    self.problem("bad_metadata", number, "@difficulty: easy, medium or hard", qid)
            elif key == "media_url":
                fields[key] = value or None
        return fields

    def answers(
        self, src: Escaped, fmt: str, common: dict[str, Any], meta: dict[str, tuple[str, int]]
    ) -> Question | None:
        qid, line = common["id"], src.line()
        if not src.text:
            self.skip("unsupported_question", line, "an essay question ({})", qid)
            return None
        if src.startswith("#"):
            return Numeric(**common, answers=list(self.numeric(src[1:], fmt, qid)))
        if src.find("~") >= 0:
            pieces = src.split("~=")
            if not pieces[0][1].text.strip():
                pieces = pieces[1:]
            options = [
                self.option(i, sep, piece, fmt, qid) for i, (sep, piece) in enumerate(pieces)
            ]
            if any(sep == "=" for sep, _ in pieces):
                return SingleChoice(**common, options=options)
            return MultipleChoice(**common, options=options)
        if src.find("=") >= 0 and "->" in src.text:
            self.skip("unsupported_question", line, "a matching question (=a -> b)", qid)
            return None
        hash_ = src.find("#")
        check = src[:hash_].text.strip() if hash_ > 0 else src.text
        if check in _TRUE_FALSE:
            bits = [piece for _, piece in src.split("#", maxsplit=2)] + [src[0:0]] * 2
            answer, wrong, right = _TRUE_FALSE[check], _text(bits[1], fmt), _text(bits[2], fmt)
            return TrueFalse(
                **common,
                answer=answer,
                feedback_true=right if answer else wrong,
                feedback_false=wrong if answer else right,
            )
        ignore = meta.get("ignore_diacritics", ("false", 0))
        if ignore[0] not in ("true", "false"):
            self.problem("bad_metadata", ignore[1], "@ignore_diacritics: true or false", qid)
        texts = []
        for _, piece in _drop_empty_first(src.split("=")):
            weight, rest = self.weight(piece.strip(), 1.0, qid)
            answer_text, feedback = _feedback(rest, fmt)
            texts.append(TextAnswer(text=answer_text, weight=weight, feedback=feedback))
        return ShortText(**common, answers=texts, ignore_diacritics=ignore[0] == "true")

    def weight(self, piece: Escaped, default: float, qid: str) -> tuple[float, Escaped]:
        """Read a leading ``%50%``: (0.5, rest); none: (*default*, piece)."""
        marker = leading_percent(piece.text)
        if marker is None:
            return default, piece
        percent, value, end = marker
        if value is None:
            self.problem("bad_weight", piece.line(), f"%{percent}% is not a percentage", qid)
            value = 0.0
        return value, piece[end:]

    def option(self, index: int, sep: str, piece: Escaped, fmt: str, qid: str) -> Option:
        piece = piece.strip()
        weight, rest = (1.0, piece) if sep == "=" else self.weight(piece, 0.0, qid)
        text, feedback = _feedback(rest, fmt)
        return Option(id=option_id(index), text=text, weight=weight, feedback=feedback)

    def numeric(self, src: Escaped, fmt: str, qid: str) -> Iterator[NumericAnswer]:
        if (other := src.find("~")) >= 0:
            self.skip(
                "unsupported_feature",
                src.line(other),
                "the feedback for any other answer (~#...) of a numeric question is not kept",
                qid,
            )
            src = src[:other]
        for _, piece in _drop_empty_first(src.split("=")):
            weight, rest = self.weight(piece.strip(), 1.0, qid)
            text, feedback = _feedback(rest, fmt)
            answer = numeric_answer(text, weight=weight, feedback=feedback)
            if answer is None:
                message = f"{text!r} is not a number, value:tolerance or low..high"
                self.problem("bad_number", piece.line(), message, qid)
            else:
                yield answer


def _drop_empty_first(pieces: list[tuple[str, Escaped]]) -> list[tuple[str, Escaped]]:
    return pieces[1:] if pieces and not pieces[0][1].text.strip() else pieces


def _text(src: Escaped, default_format: str) -> str:
    """One text of a question (answer, feedback): trimmed, marker removed, HTML as text."""
    fmt, text = split_format(src.text.strip(), default_format)
    if fmt == "html":
        return html_to_text(text)[0]
    return text.strip()


def _feedback(src: Escaped, fmt: str) -> tuple[str, str]:
    """``answer#feedback`` -> (answer, feedback)."""
    cut = src.find("#")
    if cut < 0:
        return _text(src, fmt), ""
    return _text(src[:cut], fmt), _text(src[cut + 1 :], fmt)
