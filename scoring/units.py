"""Unit aggregates: participants, completed attempts, participation rate per unit.

Counts are kept by the scripts as members take part (``P:{C}:units:part``, counted once
per member at their first accepted answer or started attempt) and complete an attempt
(``P:{C}:units:done``, once per member). Registered members per unit come from the units
import (``P:units``: unit id -> JSON ``{"name", "province", "members"}``, written by the
engine); it is read tolerantly: a unit missing there or stored in another shape still gets
its counts, with ``registered = 0`` and no rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from question_bank.ids import ContestId, ProvinceId, UnitId

from .errors import map_redis_errors
from .keys import DEFAULT_PREFIX, ContestKeys, ContestShards, GlobalKeys
from .replies import text
from .scripts import AnyRedis

__all__ = ["UnitStats", "unit_stats"]


class UnitStats(msgspec.Struct, frozen=True, kw_only=True):
    unit: UnitId
    name: str = ""
    province: ProvinceId = ProvinceId("")
    registered: int = 0
    """Registered members of the unit (units import); 0 if unknown."""
    participants: int = 0
    """Members of the unit who took part in the contest."""
    completed: int = 0
    """Members of the unit with a completed (submitted or expired) attempt."""
    participation_rate: float | None = None
    """participants / registered, or ``None`` when registered is 0."""


class _Registered(msgspec.Struct):
    name: str = ""
    province: str = ""
    members: int = 0


def _registered(raw: Any) -> _Registered:
    if raw is None:
        return _Registered()
    try:
        data = msgspec.json.decode(raw)
        value = msgspec.convert(data, _Registered, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Registered()
    return value if value.members >= 0 else _Registered(name=value.name, province=value.province)


async def unit_stats(
    redis: AnyRedis,
    contest: ContestId,
    *,
    prefix: str = DEFAULT_PREFIX,
    units: Sequence[UnitId] | None = None,
    shards: int = 1,
) -> list[UnitStats]:
    """Aggregates of *units* (default: every registered unit and every unit with counts),
    sorted by unit id. Participants of a member-sharded live show (*shards* > 1) are
    counted on each shard and summed here."""
    keys = ContestKeys(contest, prefix)
    places = ContestShards(contest, prefix, shards).keys
    registry = GlobalKeys(prefix).units
    part: Counter[str] = Counter()
    with map_redis_errors():
        if units is None:
            for k in places:
                part_raw = await redis.hgetall(k.unit_participants)
                part.update({text(u): int(v) for u, v in part_raw.items()})
            done_raw = await redis.hgetall(keys.unit_completed)
            reg_raw = await redis.hgetall(registry)
            done = {text(k): int(v) for k, v in done_raw.items()}
            reg: dict[str, Any] = {text(k): v for k, v in reg_raw.items()}
            chosen = sorted(set(part) | set(done) | set(reg))
        else:
            chosen = sorted(set(units))
            if not chosen:
                return []
            for k in places:
                p = await redis.hmget(k.unit_participants, chosen)
                part.update({u: int(v) for u, v in zip(chosen, p, strict=True) if v is not None})
            d = await redis.hmget(keys.unit_completed, chosen)
            r = await redis.hmget(registry, chosen)
            done = {u: int(v) for u, v in zip(chosen, d, strict=True) if v is not None}
            reg = {u: v for u, v in zip(chosen, r, strict=True)}
    stats: list[UnitStats] = []
    for unit in chosen:
        info = _registered(reg.get(unit))
        participants = part.get(unit, 0)
        stats.append(
            UnitStats(
                unit=UnitId(unit),
                name=info.name,
                province=ProvinceId(info.province),
                registered=info.members,
                participants=participants,
                completed=done.get(unit, 0),
                participation_rate=participants / info.members if info.members else None,
            )
        )
    return stats
