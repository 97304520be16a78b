"""``contest audit CONTEST``: read a contest's audit stream of accepted answers.

::

    contest audit CONTEST [--jsonl | --count] [--redis-url URL] [--data-dir DIR] [--key-prefix P]

Prints every accepted answer in stream order (a table, or one JSON object per line with
``--jsonl``), or only how many there are with ``--count``. Attempt start/close markers of
window rounds are not answers and are left out. A member-sharded live show's answers are
read from every shard's stream, one shard after another. Load tests use it to check that every
answer the server acknowledged is in the stream. An id with no stream that names no contest
is an error (exit 1), so a mistyped id is not read as "no answers".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from engine.cli._common import add_redis_options, run_with_redis
from engine.contests.store import ContestStore
from engine.core.errors import ContestNotFound
from engine.core.settings import Settings
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId
from scoring import audit

__all__ = ["register"]

_HEADER = (
    f"{'id':<18}{'member':<16}{'question':<14}{'n':>3}{'choice':>12}{'points':>8}{'t ms':>8}\n"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="read a contest's audit stream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("contest", help="contest id")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    output.add_argument("--count", action="store_true", help="only the number of answers")
    add_redis_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    contest = ContestId(args.contest)
    out = sys.stdout
    encoder = msgspec.json.Encoder()

    async def body(client: AsyncRedis, settings: Settings) -> int:
        count = entries = 0
        table = not (args.jsonl or args.count)
        try:  # a member-sharded show's answers are in each shard's stream
            shards = (await ContestStore(client, settings.key_prefix).get(contest)).shards
        except ContestNotFound:
            shards = 1
        async for entry in audit.entries(client, contest, settings.key_prefix, shards=shards):
            entries += 1
            if entry.event:  # attempt start/close markers, not answers
                continue
            count += 1
            if args.count:
                continue
            if args.jsonl:
                out.write(encoder.encode(entry).decode() + "\n")
            else:
                if count == 1:
                    out.write(_HEADER)
                out.write(
                    f"{entry.id:<18}{entry.member:<16}{entry.question:<14}{entry.attempt:>3}"
                    f"{entry.choice[:11]:>12}{entry.points:>8}{entry.t:>8}\n"
                )
        if not entries:
            # No stream: a contest with no answer yet, or a mistyped id (ContestNotFound).
            await ContestStore(client, settings.key_prefix).get(contest)
        if table and not count:
            out.write(_HEADER)
        if args.count:
            out.write(f"{count}\n")
        return 0

    return run_with_redis(args, body)
