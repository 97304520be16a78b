"""Check Redis's persistence settings at start and say what a crash could lose.

Accepted answers live only in Redis, so its persistence is the engine's durability.
``contest serve`` calls :func:`check_durability` once Redis answers and logs each finding
(:func:`log_findings`); nothing refuses to start, since a demo or a test may rightly run
without persistence. docs/scoring.md ("Durability") explains the settings.

What each setting can lose (acknowledged answers, that is, answers a member saw accepted):

* ``appendonly yes`` + ``appendfsync always``: nothing, even if the machine loses power
  (each write is fsynced before the reply); costs throughput on slow disks.
* ``appendonly yes`` + ``appendfsync everysec`` (the production default): nothing if only
  the redis-server process dies (kill -9: the write reached the kernel before the reply),
  up to about 1 s (2 s when the disk stalls) if the machine crashes or loses power.
* ``appendfsync no``: the kernel decides when to flush, typically up to 30 s.
* AOF off: everything since the last RDB snapshot (``save``); with ``save ""`` as well,
  everything.
* ``maxmemory-policy`` other than ``noeviction``: Redis may evict contest keys under
  memory pressure, silently losing answers and boards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import redis.asyncio
import redis.asyncio.cluster

from .errors import map_redis_errors
from .replies import text
from .scripts import AnyRedis

__all__ = ["Finding", "assess", "check_durability", "log_findings"]

Level = Literal["error", "warning", "info"]


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    level: Level
    """``error``: acknowledged answers can be lost on a restart; ``warning``: on a
    machine crash; ``info``: worth knowing."""
    code: str
    """Stable id: aof_off, no_persistence, fsync_no, fsync_everysec, fsync_always,
    eviction, cluster_down."""
    message: str
    node: str = ""
    """host:port of the node concerned (Redis Cluster), or empty."""


def assess(config: Mapping[str, str], node: str = "") -> list[Finding]:
    """Findings for one node's ``CONFIG GET`` values (pure)."""
    found: list[Finding] = []
    aof = config.get("appendonly", "no") == "yes"
    fsync = config.get("appendfsync", "everysec")
    save = config.get("save", "").strip()
    if not aof and not save:
        found.append(
            Finding(
                level="error",
                code="no_persistence",
                message="no AOF and no RDB snapshots: a Redis restart loses every answer",
                node=node,
            )
        )
    elif not aof:
        found.append(
            Finding(
                level="error",
                code="aof_off",
                message=f"AOF is off: a Redis restart loses answers since the last RDB "
                f"snapshot (save {save!r}); set appendonly yes",
                node=node,
            )
        )
    elif fsync == "no":
        found.append(
            Finding(
                level="warning",
                code="fsync_no",
                message="appendfsync no: a machine crash can lose ~30 s of answers; "
                "use everysec or always",
                node=node,
            )
        )
    elif fsync == "everysec":
        found.append(
            Finding(
                level="info",
                code="fsync_everysec",
                message="appendfsync everysec: a redis-server crash loses nothing, a machine "
                "crash up to ~1 s (2 s on a stalled disk) of acknowledged answers",
                node=node,
            )
        )
    else:
        found.append(
            Finding(
                level="info",
                code="fsync_always",
                message="appendfsync always: no acknowledged answer is lost",
                node=node,
            )
        )
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        found.append(
            Finding(
                level="error",
                code="eviction",
                message=f"maxmemory-policy {policy}: Redis may evict contest keys; use noeviction",
                node=node,
            )
        )
    return found


_SETTINGS = ("appendonly", "appendfsync", "save", "maxmemory-policy")


async def _config(client: redis.asyncio.Redis) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in _SETTINGS:
        got = await client.config_get(name)
        values.update({text(k): text(v) for k, v in got.items()})
    return values


async def check_durability(client: AnyRedis) -> list[Finding]:
    """Findings for a Redis (or every primary of a Redis Cluster)."""
    found: list[Finding] = []
    with map_redis_errors():
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            await client.initialize()
            for node in client.get_primaries():
                name = f"{node.host}:{node.port}"
                config: dict[str, str] = {}
                for setting in _SETTINGS:
                    got: Any = await client.config_get(setting, target_nodes=node)
                    config.update({text(k): text(v) for k, v in got.items()})
                found += assess(config, name)
            info: Any = await client.cluster_info()
            state = text(info.get("cluster_state", "")) if isinstance(info, dict) else ""
            if state != "ok":
                found.append(
                    Finding(level="error", code="cluster_down", message=f"cluster_state {state!r}")
                )
            return found
        return assess(await _config(client))


_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


def log_findings(findings: list[Finding], logger: logging.Logger) -> None:
    """Log each finding at its level."""
    for f in findings:
        where = f" [{f.node}]" if f.node else ""
        logger.log(_LEVELS[f.level], "redis durability %s%s: %s", f.code, where, f.message)
