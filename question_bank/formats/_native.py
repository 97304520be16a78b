"""What the native YAML and JSON formats share: a bank as plain data, both ways.

Reading: the format module parses its text into plain data (dicts, lists, scalars) and a
``locate(path) -> line`` function; :func:`decode_bank` turns that into a :class:`Bank`
question by question with ``msgspec.convert``, so one bad question does not hide the
problems of the others. A question that does not decode is left out of the bank and
reported as a :class:`Problem` located by file, line (of the offending field where known),
question id and field path.

Writing: :func:`to_document` is ``msgspec.to_builtins`` minus every field left at its
default, keys in a stable order (``id``, ``kind``, then the model's field order), so files
stay short and readable and still decode to an equal bank.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeAlias

import msgspec

from ..errors import Location, Problem
from ..ids import BankId, QuestionId
from ..models import Bank, Question
from ..text import nfc
from . import Parsed

__all__ = ["Path", "decode_bank", "nfc_deep", "path_text", "to_document"]

Path: TypeAlias = tuple[str | int, ...]
"""Where a value is in the document: keys and list indices from the root."""

Locate: TypeAlias = Callable[[Path], int | None]

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD = re.compile(r"field `([^`]+)`")


def path_text(path: Path) -> str:
    """``("options", 2, "text")`` as ``options[2].text``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def nfc_deep(data: Any) -> Any:
    """*data* with every string in it (keys too) brought to Unicode NFC.

    The file's text is NFC already (``loads`` does that), but escapes such as ``\\u0301``
    in quoted strings can still decode to decomposed text.
    """
    if isinstance(data, str):
        return nfc(data)
    if isinstance(data, list):
        return [nfc_deep(item) for item in data]
    if isinstance(data, dict):
        return {nfc_deep(key): nfc_deep(value) for key, value in data.items()}
    return data


def decode_bank(
    data: Any,
    *,
    source: str,
    bank_id: BankId,
    title: str,
    locate: Locate,
    strict: bool = True,
    problems: list[Problem] | None = None,
) -> Parsed:
    """Turn plain *data* into a bank, leaving out (and reporting) what does not decode.

    ``id`` and ``title`` default to *bank_id* and *title* when the document has none.
    *strict* ``False`` lets strings stand for numbers and booleans (YAML, typed by hand).
    """
    problems = list(problems or [])
    empty = Bank(id=bank_id, title=title)

    def report(code: str, message: str, path: Path, question: str | None = None) -> None:
        line = _line_of(locate, path)
        rel = path[2:] if question is not None else path
        where = Location(file=source, line=line, question=question, field=path_text(rel) or None)
        problems.append(Problem(code=code, message=message, where=where))

    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {_kind_name(data)}"
        report("bad_document", f"expected a bank (a mapping with questions), got {got}", ())
        return Parsed(bank=empty, problems=problems)

    head = {key: value for key, value in data.items() if key != "questions"}
    head.setdefault("id", bank_id)
    head.setdefault("title", title)
    try:
        bank: Bank = msgspec.convert(head, Bank, strict=strict)
    except msgspec.ValidationError as exc:
        _report_error(report, exc, (), None)
        bank = empty

    raw_questions = data.get("questions")
    if raw_questions is None:  # absent, or "questions:" with nothing after it
        raw_questions = []
    if not isinstance(raw_questions, list):
        got = _kind_name(raw_questions)
        report("wrong_type", f"questions must be a list, got {got}", ("questions",))
        raw_questions = []
    questions: list[Question] = []
    lines: dict[QuestionId, int] = {}
    for index, raw in enumerate(raw_questions):
        path: Path = ("questions", index)
        qid = raw.get("id") if isinstance(raw, dict) else None
        label = qid if isinstance(qid, str) and qid else f"no. {index + 1}"
        try:
            question: Question = msgspec.convert(raw, Question, strict=strict)
        except msgspec.ValidationError as exc:
            _report_error(report, exc, path, label)
            continue
        questions.append(question)
        line = locate(path)
        if line is not None:
            lines.setdefault(question.id, line)
    bank = msgspec.structs.replace(bank, questions=questions)
    return Parsed(bank=bank, problems=problems, lines=lines)


def _report_error(
    report: Callable[[str, str, Path, str | None], None],
    exc: msgspec.ValidationError,
    base: Path,
    question: str | None,
) -> None:
    """Map msgspec's ``"Expected `str`, got `int` - at `$.options[0].text`"`` to a problem."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    what = match.group("what")
    path: Path = base + tuple(
        name if index is None or index == "" else int(index)
        for name, index in _STEP.findall(match.group("path") or "")
    )
    field = _FIELD.search(what)
    if what.startswith("Object missing required field"):
        code = "missing_field"
    elif what.startswith("Object contains unknown field"):
        code = "unknown_field"
    elif what.startswith("Expected") and ", got " in what:
        code = "wrong_type"
    else:
        code = "invalid_value"
    if field is not None:
        path += (field.group(1),)
    message = what[0].lower() + what[1:] if what else "invalid"
    report(code, message.replace("`object`", "`mapping`"), path, question)


def _line_of(locate: Locate, path: Path) -> int | None:
    """Line of the deepest part of *path* that exists in the document."""
    for end in range(len(path), -1, -1):
        line = locate(path[:end])
        if line is not None:
            return line
    return None


def _kind_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "null" if value is None else type(value).__name__


def to_document(bank: Bank) -> dict[str, Any]:
    """*bank* as plain data, fields left at their default omitted, keys in a stable order."""
    document = _plain(bank)
    assert isinstance(document, dict)
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if not isinstance(value, msgspec.Struct):
        return value
    config = value.__struct_config__
    fields = sorted(msgspec.structs.fields(value), key=lambda info: _rank(info.name))
    out: dict[str, Any] = {}
    for info in fields:
        if info.name == "id" and config.tag_field is not None:
            out["id"] = value.id  # type: ignore[attr-defined]
            out[config.tag_field] = config.tag
            continue
        item = getattr(value, info.name)
        if info.default is not msgspec.NODEFAULT and _same(item, info.default):
            continue
        if info.default_factory is not msgspec.NODEFAULT and _same(item, info.default_factory()):
            continue
        out[info.encode_name] = _plain(item)
    return out


_FIRST = ("id", "title", "text", "topic", "difficulty", "points", "time_limit", "media_url")
_LAST = ("explanation", "questions")


def _rank(name: str) -> int:
    """Key order on output: the fields a reader looks for first, then the kind's own
    fields in model order (a stable sort keeps it), the explanation last."""
    if name in _FIRST:
        return _FIRST.index(name)
    return 100 + _LAST.index(name) if name in _LAST else 50


def _same(value: Any, default: Any) -> bool:
    # type check too, so that ``0`` and ``False`` (or ``1`` and ``1.0``) are told apart
    return type(value) is type(default) and bool(value == default)
