"""Bank file formats: one module per format, one registry, one entry point.

Every format module defines::

    NAME: str                       # "yaml", "json", "gift", "aiken", "csv"
    EXTENSIONS: tuple[str, ...]     # (".gift", ".txt") ...
    def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed
    def write(bank: Bank) -> Written

``read`` never raises on bad input: it returns what it could parse plus every problem,
each located by file and line, and apart (``skipped``) each question it left out because
the engine cannot run it (a Moodle essay or matching question): the rest of the file is
fine without it. :func:`load_bank` then validates the bank (``validation``), adding
problems located by the line each question started on, and raises
:class:`~question_bank.errors.BankInvalid` with all of them at once; it returns the bank
with the skipped questions as warnings, or with *strict* counts them as problems too.
:func:`loads` and :func:`load_file` are the strict ones, returning just the bank.

A format module may set ``BINARY = True`` (``xlsx``): its ``read`` gets the file's bytes,
not text. Such a format can be read, not written (:data:`FORMATS` are the writable ones).

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
    "INPUT_FORMATS",
    "Loaded",
    "Parsed",
    "Written",
    "detect_format",
    "dumps",
    "format_module",
    "load_bank",
    "load_bank_file",
    "load_file",
    "loads",
]

FORMATS: tuple[str, ...] = ("yaml", "json", "gift", "aiken", "csv")
"""Formats that can be read and written."""
INPUT_FORMATS: tuple[str, ...] = (*FORMATS, "xlsx")
"""Formats that can be read (``xlsx``: read only)."""


class Parsed(msgspec.Struct, kw_only=True):
    """What a reader made of its input."""

    bank: Bank
    problems: list[Problem] = []
    lines: dict[QuestionId, int] = {}
    """Line on which each question starts, for formats that have lines."""
    skipped: list[Problem] = []
    """Questions left out because the engine cannot run them (essay, matching...), each
    located: warnings, or problems for a strict load."""


class Loaded(msgspec.Struct, kw_only=True):
    """A valid bank and the warnings of what it left out (skipped questions)."""

    bank: Bank
    warnings: list[Problem] = []


class Written(msgspec.Struct, kw_only=True):
    """What a writer made of a bank."""

    text: str
    warnings: list[Problem] = []


def format_module(name: str) -> ModuleType:
    if name not in INPUT_FORMATS:
        raise UnsupportedFormat(f"unknown format {name!r}; known: {', '.join(INPUT_FORMATS)}")
    return importlib.import_module(f"{__name__}.{name}")


def detect_format(path: str | Path) -> str:
    """Format of a file from its extension (``.yml``/``.yaml``, ``.json``, ``.gift``, ...)."""
    suffix = Path(path).suffix.lower()
    for name in INPUT_FORMATS:
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
    """Parse and validate a bank; raise :class:`BankInvalid` listing every problem, a
    question the engine cannot run included (:func:`load_bank` with *strict*)."""
    return load_bank(data, fmt, source=source, bank_id=bank_id, title=title, strict=True).bank


def load_bank(
    data: str | bytes,
    fmt: str,
    *,
    source: str = "<input>",
    bank_id: str | None = None,
    title: str | None = None,
    strict: bool = False,
) -> Loaded:
    """Parse and validate a bank; raise :class:`BankInvalid` listing every problem.

    Questions the engine cannot run are left out and returned as warnings (with *strict*:
    problems). Bytes are decoded as UTF-8 (a BOM is dropped); all text is normalised to
    NFC first, so Vietnamese typed in NFD and in NFC compare equal.
    """
    from ..validation import validate

    module = format_module(fmt)
    stem = Path(source).stem if source != "<input>" else "bank"
    names = {"source": source, "bank_id": BankId(bank_id or id_from_name(stem))}
    if getattr(module, "BINARY", False):
        if isinstance(data, str):
            raise UnsupportedFormat(f"{fmt} is a binary format: read it from bytes")
        parsed: Parsed = module.read(data, **names, title=title or stem)
    else:
        parsed = module.read(_text(data, source), **names, title=title or stem)
    problems = list(parsed.problems) + (parsed.skipped if strict else [])
    problems += validate(parsed.bank, source=source, lines=parsed.lines)
    if problems:
        raise BankInvalid(problems)
    return Loaded(bank=parsed.bank, warnings=[] if strict else list(parsed.skipped))


def _text(data: str | bytes, source: str) -> str:
    """*data* as NFC text; bytes decoded as UTF-8 (:class:`BankInvalid` if they are not)."""
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
    return nfc(data.removeprefix("\ufeff"))


def load_file(path: str | Path, fmt: str | None = None, **kwargs: str) -> Bank:
    """Read, parse and validate a bank file (format from its extension unless given);
    strict: a question the engine cannot run is a problem."""
    return load_bank_file(path, fmt, strict=True, **kwargs).bank


def load_bank_file(
    path: str | Path, fmt: str | None = None, *, strict: bool = False, **kwargs: str
) -> Loaded:
    """:func:`load_bank` of a file (format from its extension unless given)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    return load_bank(path.read_bytes(), fmt, source=str(path), strict=strict, **kwargs)


def dumps(bank: Bank, fmt: str) -> Written:
    """Write a bank in *fmt*, with a warning for everything that format cannot express."""
    if fmt not in FORMATS:
        raise UnsupportedFormat(f"cannot write {fmt!r}; writable: {', '.join(FORMATS)}")
    written: Written = format_module(fmt).write(bank)
    return written
