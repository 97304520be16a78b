"""Spreadsheets: the campaign report as CSV or xlsx (the participation table and the
members table), and a contest's final standings as xlsx (:func:`standings_xlsx`; its CSV is
:func:`scoring.export.export`'s).

``areas`` (one line per round, or ``total``, per province and per unit)::

    round,level,province,unit,registered,participants,attempts,participation_rate

``members`` (one line per member)::

    member,name,province,unit,rounds,round_ids,attempts

CSV: UTF-8 with a BOM (spreadsheets then read Vietnamese names right), ``\\r\\n`` line ends.
xlsx: one workbook with a sheet per table (``areas``, ``members``), the same columns and
figures, numbers as numbers (the rate with a percent format, empty when unknown), a bold
header row and frozen panes below it. In both, text cells are guarded against spreadsheet
formulas (:func:`scoring.export.csv_cell`).

The standings workbook has one sheet, ``standings``, with the CSV's columns
(:data:`scoring.export.COLUMNS`), numbers as numbers, text cells guarded the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Literal

import openpyxl  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from engine.core.campaign import AreaRow, CampaignReport
from scoring.export import COLUMNS, ExportRow, csv_cell

__all__ = [
    "AREA_COLUMNS",
    "MEMBER_COLUMNS",
    "XLSX_MEDIA_TYPE",
    "Table",
    "report_csv",
    "report_xlsx",
    "standings_xlsx",
]

Table = Literal["areas", "members"]
AREA_COLUMNS = (
    "round",
    "level",
    "province",
    "unit",
    "registered",
    "participants",
    "attempts",
    "participation_rate",
)
MEMBER_COLUMNS = ("member", "name", "province", "unit", "rounds", "round_ids", "attempts")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_RATE_FORMAT = "0.00%"

Cell = str | int | float | None
"""A cell of either table: text already guarded, a count, a rate or ``None`` (unknown)."""


def _area(round_name: str, level: str, row: AreaRow) -> list[Cell]:
    return [
        csv_cell(round_name),
        level,
        csv_cell(row.province),
        csv_cell(row.unit),
        row.registered,
        row.participants,
        row.attempts,
        row.participation_rate,
    ]


def _area_rows(report: CampaignReport) -> Iterator[list[Cell]]:
    for part in [*report.rounds, report.total]:
        for row in part.provinces:
            yield _area(part.round, "province", row)
        for row in part.units:
            yield _area(part.round, "unit", row)


def _member_rows(report: CampaignReport) -> Iterator[list[Cell]]:
    for m in report.members:
        yield [
            csv_cell(m.member),
            csv_cell(m.name),
            csv_cell(m.province),
            csv_cell(m.unit),
            len(m.rounds),
            csv_cell(" ".join(m.rounds)),
            m.attempts,
        ]


def _table(report: CampaignReport, table: Table) -> tuple[tuple[str, ...], Iterator[list[Cell]]]:
    if table == "members":
        return MEMBER_COLUMNS, _member_rows(report)
    return AREA_COLUMNS, _area_rows(report)


def report_csv(report: CampaignReport, table: Table = "areas") -> bytes:
    """*report*'s *table* as CSV bytes (with a BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns, rows = _table(report, table)
    writer.writerow(columns)
    writer.writerows([("" if cell is None else cell) for cell in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode()


def _workbook(sheets: Iterable[tuple[str, tuple[str, ...], Iterator[list[Cell]], bool]]) -> bytes:
    """An xlsx workbook of *sheets* (name, columns, rows, whether the last column is a
    rate): a bold header row, frozen panes below it. Written in openpyxl's write-only
    mode; CPU-bound for a large table, so an event loop calls it in a thread
    (``asyncio.to_thread``)."""
    book = openpyxl.Workbook(write_only=True)
    bold = Font(bold=True)
    for name, columns, rows, rated in sheets:
        sheet = book.create_sheet(name)
        sheet.freeze_panes = "A2"
        header = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in rows:
            if rated and row[-1] is not None:
                rate = WriteOnlyCell(sheet, value=row[-1])
                rate.number_format = _RATE_FORMAT
                sheet.append([*row[:-1], rate])
            else:
                sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_xlsx(report: CampaignReport) -> bytes:
    """*report* as an xlsx workbook: the ``areas`` sheet, then the ``members`` sheet."""
    areas, members = _table(report, "areas"), _table(report, "members")
    return _workbook([("areas", *areas, True), ("members", *members, False)])


def _standing_rows(standings: Iterable[ExportRow]) -> Iterator[list[Cell]]:
    for row in standings:
        yield [
            row.rank,
            csv_cell(row.member),
            csv_cell(row.name),
            csv_cell(row.unit),
            csv_cell(row.province),
            row.score,
            row.prediction,
            row.time_used_ms,
            row.submitted_at,
        ]


def standings_xlsx(standings: Iterable[ExportRow]) -> bytes:
    """A contest's final standings (``GET /api/contests/{id}/results?format=xlsx``) as an
    xlsx workbook: one sheet, ``standings``, the CSV's columns, numbers as numbers."""
    return _workbook([("standings", COLUMNS, _standing_rows(standings), False)])
