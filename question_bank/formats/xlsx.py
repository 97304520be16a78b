"""Excel workbooks (``.xlsx``): the first sheet read as the CSV format reads its rows.

The sheet has the CSV format's header row and one question per row (see
:mod:`.csv`: English or Vietnamese header names, a row-number column ignored). Each cell
is read as the sheet shows it: text as typed, ``10`` for a whole number, ``3.5`` for a
decimal (at most 15 significant digits, as Excel shows them), ``50%`` for a number in a
percent format, ``TRUE``/``FALSE``, a date as ``2026-09-02``; a formula as the value Excel
saved for it. Problems are located by sheet row (``file:row``). Read only: banks are
exported as CSV, which spreadsheets open.

:func:`template` is the file organisers start from: Vietnamese headers and two example
rows, as ``xlsx`` or ``csv``.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from ..errors import Location, Problem
from ..ids import BankId
from ..models import Bank
from . import Parsed
from . import csv as csv_format

__all__ = [
    "BINARY",
    "EXTENSIONS",
    "MAX_UNCOMPRESSED_BYTES",
    "NAME",
    "PROBLEM_CODES",
    "TEMPLATE",
    "read",
    "template",
]

NAME = "xlsx"
EXTENSIONS = (".xlsx",)
BINARY = True

PROBLEM_CODES: dict[str, str] = {
    "not_xlsx": "the file is not an Excel workbook (.xlsx), or it is damaged",
    "too_large": "the workbook unpacks to more than MAX_UNCOMPRESSED_BYTES",
    **csv_format.PROBLEM_CODES,
}

MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
"""A workbook is a zip archive: one unpacking to more than this is refused unread."""

_MAX_COLUMNS = 64
"""Columns read per row (the format has 14 plus 26 options)."""

TEMPLATE: tuple[tuple[str | int, ...], ...] = (
    (
        "STT",
        "Loại",
        "Câu hỏi",
        "Đáp án A",
        "Đáp án B",
        "Đáp án C",
        "Đáp án D",
        "Đáp án đúng",
        "Điểm",
        "Chủ đề",
        "Độ khó",
    ),
    (
        1,
        "single",
        "Thủ đô của Việt Nam là thành phố nào?",
        "Hà Nội",
        "Huế",
        "Đà Nẵng",
        "Thành phố Hồ Chí Minh",
        "A",
        10,
        "Địa lý",
        "dễ",
    ),
    (
        2,
        "multiple",
        "Những sự kiện nào diễn ra năm 1954?",
        "Chiến thắng Điện Biên Phủ",
        "Hiệp định Genève được ký kết",
        "Cách mạng tháng Tám",
        "Chiến thắng Bạch Đằng",
        "A, B",
        20,
        "Lịch sử",
        "trung bình",
    ),
)
"""The template's header row and example rows (a single and a multiple choice)."""


def read(data: bytes, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse an ``.xlsx`` workbook's first sheet; never raises on bad input."""

    def failed(code: str, message: str) -> Parsed:
        where = Location(file=source)
        problem = Problem(code=code, message=message, where=where)
        return Parsed(bank=Bank(id=bank_id, title=title), problems=[problem])

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return failed("not_xlsx", f"not an Excel workbook (.xlsx): {exc}")
    if unpacked > MAX_UNCOMPRESSED_BYTES:
        return failed("too_large", f"the workbook unpacks to {unpacked} bytes")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        return failed("not_xlsx", f"not a readable Excel workbook (.xlsx): {exc}")
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers record a wrong size: read every row
        records = _records(sheet.iter_rows(max_col=_MAX_COLUMNS))
        return csv_format.read_records(records, source=source, bank_id=bank_id, title=title)
    except Exception as exc:  # a damaged sheet part: an error of the file, never a crash
        return failed("not_xlsx", f"the workbook's first sheet is not readable: {exc}")
    finally:
        book.close()


def _records(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(rows, start=1):
        cells = [_shown(cell) for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        yield number, cells


def _shown(cell: Any) -> str:
    """A cell's value as the sheet shows it (see the module docstring)."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        percent = "%" in str(getattr(cell, "number_format", "") or "")
        number = value * 100 if percent else value
        text = str(number) if isinstance(number, int) else f"{number:.15g}"
        return text + "%" if percent else text
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
        return str(value)
    return str(value)


def template(fmt: str) -> bytes:
    """The bank template (:data:`TEMPLATE`) as an ``xlsx`` workbook or a ``csv`` file
    (UTF-8 with a BOM, so spreadsheets show Vietnamese right)."""
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(TEMPLATE)
        return ("\ufeff" + out.getvalue()).encode()
    if fmt != "xlsx":
        raise ValueError(f"a template is csv or xlsx, not {fmt!r}")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Câu hỏi"
    for row in TEMPLATE:
        sheet.append(list(row))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = (5, 10, 45, 25, 25, 25, 25, 12, 7, 12, 12)
    for letter, width in zip("ABCDEFGHIJK", widths, strict=True):
        sheet.column_dimensions[letter].width = width
    workbook = io.BytesIO()
    book.save(workbook)
    return workbook.getvalue()
