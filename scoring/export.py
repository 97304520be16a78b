"""Export the final standings as CSV or JSON, in rank order, with the members' profiles.

Columns (CSV header, JSON keys): ``rank, member, name, unit, province, score, prediction,
time_used_ms, submitted_at``. ``prediction`` is empty (CSV) / ``null`` (JSON) when the
member gave none; ``submitted_at`` is ISO 8601 UTC with milliseconds
(``2026-11-25T08:00:00.123Z``), empty / ``null`` when the attempt was never submitted (closed
at its deadline, or a live show). CSV is UTF-8 with a BOM so spreadsheets show Vietnamese
names correctly, and ``\\r\\n`` line ends (RFC 4180). A CSV text cell (member, name, unit,
province) that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return: OWASP's list for CSV injection) gets a leading
apostrophe, so ``=HYPERLINK(...)`` in a display name shows as text; numbers are never
changed, and the JSON keeps every name exactly.

Rows are read in chunks (``ZRANGE`` of ``final:order``, ``HMGET`` of ``final`` and
``profiles``), so an export of a million members never holds one huge reply.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec

from question_bank.ids import ContestId, MemberId

from .errors import ScoringUsageError, map_redis_errors
from .finalize import Finalizer
from .keys import DEFAULT_PREFIX
from .profiles import Profile, decode_profile
from .scripts import AnyRedis

__all__ = ["COLUMNS", "ExportRow", "csv_cell", "export", "iso_ms", "rows", "to_csv", "to_json"]

COLUMNS: Final = (
    "rank",
    "member",
    "name",
    "unit",
    "province",
    "score",
    "prediction",
    "time_used_ms",
    "submitted_at",
)

Format = Literal["csv", "json"]


class ExportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the exported standings."""

    rank: int
    member: MemberId
    name: str
    unit: str
    province: str
    score: int
    prediction: int | None
    time_used_ms: int
    submitted_at: str | None


def iso_ms(ms: int) -> str | None:
    """``ms`` since the epoch as ISO 8601 UTC with milliseconds; ``None`` for 0."""
    if ms <= 0:
        return None
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


async def rows(
    client: AnyRedis, contest: ContestId, *, prefix: str = DEFAULT_PREFIX, chunk: int = 10_000
) -> AsyncIterator[ExportRow]:
    """The final standings in rank order, joined with the members' profiles."""
    finalizer = Finalizer(client, contest, prefix=prefix, chunk=chunk)
    start = 0
    while True:
        part = await finalizer.standings(start, start + chunk - 1)
        if not part:
            return
        with map_redis_errors():
            raw = await client.hmget(finalizer.keys.profiles, [m for m, _ in part])
        for (member, s), profile_raw in zip(part, raw, strict=True):
            profile = Profile() if profile_raw is None else decode_profile(profile_raw)
            yield ExportRow(
                rank=s.rank,
                member=member,
                name=profile.name,
                unit=profile.unit,
                province=profile.province,
                score=s.score,
                prediction=s.prediction,
                time_used_ms=s.time_used,
                submitted_at=iso_ms(s.submitted),
            )
        start += chunk


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection)."""


def csv_cell(text: str) -> str:
    """*text* as a CSV cell a spreadsheet shows as text: a leading apostrophe if it would
    otherwise run as a formula (``=HYPERLINK(...)`` in a member's display name)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(export_rows: Iterable[ExportRow]) -> str:
    """CSV text (header first, ``\\r\\n`` line ends; no BOM: :func:`export` adds it), text
    cells guarded by :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in export_rows:
        writer.writerow(
            [
                r.rank,
                csv_cell(r.member),
                csv_cell(r.name),
                csv_cell(r.unit),
                csv_cell(r.province),
                r.score,
                "" if r.prediction is None else r.prediction,
                r.time_used_ms,
                r.submitted_at or "",
            ]
        )
    return out.getvalue()


def to_json(export_rows: Iterable[ExportRow]) -> bytes:
    """A JSON array of objects with the keys of :data:`COLUMNS`."""
    return msgspec.json.encode(list(export_rows))


async def export(
    client: AnyRedis,
    contest: ContestId,
    fmt: Format,
    *,
    prefix: str = DEFAULT_PREFIX,
    chunk: int = 10_000,
) -> bytes:
    """The final standings as a file's bytes: CSV (UTF-8 with BOM) or JSON (UTF-8)."""
    collected = [r async for r in rows(client, contest, prefix=prefix, chunk=chunk)]
    if fmt == "csv":
        return b"\xef\xbb\xbf" + to_csv(collected).encode("utf-8")
    if fmt == "json":
        return to_json(collected)
    raise ScoringUsageError(f"unknown export format {fmt!r}; use csv or json")
