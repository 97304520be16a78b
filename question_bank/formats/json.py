"""Native JSON format: a :class:`~question_bank.models.Bank` as JSON, exact round trip.

Writing gives ``msgspec.to_builtins(bank)`` minus the fields left at their default (see
:func:`._native.to_document`), keys in a stable order, indented by two spaces, UTF-8
unescaped. Reading decodes with ``msgspec.json`` (types are strict: JSON has them), then
finds the line of every value with a small scanner, so each problem is located by line;
bad input gives problems, never exceptions. A key repeated in one object is a problem.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field

import msgspec

from ..errors import Location, Problem
from ..ids import BankId
from ..models import Bank
from . import Parsed, Written
from ._native import Path, decode_bank, nfc_deep, path_text, to_document

__all__ = ["EXTENSIONS", "NAME", "read", "write"]

NAME = "json"
EXTENSIONS: tuple[str, ...] = (".json",)

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
_BYTE = re.compile(r"\(byte (\d+)\)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def write(bank: Bank) -> Written:
    """*bank* as indented JSON; nothing is lost, so there are no warnings."""
    raw = msgspec.json.format(msgspec.json.encode(to_document(bank)), indent=2)
    return Written(text=raw.decode("utf-8") + "\n")


def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse a JSON bank; every problem located by line, never an exception."""
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        message = str(exc)
        match = _BYTE.search(message)
        line = None
        if match is not None:
            offset = int(match.group(1))
            line = text.encode("utf-8")[:offset].count(b"\n") + 1
        else:
            line = _unplaced_error_line(text, message)
        problem = Problem(
            code="syntax_error", message=message, where=Location(file=source, line=line)
        )
        return Parsed(bank=Bank(id=bank_id, title=title), problems=[problem])
    except RecursionError:
        problem = Problem(
            code="too_complex",
            message="the document nests too deep",
            where=Location(file=source),
        )
        return Parsed(bank=Bank(id=bank_id, title=title), problems=[problem])

    index = _index(text)
    problems = [
        Problem(
            code="duplicate_key",
            message=f"key {path[-1]!r} appears more than once in this object",
            where=Location(file=source, line=index.line(offset), field=path_text(path)),
        )
        for path, offset in index.duplicates
    ]

    def locate(path: Path) -> int | None:
        offset = index.offsets.get(path)
        return None if offset is None else index.line(offset)

    return decode_bank(
        nfc_deep(data),
        source=source,
        bank_id=bank_id,
        title=title,
        locate=locate,
        problems=problems,
    )


def _unplaced_error_line(text: str, message: str) -> int | None:
    """Line of a decode error msgspec gives no byte offset for: the end of a truncated
    text, or the first number too large for a float."""
    if message.startswith("Input data was truncated"):
        return text.count("\n") + 1
    if "out of range" in message:
        for match in _TOKENS.finditer(text):
            token = match.group()
            if _NUMBER.fullmatch(token) and math.isinf(float(token)):
                return text.count("\n", 0, match.start()) + 1
    return None


@dataclass
class _Index:
    offsets: dict[Path, int] = field(default_factory=dict)
    """Where each value starts (character offset), by path."""
    duplicates: list[tuple[Path, int]] = field(default_factory=list)
    newlines: list[int] = field(default_factory=list)

    def line(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1


@dataclass
class _Frame:
    path: Path
    is_object: bool
    index: int = 0
    key: str | None = None
    keys: set[str] = field(default_factory=set)


def _index(text: str) -> _Index:
    """Offsets of every value of a well-formed JSON text, and repeated keys.

    An iterative scan (no recursion, so any nesting msgspec accepted is fine).
    """
    index = _Index(newlines=[m.start() for m in re.finditer("\n", text)])
    stack: list[_Frame] = []
    expect_key = False

    def here() -> Path:
        if not stack:
            return ()
        top = stack[-1]
        step: str | int = top.index if not top.is_object else (top.key or "")
        return (*top.path, step)

    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("}", "]"):
            stack.pop()
            expect_key = False
        elif token == ",":
            if stack[-1].is_object:
                expect_key = True
            else:
                stack[-1].index += 1
        elif token == ":":
            expect_key = False
        elif expect_key:
            key = msgspec.json.decode(token, type=str)
            top = stack[-1]
            if key in top.keys:
                index.duplicates.append(((*top.path, key), match.start()))
            top.keys.add(key)
            top.key = key
        else:
            path = here()
            index.offsets.setdefault(path, match.start())
            if token in ("{", "["):
                stack.append(_Frame(path=path, is_object=token == "{"))
                expect_key = token == "{"
    return index
