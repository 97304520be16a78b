"""``contest contest``: one contest (a window round or a live show) from the command line.

::

    contest contest create FILE --org ORG     a draft from a ContestSpec in JSON or YAML
    contest contest list [--org ORG] [--state STATE]
    contest contest show CONTEST [--org ORG] [--json]
    contest contest schedule|unschedule|start|close|finalize|cancel|delete CONTEST [--org ORG]

FILE holds the definition ``POST /api/contests`` takes (docs/api.md); its times
(``window.opens_at``, ``window.closes_at``, ``live.starts_at``) are epoch ms or ISO 8601 with
a zone (``2027-01-04T08:00+07:00``), as ``contest campaign`` reads them (a bare date is its
midnight in the organisation's time zone, Asia/Ho_Chi_Minh unless ``contest org set --zone``
chose another). ``list`` and ``show`` print times in the zone of each contest's
organisation. ``start`` (also ``open``) lets members in now: it opens a
window round or starts a live show. With ``--org`` a contest of another organisation is
refused. A refused command prints one line on stderr and exits 1, changing nothing.
Every command takes the Redis options ``--redis-url``, ``--data-dir``, ``--key-prefix``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import yaml

from engine.cli._common import add_redis_options, print_table, run_with_redis
from engine.contests.store import ContestStore
from engine.core import lifecycle
from engine.core.campaign import DEFAULT_ZONE, local_iso, parse_instant
from engine.core.contest import Contest, ContestSpec, Problem, located
from engine.core.errors import ContestInvalid, Forbidden
from engine.core.lifecycle import Event
from engine.core.settings import Settings
from engine.directory.orgs import OrgStore
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, OrgId

__all__ = ["read_spec", "register"]

_ZONE = ZoneInfo(DEFAULT_ZONE)
_TIMES = (("window", "opens_at"), ("window", "closes_at"), ("live", "starts_at"))

# subcommand -> the lifecycle event it fires (None: the mode's start event, as the HTTP API)
ACTIONS: dict[str, Event | None] = {
    "schedule": "schedule",
    "unschedule": "unschedule",
    "start": None,
    "close": "close",
    "finalize": "finalize",
    "cancel": "cancel",
    "delete": "delete",
}


class _Invalid(ContestInvalid):
    """A definition file's problems, each located in the file: ``FILE: field: message``."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        super().__init__(problems)
        where = [f"{p['field']}: " if p.get("field") else "" for p in problems]
        lines = [" ".join(str(p["message"]).split()) for p in problems]  # one line each
        text = "; ".join(w + line for w, line in zip(where, lines, strict=True))
        self.args = (f"{path}: {text}",)


def read_spec(path: str, zone: ZoneInfo = _ZONE) -> ContestSpec:
    """The :class:`ContestSpec` in *path* (JSON, or YAML for ``.yaml``/``.yml``), its times
    read as epoch ms or ISO 8601 (a bare date: its midnight in *zone*);
    :class:`ContestInvalid` naming the file and field, or :class:`OSError` if it cannot be
    read."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise _Invalid(path, [{"field": "", "message": f"not JSON or YAML: {exc}"}]) from None
    if not isinstance(data, dict):
        raise _Invalid(path, [{"field": "", "message": "must be a mapping (a ContestSpec)"}])
    problems = _read_times(data, zone)
    if problems:
        raise _Invalid(path, problems)
    try:
        return msgspec.convert(data, ContestSpec)
    except msgspec.ValidationError as exc:
        raise _Invalid(path, [located(exc)]) from None


def _read_times(data: dict[str, Any], zone: ZoneInfo) -> list[Problem]:
    """Turn the ISO 8601 times of *data* into epoch ms, in place; the problems found."""
    problems: list[Problem] = []
    for part, name in _TIMES:
        timing = data.get(part)
        if not isinstance(timing, dict) or name not in timing:
            continue
        value = timing[name]
        if isinstance(value, dt.date):  # YAML reads an unquoted timestamp itself
            value = value.isoformat()
        if isinstance(value, bool) or not isinstance(value, int | str):
            continue  # the schema check names the type
        ms = parse_instant(value, zone, field=f"{part}.{name}")
        if isinstance(ms, int):
            timing[name] = ms
        else:
            problems.append(ms)
    return problems


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "contest",
        help="contests: create, list, show, move through the lifecycle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = group.add_subparsers(dest="contest_command", required=True, metavar="COMMAND")
    p = commands.add_parser("create", help="create a draft from a JSON or YAML definition")
    p.add_argument("file", help="a ContestSpec (docs/api.md), .json or .yaml")
    p.add_argument("--org", required=True)
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _create(c, s, a)))

    p = commands.add_parser("list", help="contests, oldest first")
    p.add_argument("--org")
    p.add_argument("--state", choices=lifecycle.STATES)
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _list(c, s, a)))

    p = commands.add_parser("show", help="one contest with its state and history")
    p.add_argument("contest")
    p.add_argument("--org")
    p.add_argument("--json", action="store_true", help="the contest as the HTTP API answers")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _show(c, s, a)))

    helps = {
        "schedule": "draft -> scheduled",
        "unschedule": "scheduled -> draft (to edit it)",
        "start": "scheduled -> open (window) / running (live), now",
        "close": "open / running -> closed",
        "finalize": "closed -> finalized: computes the final standings",
        "cancel": "scheduled / open / running -> cancelled",
        "delete": "delete a draft, finalized or cancelled contest",
    }
    for name, event in ACTIONS.items():
        aliases = ["open"] if name == "start" else []
        p = commands.add_parser(name, aliases=aliases, help=helps[name])
        p.add_argument("contest")
        p.add_argument("--org")
        add_redis_options(p)
        p.set_defaults(
            func=lambda a, e=event: run_with_redis(a, lambda c, s: _move(c, s, a, e)),
        )


def _org(args: argparse.Namespace) -> OrgId | None:
    return OrgId(args.org) if args.org else None


def _when(ms: int | None, zone: ZoneInfo) -> str:
    return "" if ms is None else local_iso(ms, zone)


async def _create(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    zone = await OrgStore(client, settings.key_prefix).zone(OrgId(args.org))
    spec = read_spec(args.file, zone)
    contest = await ContestStore(client, settings.key_prefix).create(OrgId(args.org), spec)
    print(f"created contest {contest.id} ({contest.mode}, {contest.state})")
    return 0


async def _list(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    store = ContestStore(client, settings.key_prefix)
    contests = await store.list(_org(args), include_deleted=args.state == "deleted")
    if args.state:
        contests = [c for c in contests if c.state == args.state]
    orgs = OrgStore(client, settings.key_prefix)
    zones = {org: await orgs.zone(org) for org in {c.org for c in contests}}
    print_table(
        ["id", "org", "mode", "state", "starts", "closes", "title"],
        [
            [
                *(c.id, c.org, c.mode, c.state),
                *(_when(c.starts_at, zones[c.org]), _when(c.closes_at, zones[c.org]), c.title),
            ]
            for c in contests
        ],
    )
    return 0


async def _owned(store: ContestStore, args: argparse.Namespace) -> Contest:
    org = _org(args)
    if org is None:
        return await store.get(ContestId(args.contest))
    return await store.get_owned(org, ContestId(args.contest))


async def _show(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    contest = await _owned(ContestStore(client, settings.key_prefix), args)
    if args.json:
        sys.stdout.write(msgspec.json.encode(contest).decode() + "\n")
        return 0
    zone = await OrgStore(client, settings.key_prefix).zone(contest.org)
    print(f"{contest.title} ({contest.id}, {contest.org}, {zone.key})")
    print(f"mode: {contest.mode}  state: {contest.state}")
    print(f"bank: {contest.bank} version {contest.bank_version}")
    print(f"starts: {_when(contest.starts_at, zone)}  closes: {_when(contest.closes_at, zone)}")
    print_table(
        ["event", "state", "at"], [[t.event, t.state, _when(t.at, zone)] for t in contest.history]
    )
    return 0


async def _move(
    client: AsyncRedis,
    settings: Settings,
    args: argparse.Namespace,
    event: Event | None,
) -> int:
    store = ContestStore(client, settings.key_prefix)
    org = _org(args)
    contest = await store.get(ContestId(args.contest))
    if org is not None and not contest.owned_by(org):
        raise Forbidden(f"contest {args.contest!r} belongs to another organisation")
    event = event or lifecycle.start_event(contest.mode)
    if event == "finalize":
        moved = await store.finalize(contest.id, org=org)
    else:
        moved = await store.apply(contest.id, event, org=org)
    print(f"contest {moved.id}: {moved.state}")
    return 0
