"""The ``contest`` command.

Each group of subcommands lives in its own module and registers itself through a
``register(subparsers)`` function listed in :data:`COMMAND_MODULES`; a module that is not
there yet is skipped, so the CLI grows one module at a time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

COMMAND_MODULES = (
    "engine.cli.bank",  # contest bank validate|convert|import|export|list|show
    "engine.cli.org",  # contest org|key: organisations and organiser API keys
    "engine.cli.serve",  # contest serve
    "engine.cli.demo",  # contest demo
    "engine.cli.token",  # contest token
    "engine.cli.results",  # contest results
    "engine.cli.audit",  # contest audit
    "engine.cli.campaign",  # contest campaign create/list/show/schedule/report
    "engine.cli.contests",  # contest contest create/list/show/schedule/start/close/...
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contest", description="Online contest and quiz engine.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; each subcommand sets ``func(args) -> exit code``."""
    from engine.core.errors import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:  # settings that cannot work, from the environment or options
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`contest token --count 50000 | head`): stop quietly, as cat
        # does; standard output goes nowhere so the interpreter's last flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
