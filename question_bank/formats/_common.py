"""What the foreign formats (GIFT, Aiken, CSV) share: ids, topics, numbers and weights.

None of those formats has question ids, topic ids or exact weights of its own, so the rules
that make them are here, once, and the writers use the same rules backwards:

* **Question ids** (:class:`IdAssigner`): an explicit id if the format has one (a GIFT
  ``// @id:`` comment, the CSV ``id`` column); else the question's title if it is a valid
  id; else ``q`` and the first 8 hex digits of the SHA-256 of the question text, so the id
  survives edits elsewhere in the file. A derived id already used gets ``-2``, ``-3``...
* **Topics** (:func:`topic_from_label`): a category or topic cell ``Lịch sử Việt Nam``
  becomes the topic id ``lich-su-viet-nam`` (diacritics dropped, lower case, runs of other
  characters turned into ``-``) named ``Lịch sử Việt Nam``; a label that already is that
  slug (``lich-su``) gives a topic with no name. :func:`topic_label` is the way back.
* **Option ids**: ``a``, ``b``, ... ``z``, then ``aa``, ``ab``... in order.
* **Numbers and percent weights** are written in the shortest decimal form that reads back
  to the same float.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from decimal import Decimal

import msgspec
import msgspec.inspect

from ..errors import Location, Problem
from ..ids import OptionId, QuestionId, TopicId
from ..models import Bank, NumericAnswer, Question, Topic
from ..text import strip_diacritics
from ..validation import is_valid_id

__all__ = [
    "IdAssigner",
    "format_number",
    "format_numeric_answer",
    "format_percent",
    "kind_of",
    "leading_percent",
    "lost",
    "numeric_answer",
    "option_id",
    "parse_number",
    "parse_percent",
    "slug",
    "topic_from_label",
    "topic_label",
    "topics_in_order",
    "untrimmed",
]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PERCENT_MARKER = re.compile(r"%([^%]*)%")
_LOOKS_NUMERIC = re.compile(r"\s*[-+.\d][^%]*")


class IdAssigner:
    """Gives each question of one file its id, by the rules in the module docstring.

    Readers call ``use(explicit or derive(title, text))``; writers call :meth:`derive` to
    know whether the reader will find the id by itself, then ``use(question.id)``, so both
    sides see the same sequence of used ids.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next: dict[str, int] = {}
        """Per hash base, the suffix below which every candidate is used (``1``: the bare
        base). Ids are never unmarked, so the search for a base resumes there: a file with
        *n* questions of one text costs O(n) look-ups, not O(n²)."""

    def derive(self, title: str, text: str) -> QuestionId:
        """The id a question without an explicit one gets (does not mark it used)."""
        if is_valid_id(title):
            return QuestionId(title)
        base = "q" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        n = self._next.get(base, 1)
        qid = base if n == 1 else f"{base}-{n}"
        while qid in self._used:
            n += 1
            qid = f"{base}-{n}"
        self._next[base] = n
        return QuestionId(qid)

    def use(self, qid: str) -> QuestionId:
        self._used.add(qid)
        return QuestionId(qid)


def option_id(index: int) -> OptionId:
    """``a`` for 0, ``b`` for 1, ... ``z``, then ``aa``, ``ab``..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return OptionId(letters)


def slug(label: str) -> str:
    """``Lịch sử Việt Nam`` -> ``lich-su-viet-nam``; ``""`` if nothing is left."""
    return _NOT_SLUG.sub("-", strip_diacritics(label).lower()).strip("-")[:64]


def topic_from_label(label: str) -> Topic:
    """The topic a GIFT category (its last part) or a CSV ``topic`` cell names."""
    label = label.strip()
    tid = slug(label) or "topic-" + hashlib.sha256(label.encode()).hexdigest()[:8]
    return Topic(id=TopicId(tid), name="" if label == tid else label)


def topic_label(topic: Topic) -> tuple[str, bool]:
    """The label that reads back as *topic*, and whether it keeps both id and name.

    The name when it slugs to the id, else the id (so draws' quotas keep working) and
    ``False``: the name is lost.
    """
    if not topic.name:
        return topic.id, slug(topic.id) == topic.id
    if slug(topic.name) == topic.id and topic.name == topic.name.strip():
        return topic.name, True
    return topic.id, False


def topics_in_order(questions: list[Question], bank: Bank) -> list[Topic]:
    """Topics of *bank* in the order questions first use them (what a reader rebuilds)."""
    by_id = {t.id: t for t in bank.topics}
    seen: dict[TopicId, Topic] = {}
    for q in questions:
        if q.topic is not None and q.topic not in seen:
            seen[q.topic] = by_id.get(q.topic, Topic(id=q.topic))
    return list(seen.values())


def parse_number(text: str, *, decimal_comma: bool = False) -> float | None:
    """A finite decimal number (``3``, ``-2.5``, ``1e3``), or ``None``.

    With *decimal_comma*, ``3,5`` is read as 3.5 too (spreadsheets in Vietnamese locale).
    """
    text = text.strip()
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def numeric_answer(
    text: str, *, weight: float = 1.0, feedback: str = "", decimal_comma: bool = False
) -> NumericAnswer | None:
    """``3``, ``3:0.5`` (value:tolerance) or ``1..5`` (range) as an answer, else ``None``."""

    def number(part: str) -> float | None:
        return parse_number(part, decimal_comma=decimal_comma)

    if text.find("..") > 0:
        low, high = (number(part) for part in text.split("..", 1))
        if low is None or high is None:
            return None
        return NumericAnswer(low=low, high=high, weight=weight, feedback=feedback)
    if text.find(":") > 0:
        value, tolerance = (number(part) for part in text.split(":", 1))
        if value is None or tolerance is None:
            return None
        return NumericAnswer(value=value, tolerance=tolerance, weight=weight, feedback=feedback)
    value = number(text)
    return None if value is None else NumericAnswer(value=value, weight=weight, feedback=feedback)


def format_numeric_answer(answer: NumericAnswer) -> str | None:
    """What :func:`numeric_answer` reads back as *answer*'s range or value: ``low..high``,
    ``value:tolerance`` or ``value``; ``None`` for an answer with neither."""
    if answer.low is not None and answer.high is not None:
        return f"{format_number(answer.low)}..{format_number(answer.high)}"
    if answer.value is None:
        return None
    text = format_number(answer.value)
    return text + ":" + format_number(answer.tolerance) if answer.tolerance else text


def format_number(value: float) -> str:
    """Shortest decimal text that reads back as *value* (``3`` for 3.0)."""
    value = float(value)  # an int passed where the model says float
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def parse_percent(text: str) -> float | None:
    """``50`` -> 0.5, ``33.333`` -> 0.33333 (in decimal, so no ``0.33332999``); else ``None``."""
    value = parse_number(text)
    if value is None:
        return None
    try:
        return float(Decimal(text.strip()).scaleb(-2))
    except ArithmeticError:  # an exponent past Decimal's limits (0e99999999999999999999)
        return value / 100


def leading_percent(text: str) -> tuple[str, float | None, int] | None:
    """The ``%50%`` weight marker *text* starts with, as (``"50"``, 0.5, where the rest
    begins); the weight is ``None`` when the marker looks numeric but is no percentage
    (``%1.2.3%``). ``None`` when *text* starts with no marker that looks like a number."""
    m = _PERCENT_MARKER.match(text)
    if m is None or not _LOOKS_NUMERIC.fullmatch(m[1]):
        return None
    return m[1], parse_percent(m[1]), m.end()


def format_percent(weight: float) -> str:
    """The percentage that :func:`parse_percent` reads back as exactly *weight* (``50``)."""
    percent = Decimal(repr(weight)).scaleb(2)
    text = format(percent, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text) > 24:  # a weight such as 1e-200: exponent notation
        text = str(percent)
    return "0" if text == "-0" else text


def untrimmed(q: Question) -> Problem | None:
    """A warning when a text of *q* has whitespace at an end or a ``\\r`` (readers trim, split)."""
    texts = [q.text, q.title, q.explanation]
    for item in getattr(q, "options", None) or getattr(q, "answers", None) or []:
        texts += [getattr(item, "text", ""), item.feedback]
    texts += [getattr(q, "feedback_true", ""), getattr(q, "feedback_false", "")]
    if any(text != text.strip() or "\r" in text for text in texts):
        return lost(q.id, None, "texts are trimmed (spaces, line breaks) and lose their \\r")
    return None


def kind_of(q: Question) -> str:
    """The ``kind`` tag of *q* (``single``, ``true_false``...)."""
    return _kind_tag(type(q))


@functools.cache
def _kind_tag(cls: type) -> str:
    return str(msgspec.inspect.type_info(cls).tag)  # type: ignore[attr-defined]


def lost(question: str | None, field: str | None, message: str) -> Problem:
    """A writer's warning: something the format cannot express was left out or changed."""
    return Problem(
        code="not_expressible", message=message, where=Location(question=question, field=field)
    )
