"""GIFT writer (``question_bank.formats.gift.write``): the dialect the GIFT reader reads.

Each question is preceded by ``// @key: value`` comments for what GIFT has no syntax for
(id when the reader would not derive it, points, time limit, difficulty, media URL,
ignore_diacritics), and by a ``$CATEGORY:`` line whenever its topic changes. Texts are
escaped (``\\~ \\= \\# \\{ \\} \\: \\\\``, line breaks as ``\\n``); a text that would read as a
``[format]`` marker, a comment or a category gets a ``[moodle]`` marker in front.
Prediction questions, the bank's language, unused topics and topics whose name does not
slug to their id are reported as ``not_expressible``.
"""

from __future__ import annotations

from ..errors import Problem
from ..models import (
    Bank,
    MultipleChoice,
    Numeric,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    Topic,
    TrueFalse,
)
from . import Written
from ._common import (
    IdAssigner,
    format_numeric_answer,
    format_percent,
    lost,
    option_id,
    topic_label,
    untrimmed,
)
from ._gifttext import category_topic, escape, split_format

__all__ = ["write"]


def write(bank: Bank) -> Written:
    """GIFT text of *bank*, with a ``not_expressible`` warning for everything it loses."""
    warnings: list[Problem] = []
    out = [f"// {_one_line(bank.title)} (bank {_one_line(bank.id)}, version {bank.version})\n"]
    if bank.language != "vi":
        warnings.append(lost(None, "language", f"GIFT has no language: {bank.language!r} lost"))
    written = [q for q in bank.questions if not isinstance(q, Prediction)]
    used = {q.topic for q in written if q.topic is not None}
    by_id = {t.id: t for t in bank.topics}
    for topic in bank.topics:
        if topic.id not in used:
            warnings.append(lost(None, "topics", f"topic {topic.id!r} has no question: lost"))
        elif category_topic(_path(topic)) != topic:
            message = f"topic {topic.id!r} (name {topic.name!r}) reads back differently"
            warnings.append(lost(None, "topics", message))
    ids, current = IdAssigner(), None
    for q in bank.questions:
        if isinstance(q, Prediction):
            warnings.append(lost(q.id, None, "GIFT has no prediction questions: left out"))
            continue
        if q.topic != current:
            known = by_id.get(q.topic, Topic(id=q.topic)) if q.topic is not None else None
            out.append(f"$CATEGORY: {_path(known)}\n")
            current = q.topic
        lines, more = _question(q, ids)
        out.append("\n".join(lines) + "\n")
        warnings += more
    return Written(text="\n".join(out), warnings=warnings)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _path(topic: Topic | None) -> str:
    if topic is None:
        return "$course$/top"
    return "$course$/top/" + escape(topic_label(topic)[0].replace("/", "//"))


def _esc(text: str, *, line_start: bool = False) -> str:
    """Escaped *text* that reads back as itself (a ``[moodle]`` marker guards lookalikes)."""
    escaped = escape(text)
    guard = split_format(text, "")[0] != "" or (
        line_start and escaped.startswith(("//", "$CATEGORY:"))
    )
    return "[moodle]" + escaped if guard else escaped


def _fb(feedback: str) -> str:
    return "#" + _esc(feedback) if feedback else ""


def _question(q: Question, ids: IdAssigner) -> tuple[list[str], list[Problem]]:
    warnings: list[Problem] = []
    lines = []
    if ids.derive(q.title, q.text) != q.id:
        lines.append(f"// @id: {q.id}")
    ids.use(q.id)
    if q.points != 10:
        lines.append(f"// @points: {q.points}")
    if q.time_limit is not None:
        lines.append(f"// @time_limit: {q.time_limit}")
    if q.difficulty != "medium":
        lines.append(f"// @difficulty: {q.difficulty}")
    if q.media_url is not None:
        lines.append(f"// @media_url: {q.media_url}")
    if isinstance(q, ShortText) and q.ignore_diacritics:
        lines.append("// @ignore_diacritics: true")
    for key, value in (("id", q.id), ("media_url", q.media_url or "")):
        if value != " ".join(value.split()) or "\n" in value:
            warnings.append(lost(q.id, key, f"the {key} has spaces at its ends or line breaks"))
    head = (f"::{escape(q.title)}::" if q.title else "") + _esc(q.text, line_start=not q.title)
    body, more = _answers(q)
    warnings += more
    if (trimmed := untrimmed(q)) is not None:
        warnings.append(trimmed)
    explanation = "####" + _esc(q.explanation) if q.explanation else ""
    if len(body) <= 1:
        lines.append(head + "{" + "".join(body) + explanation + "}")
    else:
        lines.append(head + "{")
        lines += ["\t" + line for line in body]
        if explanation:
            lines.append("\t" + explanation)
        lines.append("}")
    return lines, warnings


def _option(option: Option, *, single: bool) -> str:
    if single and option.weight == 1.0:
        return "=" + _esc(option.text) + _fb(option.feedback)  # no %weight% is read after =
    weight = ""
    if option.weight != 0.0 or option.text.startswith("%"):
        weight = f"%{format_percent(option.weight)}%"
    return "~" + weight + _esc(option.text) + _fb(option.feedback)


def _answers(q: Question) -> tuple[list[str], list[Problem]]:
    """The answer block's lines (a single line is written inline), and what they lose."""
    warnings: list[Problem] = []
    match q:
        case SingleChoice() | MultipleChoice():
            single = isinstance(q, SingleChoice)
            lines = [_option(option, single=single) for option in q.options]
            if [o.id for o in q.options] != [option_id(i) for i in range(len(q.options))]:
                warnings.append(lost(q.id, "options", "option ids are renumbered a, b, c..."))
            if not lines:
                warnings.append(lost(q.id, "options", "a choice question without options"))
            return lines, warnings
        case TrueFalse():
            wrong, right = q.feedback_false, q.feedback_true
            if not q.answer:
                wrong, right = right, wrong
            text = "TRUE" if q.answer else "FALSE"
            if wrong or right:
                text += "#" + _esc(wrong) + ("#" + _esc(right) if right else "")
            return [text], warnings
        case Numeric():
            lines = []
            for a in q.answers:
                value = format_numeric_answer(a)
                if value is None:
                    warnings.append(lost(q.id, "answers", "an answer without value or range"))
                    continue
                if a.low is not None and a.high is not None and a.value is not None:
                    warnings.append(lost(q.id, "answers", "a value beside a range is lost"))
                weight = "" if a.weight == 1.0 else f"%{format_percent(a.weight)}%"
                lines.append("=" + weight + value + _fb(a.feedback))
            if len(lines) == 1 and lines[0].startswith("=") and "%" not in lines[0][:2]:
                return ["#" + lines[0][1:]], warnings
            return ["#", *lines], warnings
        case ShortText():
            if any("->" in a.text + a.feedback for a in q.answers):
                warnings.append(lost(q.id, "answers", "'->' in an answer reads as matching"))
            if not q.answers:
                warnings.append(lost(q.id, "answers", "a short-text question without answers"))
            lines = []
            for t in q.answers:
                weight = ""
                if t.weight != 1.0 or t.text.startswith("%"):
                    weight = f"%{format_percent(t.weight)}%"
                lines.append("=" + weight + _esc(t.text) + _fb(t.feedback))
            if all(a.weight == 1.0 and not a.feedback for a in q.answers):
                lines = [" ".join(lines)]
            return lines, warnings
    return [], warnings  # pragma: no cover - predictions are left out before
