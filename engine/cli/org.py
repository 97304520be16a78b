"""``contest org``, ``contest key`` and ``contest units``: organisations, API keys, units.

::

    contest org create ID --name NAME [--central | --province PROVINCE] [--zone ZONE]
    contest org set ID [--name NAME] [--zone ZONE]
    contest org list
    contest key create ORG            # prints the new key once; only its hash is stored
    contest key list [--org ORG]      # fingerprints, never keys
    contest key revoke KEY | --fingerprint HEX | --org ORG --all
    contest units import FILE [--replace]
    contest units list

All take the Redis options ``--redis-url``, ``--data-dir``, ``--key-prefix``. A provincial
organisation's province defaults to its id; its time zone (an IANA zone: the console, the
CLI and its new campaigns show and read local times in it) to Asia/Ho_Chi_Minh. The units
file format is described in :mod:`engine.directory.units` (CSV: ``id,name,province,members``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import msgspec

from engine.cli._common import add_redis_options, fail, print_table, run_with_redis
from engine.core.campaign import DEFAULT_ZONE
from engine.core.errors import UnitsInvalid
from engine.core.settings import Settings
from engine.directory.orgs import Organisation, OrgChange, OrgStore, fingerprint
from engine.directory.units import import_units, load_units, parse_units
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import OrgId, ProvinceId

__all__ = ["register"]


def register(subparsers: Any) -> None:
    org = subparsers.add_parser("org", help="organisations (central, provinces)")
    commands = org.add_subparsers(dest="org_command", required=True, metavar="COMMAND")
    p = commands.add_parser("create", help="register an organisation")
    p.add_argument("id", metavar="ID")
    p.add_argument("--name", required=True)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--central", action="store_true", help="the central organiser")
    kind.add_argument("--province", help="the province it runs (default: its id)")
    p.add_argument("--zone", default=DEFAULT_ZONE, help="IANA time zone (default %(default)s)")
    add_redis_options(p)
    p.set_defaults(func=cmd_org_create)
    p = commands.add_parser("set", help="change an organisation's name or time zone")
    p.add_argument("id", metavar="ID")
    p.add_argument("--name")
    p.add_argument("--zone", help="IANA time zone (Europe/Paris)")
    add_redis_options(p)
    p.set_defaults(func=cmd_org_set)
    p = commands.add_parser("list", help="list organisations")
    add_redis_options(p)
    p.set_defaults(func=cmd_org_list)

    key = subparsers.add_parser("key", help="organiser API keys")
    commands = key.add_subparsers(dest="key_command", required=True, metavar="COMMAND")
    p = commands.add_parser("create", help="create an API key for ORG and print it")
    p.add_argument("org", metavar="ORG")
    add_redis_options(p)
    p.set_defaults(func=cmd_key_create)
    p = commands.add_parser("list", help="list key fingerprints")
    p.add_argument("--org")
    add_redis_options(p)
    p.set_defaults(func=cmd_key_list)
    p = commands.add_parser("revoke", help="revoke a key (by key, fingerprint, or all of ORG)")
    p.add_argument("key", nargs="?", metavar="KEY")
    p.add_argument("--fingerprint", help="revoke the key with this fingerprint")
    p.add_argument("--org", help="with --all: the organisation")
    p.add_argument("--all", action="store_true", help="revoke every key of --org")
    add_redis_options(p)
    p.set_defaults(func=cmd_key_revoke)

    units = subparsers.add_parser("units", help="units and their registered members")
    commands = units.add_subparsers(dest="units_command", required=True, metavar="COMMAND")
    p = commands.add_parser("import", help="load a units CSV (id,name,province,members)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--replace", action="store_true", help="drop units not in the file")
    add_redis_options(p)
    p.set_defaults(func=cmd_units_import)
    p = commands.add_parser("list", help="list units")
    add_redis_options(p)
    p.set_defaults(func=cmd_units_list)


def cmd_org_create(args: argparse.Namespace) -> int:
    if args.central:
        org = Organisation(id=OrgId(args.id), name=args.name, kind="central", zone=args.zone)
    else:
        province = ProvinceId(args.province or args.id)
        org = Organisation(id=OrgId(args.id), name=args.name, province=province, zone=args.zone)

    async def body(client: AsyncRedis, settings: Settings) -> int:
        await OrgStore(client, settings.key_prefix).create(org)
        where = "central" if org.kind == "central" else f"province {org.province}"
        print(f"created organisation {org.id} ({where}, {org.zone})")
        return 0

    return run_with_redis(args, body)


def cmd_org_set(args: argparse.Namespace) -> int:
    if args.name is None and args.zone is None:
        return fail("give --name NAME and/or --zone ZONE")
    try:
        wanted = {"name": args.name, "zone": args.zone}
        change = msgspec.convert({k: v for k, v in wanted.items() if v is not None}, OrgChange)
    except msgspec.ValidationError as exc:
        return fail(exc)

    async def body(client: AsyncRedis, settings: Settings) -> int:
        org = await OrgStore(client, settings.key_prefix).change(OrgId(args.id), change)
        print(f"organisation {org.id}: {org.name} ({org.zone})")
        return 0

    return run_with_redis(args, body)


def cmd_org_list(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        orgs = await OrgStore(client, settings.key_prefix).list()
        rows = [(o.id, o.kind, o.province or "", o.zone, o.name) for o in orgs]
        print_table(("id", "kind", "province", "zone", "name"), rows)
        return 0

    return run_with_redis(args, body)


def cmd_key_create(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        key = await OrgStore(client, settings.key_prefix).create_key(OrgId(args.org))
        print(key)
        return 0

    return run_with_redis(args, body)


def cmd_key_list(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        store = OrgStore(client, settings.key_prefix)
        keys = await store.keys_of(OrgId(args.org) if args.org else None)
        print_table(("org", "fingerprint"), [(k.org, k.fingerprint) for k in keys])
        return 0

    return run_with_redis(args, body)


def cmd_key_revoke(args: argparse.Namespace) -> int:
    chosen = [bool(args.key), bool(args.fingerprint), bool(args.all)]
    if sum(chosen) != 1 or (args.all and not args.org):
        return fail("give exactly one of KEY, --fingerprint HEX, or --org ORG --all")

    async def body(client: AsyncRedis, settings: Settings) -> int:
        store = OrgStore(client, settings.key_prefix)
        if args.key:
            count = int(await store.revoke_key(args.key))
            what = f"key {fingerprint(args.key)}"
        elif args.fingerprint:
            count = await store.revoke_fingerprint(args.fingerprint)
            what = f"key {args.fingerprint}"
        else:
            count = await store.revoke_all(OrgId(args.org))
            what = f"keys of {args.org}"
        if not count:
            return fail(f"no such {what}")
        print(f"revoked {count} key(s)")
        return 0

    return run_with_redis(args, body)


def cmd_units_import(args: argparse.Namespace) -> int:
    try:
        units = parse_units(Path(args.file).read_bytes(), source=args.file)
    except (UnitsInvalid, OSError) as exc:
        return fail(exc)

    async def body(client: AsyncRedis, settings: Settings) -> int:
        count = await import_units(client, units, prefix=settings.key_prefix, replace=args.replace)
        members = sum(u.members for u in units)
        print(f"imported {count} unit(s), {members} registered member(s)")
        return 0

    return run_with_redis(args, body)


def cmd_units_list(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        units = await load_units(client, prefix=settings.key_prefix)
        rows = [(u.id, u.province, u.members, u.name) for _, u in sorted(units.items())]
        print_table(("id", "province", "members", "name"), rows)
        return 0

    return run_with_redis(args, body)
