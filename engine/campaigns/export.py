"""The campaign report as CSV: the participation table or the members table.

``areas`` (one line per round, or ``total``, per province and per unit)::

    round,level,province,unit,registered,participants,attempts,participation_rate

``members`` (one line per member)::

    member,name,province,unit,rounds,round_ids,attempts

UTF-8 with a BOM (spreadsheets then read Vietnamese names right), ``\\r\\n`` line ends, text
cells guarded against spreadsheet formulas (:func:`scoring.export.csv_cell`).
"""

from __future__ import annotations

import csv
import io
from typing import Literal

from engine.core.campaign import AreaRow, CampaignReport
from scoring.export import csv_cell

__all__ = ["AREA_COLUMNS", "MEMBER_COLUMNS", "Table", "report_csv"]

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


def _area(round_name: str, level: str, row: AreaRow) -> list[object]:
    rate = "" if row.participation_rate is None else row.participation_rate
    return [
        csv_cell(round_name),
        level,
        csv_cell(row.province),
        csv_cell(row.unit),
        row.registered,
        row.participants,
        row.attempts,
        rate,
    ]


def report_csv(report: CampaignReport, table: Table = "areas") -> bytes:
    """*report*'s *table* as CSV bytes (with a BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if table == "members":
        writer.writerow(MEMBER_COLUMNS)
        for m in report.members:
            writer.writerow(
                [
                    csv_cell(m.member),
                    csv_cell(m.name),
                    csv_cell(m.province),
                    csv_cell(m.unit),
                    len(m.rounds),
                    csv_cell(" ".join(m.rounds)),
                    m.attempts,
                ]
            )
    else:
        writer.writerow(AREA_COLUMNS)
        for part in [*report.rounds, report.total]:
            for row in part.provinces:
                writer.writerow(_area(part.round, "province", row))
            for row in part.units:
                writer.writerow(_area(part.round, "unit", row))
    return ("\ufeff" + out.getvalue()).encode()
