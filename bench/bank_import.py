"""Bank import time against bank size: ``python -m bench.bank_import [--quick] [--sizes N,...]``.

Parses and validates (``question_bank.formats.loads``, what ``contest bank import`` and the
HTTP upload run) a CSV bank whose rows all have the same question text and no ``id``: the
worst case for id assignment, since every row derives the same id and needs a ``-N``
suffix. Printed beside the reference measured in the same run: a CSV bank of the same size
whose rows all have different texts (no suffix needed). Seconds are the best of
``--runs`` runs; ``per 1k rows`` should stay flat as the size grows (linear time).
"""

from __future__ import annotations

import argparse
import os
import time

from question_bank.formats import loads

HEADER = "kind,text,option_a,option_b,option_c,option_d,correct,topic\n"


def csv_bank(rows: int, *, same_text: bool) -> bytes:
    """A CSV bank of *rows* single-choice questions without ids."""
    lines = [HEADER]
    for i in range(rows):
        text = "Thủ đô của Việt Nam là?" if same_text else f"Câu hỏi số {i}: thủ đô là?"
        lines.append(f"single,{text},Hà Nội,Huế,Đà Nẵng,Sài Gòn,a,Địa lý\n")
    return "".join(lines).encode()


def best_of(runs: int, data: bytes) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        bank = loads(data, "csv", source="bench.csv", bank_id="bench")
        best = min(best, time.perf_counter() - start)
    assert bank.questions, "the bench bank must load"
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bank_import")
    parser.add_argument("--quick", action="store_true", help="sizes 3000,6000 and one run")
    parser.add_argument("--sizes", default="3000,6000,12000,24000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [3000, 6000] if args.quick else [int(s) for s in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs
    print(
        f"bank import (loads: parse + validate), CSV, best of {runs}; load {os.getloadavg()[0]:.2f}"
    )
    heads = ("rows", "same text s", "per 1k rows", "distinct s", "per 1k rows")
    print("  ".join(f"{h:>11}" for h in heads))
    for rows in sizes:
        same = best_of(runs, csv_bank(rows, same_text=True))
        distinct = best_of(runs, csv_bank(rows, same_text=False))
        print(
            f"{rows:>11}  {same:>11.3f}  {same / rows * 1000:>11.4f}"
            f"  {distinct:>11.3f}  {distinct / rows * 1000:>11.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
