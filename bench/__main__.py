"""Run every benchmark in order: ``python -m bench [--quick]``.

Each module exposes ``main(argv) -> int`` (or a ``main()`` reading ``sys.argv``) and
prints its figures beside a reference measured in the same run; record them in
docs/benchmarks.md. Arguments given here (``--quick``) are passed to every module.
"""

from __future__ import annotations

import importlib
import inspect
import sys

MODULES = [
    "answers",
    "leaderboard",
    "finalize",
    "echo",
    "broadcast",
    "draws",
    "bank_import",
    "show",
    "window_start",
    "shards",
    "window_answers",
]
"""Benchmarks in the order they run; a module not (yet) present is skipped."""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    status = 0
    for name in MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"== bench.{name}: not present, skipped", flush=True)
            continue
        print(f"== bench.{name} {' '.join(args)}", flush=True)
        entry = module.main
        if inspect.signature(entry).parameters:
            result = entry(args)
        else:
            saved, sys.argv = sys.argv, [f"bench.{name}", *args]
            try:
                result = entry()
            finally:
                sys.argv = saved
        status = status or int(result or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
