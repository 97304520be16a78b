"""What the ``contest`` subcommands share: Redis options, error printing, tables.

Every subcommand that touches Redis takes ``--redis-url``, ``--data-dir`` and
``--key-prefix`` (defaults from ``CONTEST_*`` variables, see :class:`engine.core.settings.Settings`)
and gets its client from :func:`engine.runtime.redisconn.async_client`: the URL if given, else the
data folder's embedded redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

import msgspec
import redis
import redis.exceptions

from engine.core.errors import ConfigError, EngineError, UnitsInvalid
from engine.core.settings import ENV_PREFIX, Settings
from engine.runtime.redisconn import AsyncRedis, async_client
from question_bank.errors import BankInvalid, QuestionBankError
from scoring.errors import ScoringError

__all__ = [
    "add_redis_options",
    "fail",
    "load_settings",
    "log_to_stderr",
    "print_table",
    "run_with_redis",
    "say",
    "settings_from",
]


def add_redis_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Redis")
    group.add_argument(
        "--redis-url",
        help="Redis to use (default: $CONTEST_REDIS_URL, else the embedded server of --data-dir)",
    )
    group.add_argument(
        "--data-dir",
        help="folder of the embedded redis-server's AOF (default: $CONTEST_DATA_DIR or ./var)",
    )
    group.add_argument("--key-prefix", help="prefix of every Redis key (default: ce)")


def log_to_stderr(tag: str = "") -> None:
    """Log at INFO to stderr with the level and, in a child process of ``serve``, which one
    (``w0``, ``conductor``): the swarm and operators grep these lines."""
    where = f" {tag}" if tag else ""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s{where} %(levelname)s %(name)s %(message)s"
    )


def say(text: str) -> None:
    """Print *text* and its newline in one write, then flush.

    ``serve`` workers share the parent's stdout and stderr; print() writes the text and the
    newline separately, so another process's log line could land between them and glue
    itself to a line a person (or a test) reads.
    """
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def load_settings(**overrides: Any) -> Settings:
    """:meth:`Settings.from_env` with *overrides*; a value that is not of its setting's type
    (``CONTEST_WS_PORT=web``) raises :class:`ConfigError` naming the variable, which
    :func:`engine.cli.main` prints as one line (it was a msgspec traceback)."""
    try:
        return Settings.from_env(**overrides)
    except msgspec.ValidationError as exc:
        match = re.search(r"at `\$\.(\w+)`", str(exc))
        problem = str(exc).split(" - at ")[0]
        if match is None:
            raise ConfigError(f"invalid setting: {problem}") from None
        name = match.group(1)
        where = f"{ENV_PREFIX}{name.upper()}"
        if overrides.get(name) is not None:
            where = f"--{name.replace('_', '-')}"
        raise ConfigError(f"invalid {where}: {problem}") from None


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        redis_url=getattr(args, "redis_url", None),
        data_dir=getattr(args, "data_dir", None),
        key_prefix=getattr(args, "key_prefix", None),
    )


def fail(exc: BaseException | str, out: TextIO | None = None) -> int:
    """Print *exc* (an error, or what went wrong in words) as a list a person can act on;
    return the exit code (1)."""
    out = out or sys.stderr
    if isinstance(exc, BankInvalid):
        print(f"error: {len(exc.problems)} problem(s):", file=out)
        for problem in exc.problems:
            print(f"  {problem}", file=out)
    elif isinstance(exc, UnitsInvalid):
        print(f"error: {len(exc.problems)} problem(s):", file=out)
        for line in exc.problems:
            print(f"  {line}", file=out)
    elif isinstance(exc, redis.ConnectionError):
        print(f"error: cannot reach Redis: {exc}", file=out)
    else:
        print(f"error: {exc}", file=out)
    return 1


def run_with_redis(
    args: argparse.Namespace,
    body: Callable[[AsyncRedis, Settings], Awaitable[int]],
) -> int:
    """Run ``body(client, settings)`` on the Redis the options choose; errors -> exit 1."""
    settings = settings_from(args)

    async def main() -> int:
        async with async_client(settings) as client:
            return await body(client, settings)

    try:
        return asyncio.run(main())
    except BrokenPipeError:
        raise  # the reader of standard output went away: engine.cli.main ends quietly
    except (
        QuestionBankError,
        EngineError,
        ScoringError,
        ValueError,
        OSError,
        redis.RedisError,
        redis.exceptions.RedisClusterException,
    ) as exc:
        return fail(exc)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None
) -> None:
    """Print an aligned text table (numbers right-aligned)."""
    out = out or sys.stdout
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]
    for n, row in enumerate(cells):
        parts = [
            cell.rjust(w) if numeric[i] and n else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(parts).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
