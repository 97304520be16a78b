"""Units (the member organisation's local branches) and their registered members.

The scoring core computes participation rates per unit against the registered members
stored here. Storage (see :class:`scoring.keys.GlobalKeys.units`)::

    P:units   hash  unit id -> JSON {"name": str, "province": str, "members": int}

JSON, so Lua scripts (``cjson``) and ``redis-cli`` read it as easily as Python.

The units file is CSV as a spreadsheet exports it: UTF-8 with or without a BOM, comma or
semicolon separated, a header row naming the columns (any order, case-insensitive)::

    id,name,province,members
    hn-bd,Đoàn phường Ba Đình,hanoi,1200

``members`` is a whole number from 0 to :data:`MAX_MEMBERS`, in ASCII digits 0-9 (thousands
separators ``1,200``/``1.200``/``1 200``, other scripts' digits and superscripts such as
``²`` are not accepted: write plain digits). Every problem is reported with its line at
once.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

import msgspec

from engine.core.errors import UnitsInvalid
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ProvinceId, UnitId
from scoring.keys import DEFAULT_PREFIX, GlobalKeys

__all__ = [
    "COLUMNS",
    "MAX_MEMBERS",
    "Unit",
    "import_units",
    "load_units",
    "parse_count",
    "parse_units",
]

COLUMNS = ("id", "name", "province", "members")
MAX_MEMBERS = 1_000_000_000
"""Most registered members one unit may have (more is a typo, and past 2^53 the scoring
core's Lua would read it as an inexact float)."""


def parse_count(text: str, most: int) -> int | None:
    """*text* as a whole number from 0 to *most* written in ASCII digits, else ``None``.

    ``str.isdigit`` is no test: it is true of ``"²"`` (which ``int`` refuses) and of other
    scripts' digits (which ``int`` reads), so both are refused here.

    >>> parse_count("120", 10**9), parse_count("²", 10**9), parse_count("١٢", 10**9)
    (120, None, None)
    """
    if not (text.isascii() and text.isdecimal()) or len(text) > len(str(most)):
        return None
    value = int(text)
    return value if value <= most else None


class Unit(msgspec.Struct, frozen=True, kw_only=True):
    id: UnitId
    name: str
    province: ProvinceId
    members: int


class _Stored(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    province: str
    members: int


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Stored)


def parse_units(data: str | bytes, *, source: str = "<input>") -> list[Unit]:
    """Parse a units CSV; :class:`~engine.core.errors.UnitsInvalid` lists every problem."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnitsInvalid([f"{source}: file is not UTF-8 text: {exc}"]) from exc
    text = unicodedata.normalize("NFC", data.removeprefix("\ufeff"))
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems: list[str] = []
    header = next(reader, None)
    if header is None:
        raise UnitsInvalid([f"{source}:1: empty file; expected a header {','.join(COLUMNS)}"])
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise UnitsInvalid(
            [f"{source}:1: header lacks column(s) {', '.join(missing)} (has: {', '.join(names)})"]
        )
    col = {c: names.index(c) for c in COLUMNS}
    units: list[Unit] = []
    seen: dict[str, int] = {}
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{source}:{start}"
        if len(row) < len(names):
            problems.append(f"{where}: {len(row)} field(s), the header has {len(names)}")
            continue
        unit_id, name, province, members = (row[col[c]].strip() for c in COLUMNS)
        bad = False
        for column, value in (("id", unit_id), ("name", name), ("province", province)):
            if not value:
                problems.append(f"{where}: empty {column}")
                bad = True
        count = parse_count(members, MAX_MEMBERS)
        if count is None:
            if members.isascii() and members.isdecimal():
                problems.append(f"{where}: members {members[:20]!r} is more than {MAX_MEMBERS}")
            else:
                problems.append(f"{where}: members {members[:20]!r} is not a whole number >= 0")
            bad = True
        if unit_id and unit_id in seen:
            problems.append(f"{where}: unit {unit_id!r} already on line {seen[unit_id]}")
            bad = True
        if unit_id:
            seen.setdefault(unit_id, start)
        if not bad and count is not None:
            units.append(
                Unit(
                    id=UnitId(unit_id),
                    name=name,
                    province=ProvinceId(province),
                    members=count,
                )
            )
    if problems:
        raise UnitsInvalid(problems)
    return units


async def import_units(
    redis_client: AsyncRedis,
    units: list[Unit],
    *,
    prefix: str = DEFAULT_PREFIX,
    replace: bool = False,
) -> int:
    """Store *units* (one transaction); with ``replace`` drop units not in the list.

    Returns how many units were written.
    """
    key = GlobalKeys(prefix).units
    mapping = {
        u.id: _ENCODER.encode(_Stored(name=u.name, province=u.province, members=u.members))
        for u in units
    }
    async with redis_client.pipeline(transaction=True) as pipe:
        if replace:
            pipe.delete(key)
        if mapping:
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        await pipe.execute()
    return len(mapping)


async def load_units(
    redis_client: AsyncRedis, *, prefix: str = DEFAULT_PREFIX
) -> dict[UnitId, Unit]:
    """Every stored unit by id."""
    raw: Any = await redis_client.hgetall(GlobalKeys(prefix).units)
    units: dict[UnitId, Unit] = {}
    for key, value in raw.items():
        stored = _DECODER.decode(value)
        unit_id = UnitId(key.decode())
        units[unit_id] = Unit(
            id=unit_id,
            name=stored.name,
            province=ProvinceId(stored.province),
            members=stored.members,
        )
    return units
