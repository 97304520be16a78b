"""``contest results CONTEST``: a contest's standings, as a table or CSV.

::

    contest results CONTEST [--csv | --json] [--limit N] [--redis-url URL] [--data-dir DIR]

A finalized contest prints its final standings (the tie-break chain applied, from
``scoring.export``); ``--csv`` prints the same file the HTTP API exports (UTF-8, header
``rank,member,name,unit,province,score,prediction,time_used_ms,submitted_at``). Before
finalize it prints the live leaderboard (score, then time used), marked as not final.
``--limit`` shows the first N lines of the table (default 50; 0 for all).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli._common import add_redis_options, print_table, run_with_redis
from engine.contests.store import ContestStore
from engine.core.settings import Settings
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId
from scoring.export import export, rows
from scoring.leaderboard import Leaderboard

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "results",
        help="a contest's final standings (or its live leaderboard before finalize)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("contest", help="contest id")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="CSV of the final standings")
    output.add_argument("--json", action="store_true", help="JSON of the final standings")
    parser.add_argument("--limit", type=int, default=50, help="lines of the table (0: all)")
    add_redis_options(parser)
    parser.set_defaults(func=run)


def _ms(ms: int) -> str:
    return f"{ms / 1000:.3f}s"


async def _results(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    store = ContestStore(client, settings.key_prefix)
    contest = await store.get(ContestId(args.contest))
    out = sys.stdout
    if args.csv or args.json:
        if contest.state != "finalized":
            print(
                f"error: contest {contest.id} is {contest.state}: no final standings yet",
                file=sys.stderr,
            )
            return 1
        body = await export(client, contest.id, "csv" if args.csv else "json", prefix=store.prefix)
        out.write(body.decode("utf-8-sig"))
        if args.json:
            out.write("\n")
        return 0
    limit = args.limit if args.limit > 0 else None
    print(f"{contest.title} ({contest.id}, {contest.mode}, {contest.state})", file=out)
    if contest.state == "finalized":
        table: list[list[object]] = []
        async for row in rows(client, contest.id, prefix=store.prefix):
            if limit is not None and len(table) >= limit:
                break
            table.append(
                [
                    row.rank,
                    row.member,
                    row.name,
                    row.province,
                    row.unit,
                    row.score,
                    "" if row.prediction is None else row.prediction,
                    _ms(row.time_used_ms),
                ]
            )
        print("final standings", file=out)
        headers = ["rank", "member", "name", "province", "unit", "score", "prediction", "time"]
        print_table(headers, table, out)
        return 0
    board = Leaderboard(client, contest.id, store.prefix, shards=contest.shards)
    size = await board.size()
    standings = await board.top(size if limit is None else limit)
    print(f"live leaderboard, not final ({size} members)", file=out)
    print_table(
        ["rank", "member", "name", "province", "unit", "score", "time"],
        [
            [s.rank, s.member, s.name, s.province, s.unit, s.score, _ms(s.time_used)]
            for s in standings
        ],
        out,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    return run_with_redis(args, lambda client, settings: _results(client, settings, args))
