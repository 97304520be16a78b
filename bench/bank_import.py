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
import asyncio
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

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


def _parse(data: bytes) -> int:
    return len(loads(data, "csv", source="bench.csv", bank_id="bench").questions)


async def _loop_lag(parse: Callable[[], Awaitable[object]]) -> tuple[float, float, float]:
    """(seconds the parse took, p50 and max of how late a 10 ms timer fired meanwhile):
    what every other request on the same event loop waits for."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    lags.clear()
    start = time.perf_counter()
    await parse()
    took = time.perf_counter() - start
    done.set()
    await task
    lags.sort()
    return took, lags[len(lags) // 2] if lags else took, lags[-1] if lags else took


async def _compare_off_loop(rows: int) -> None:
    data = csv_bank(rows, same_text=True)
    loop = asyncio.get_running_loop()

    async def inline() -> object:
        return _parse(data)

    def in_pool(pool: Executor) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            return await loop.run_in_executor(pool, _parse, data)

        return run

    spawn = multiprocessing.get_context("spawn")
    with ThreadPoolExecutor(1) as threads, ProcessPoolExecutor(1, mp_context=spawn) as procs:
        await loop.run_in_executor(procs, _parse, csv_bank(10, same_text=True))  # start it
        print(f"event loop while a {rows}-row CSV ({len(data) / 1e6:.1f} MB) is parsed:")
        print(f"{'where':>14}  {'parse s':>8}  {'lag p50 ms':>10}  {'lag max ms':>10}")
        for name, run in (
            ("inline", inline),
            ("thread", in_pool(threads)),
            ("process", in_pool(procs)),
        ):
            took, p50, worst = await _loop_lag(run)
            print(
                f"{name:>14}  {took:>8.3f}  {p50 * 1000:>10.1f}  {worst * 1000:>10.1f}", flush=True
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bank_import")
    parser.add_argument("--quick", action="store_true", help="sizes 3000,6000 and one run")
    parser.add_argument("--sizes", default="3000,6000,12000,24000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--loop-rows", type=int, default=100_000, help="bank size of the event-loop comparison"
    )
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
    asyncio.run(_compare_off_loop(12_000 if args.quick else args.loop_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
