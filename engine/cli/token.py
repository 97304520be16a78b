"""``contest token``: issue join tokens for development and load tests.

::

    contest token --contest C --member M [--name N] [--province P] [--unit U] [--ttl S]
    contest token --contest C --count K [--member-prefix m] [--province P1,P2] [--unit U1,U2]
                  [--json]

The tokens are the HS256 JWTs the member app's backend would issue (:mod:`engine.directory.tokens`),
signed with ``--secret`` or ``$CONTEST_TOKEN_SECRET`` (the engine's ``token_secret``).

One token prints the token alone. ``--count K`` issues K tokens for members
``<prefix>1`` .. ``<prefix>K`` (from ``--first``), spread round-robin over the provinces
of ``--province`` (a comma-separated list; default :data:`DEFAULT_PROVINCES`) and, within
each province, over ``--units-per-province`` units named ``<province>-u<j>`` (or round-robin
over ``--unit`` if given). ``--json`` prints one JSON object per line: ``member``, ``name``,
``province``, ``unit``, ``contest``, ``token`` (what ``loadtest`` reads).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import msgspec

from engine.cli._common import load_settings
from engine.core.errors import ConfigError
from engine.directory.tokens import DEFAULT_TTL_SECONDS, issue

__all__ = ["DEFAULT_PROVINCES", "MemberRow", "members", "register"]

DEFAULT_PROVINCES = ("hanoi", "hcm", "danang", "haiphong", "cantho")


class MemberRow(msgspec.Struct, frozen=True, kw_only=True):
    member: str
    name: str
    province: str
    unit: str
    contest: str
    token: str = ""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "token",
        help="issue member join tokens (development, load tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contest", required=True, help="contest id the tokens are for")
    parser.add_argument("--member", help="member id (one token)")
    parser.add_argument("--name", help="display name (default: 'Member <id>')")
    parser.add_argument("--province", help="province id, or a comma-separated list with --count")
    parser.add_argument("--unit", help="unit id, or a comma-separated list with --count")
    parser.add_argument("--count", type=int, default=None, help="issue this many tokens")
    parser.add_argument("--member-prefix", default="m", help="member ids <prefix><n> (--count)")
    parser.add_argument("--first", type=int, default=1, help="number of the first member")
    parser.add_argument(
        "--units-per-province", type=int, default=4, help="units per province without --unit"
    )
    parser.add_argument(
        "--ttl",
        type=_seconds,
        default=DEFAULT_TTL_SECONDS,
        help=f"seconds the tokens are valid, at least 1 (default {DEFAULT_TTL_SECONDS})",
    )
    parser.add_argument("--secret", help="HS256 secret (default: $CONTEST_TOKEN_SECRET)")
    parser.add_argument("--json", action="store_true", help="JSON lines with member details")
    parser.set_defaults(func=run)


def _seconds(value: str) -> int:
    """``--ttl``: a whole number of seconds, at least 1 (0 or less made a token that had
    expired when it was printed, which the gateway then refused as ``token_expired``)."""
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {value!r}") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, not {seconds}")
    return seconds


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def members(
    contest: str,
    *,
    count: int,
    prefix: str = "m",
    first: int = 1,
    provinces: list[str] | None = None,
    units: list[str] | None = None,
    units_per_province: int = 4,
    name: str | None = None,
) -> Iterator[MemberRow]:
    """*count* members spread over provinces and units (pure; tokens not yet issued)."""
    provinces = provinces or list(DEFAULT_PROVINCES)
    for i in range(count):
        number = first + i
        province = provinces[i % len(provinces)]
        if units:
            unit = units[i % len(units)]
        else:
            unit = f"{province}-u{(i // len(provinces)) % max(units_per_province, 1) + 1}"
        member = f"{prefix}{number}"
        yield MemberRow(
            member=member,
            name=name or f"Member {number}",
            province=province,
            unit=unit,
            contest=contest,
        )


def run(args: argparse.Namespace) -> int:
    secret = args.secret or load_settings().token_secret
    if args.count is None:
        if not args.member:
            print("error: give --member for one token, or --count for many", file=sys.stderr)
            return 2
        rows = [
            MemberRow(
                member=args.member,
                name=args.name or f"Member {args.member}",
                province=args.province or "",
                unit=args.unit or "",
                contest=args.contest,
            )
        ]
    else:
        if args.count < 1:
            print("error: --count must be at least 1", file=sys.stderr)
            return 2
        rows = list(
            members(
                args.contest,
                count=args.count,
                prefix=args.member_prefix,
                first=args.first,
                provinces=_split(args.province) or None,
                units=_split(args.unit) or None,
                units_per_province=args.units_per_province,
                name=args.name,
            )
        )
    encoder = msgspec.json.Encoder()
    out = sys.stdout
    try:
        for row in rows:
            token = issue(
                secret,
                contest=row.contest,
                member=row.member,
                name=row.name,
                province=row.province,
                unit=row.unit,
                ttl_seconds=args.ttl,
            )
            if args.json:
                out.write(encoder.encode(msgspec.structs.replace(row, token=token)).decode())
                out.write("\n")
            else:
                out.write(token + "\n")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
