"""Bank file formats: one module per format, one registry, one entry point.

Every format module defines::

    NAME: str                       # "yaml", "json", "gift", "aiken", "csv"
    EXTENSIONS: tuple[str, ...]     # (".gift", ".txt") ...
    def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed
    def write(bank: Bank) -> Written

``read`` never raises on bad input: it returns what it could parse plus every problem,
each located by file and line. :func:`loads` then validates the bank (``validation``),
adding problems located by the line each question started on, and raises
:class:`~question_bank.errors.BankInvalid` with all of them at once.

``write`` returns the text and the problems of what the format cannot express (a warning
per question or field left out or approximated), so export says what it lost.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import msgspec

from ..errors import BankInvalid, Location, Problem, UnsupportedFormat
from ..ids import BankId, QuestionId
from ..models import Bank
from ..text import id_from_name, nfc

__all__ = [
    "FORMATS",
    "Parsed",
    "Written",
    "detect_format",
    "dumps",
    "format_module",
    "load_file",
    "loads",
]

FORMATS: tuple[str, ...] = ("yaml", "json", "gift", "aiken", "csv")


class Parsed(msgspec.Struct, kw_only=True):
    """What a reader made of its input."""

    bank: Bank
    problems: list[Problem] = []
    lines: dict[QuestionId, int] = {}
    """Line on which each question starts, for formats that have lines."""


class Written(msgspec.Struct, kw_only=True):
    """What a writer made of a bank."""

    text: str
    warnings: list[Problem] = []


def format_module(name: str) -> ModuleType:
    if name not in FORMATS:
        raise UnsupportedFormat(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{name}")


def detect_format(path: str | Path) -> str:
    """Format of a file from its extension (``.yml``/``.yaml``, ``.json``, ``.gift``, ...)."""
    suffix = Path(path).suffix.lower()
    for name in FORMATS:
        if suffix in format_module(name).EXTENSIONS:
            return name
    raise UnsupportedFormat(
        f"cannot tell the format of {path!s} from its extension; name it with --format"
    )


def loads(
    data: str | bytes,
    fmt: str,
    *,
    source: str = "<input>",
    bank_id: str | None = None,
    title: str | None = None,
) -> Bank:
    """Parse and validate a bank; raise :class:`BankInvalid` listing every problem.

    Bytes are decoded as UTF-8 (a BOM is dropped); all text is normalised to NFC first, so
    Vietnamese typed in NFD and in NFC compare equal.
    """
    from ..validation import validate

    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raw = exc.object  # what exc.start counts in (after a BOM)
            line = raw.count(b"\n", 0, exc.start) + 1
            message = (
                f"file is not UTF-8 text (byte {raw[exc.start]:#04x}); save it as UTF-8"
                ' (in Excel: "CSV UTF-8")'
            )
            where = Location(file=source, line=line)
            raise BankInvalid([Problem(code="not_utf8", message=message, where=where)]) from exc
    text = nfc(data.removeprefix("\ufeff"))
    stem = Path(source).stem if source != "<input>" else "bank"
    parsed: Parsed = format_module(fmt).read(
        text, source=source, bank_id=BankId(bank_id or id_from_name(stem)), title=title or stem
    )
    problems = list(parsed.problems)
    problems += validate(parsed.bank, source=source, lines=parsed.lines)
    if problems:
        raise BankInvalid(problems)
    return parsed.bank


def load_file(path: str | Path, fmt: str | None = None, **kwargs: str) -> Bank:
    """Read, parse and validate a bank file (format from its extension unless given)."""
    path = Path(path)
    return loads(path.read_bytes(), fmt or detect_format(path), source=str(path), **kwargs)


def dumps(bank: Bank, fmt: str) -> Written:
    """Write a bank in *fmt*, with a warning for everything that format cannot express."""
    written: Written = format_module(fmt).write(bank)
    return written
