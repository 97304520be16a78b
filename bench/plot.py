"""Plot broadcast delivery and answer-ack latency against the number of members, or a
window round's curves over time.

::

    python -m bench.plot bench-results/swarm-*.json --out docs/swarm-latency.png
    python -m bench.plot --window storm-5k.json storm-20k.json --out docs/window-storm.png

Reads the JSON summaries ``python -m loadtest.swarm --out`` writes (one per member count;
several runs of the same count are reduced to their median) and draws two panels:
broadcast delivery (p50, p99 and max = last member, median over the show's questions) and
answer acks (p50, p99), both against members, on the same figure.

``--window``: the JSON summaries of ``python -m loadtest.swarm --mode window --out``, one
row of two panels per file, against seconds from the first arrival: attempts started and
answers acked per second, and the p99 (and p50) of arrival → attempt and of answer → ack
per 5-second bucket, with the targets (1 s, 200 ms) drawn in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["load", "main", "plot_window"]


def load(paths: list[Path]) -> dict[int, dict[str, float]]:
    """members -> median figures over the runs with that many members."""
    runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        summary = json.loads(path.read_text())
        runs[int(summary["members"])].append(summary)
    table: dict[int, dict[str, float]] = {}
    for members, group in sorted(runs.items()):

        def med(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        def per_run(summary: dict[str, Any], field: str) -> float:
            return med([q[field] for q in summary["questions"].values()])

        table[members] = {
            "delivery_p50": med([per_run(s, "p50_ms") for s in group]),
            "delivery_p99": med([per_run(s, "p99_ms") for s in group]),
            "delivery_max": med([per_run(s, "max_ms") for s in group]),
            "ack_p50": med([s["ack_p50_ms"] for s in group]),
            "ack_p99": med([s["ack_p99_ms"] for s in group]),
            "runs": float(len(group)),
        }
    return table


def plot_window(paths: list[Path], out: Path) -> None:
    """One row per window-swarm summary: rates over time, and latencies over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(p.read_text()) for p in paths]
    fig, axes = plt.subplots(len(runs), 2, figsize=(12, 3.6 * len(runs)), squeeze=False)
    for (rates, lat), run in zip(axes, runs, strict=True):
        line = run["timeline"]
        t = [b["t"] for b in line]
        title = f"{run['members']:,} members: storm of {run.get('storm_seconds', 0):g} s" + (
            f", then {run['steady_rate']:g}/s for {run['duration']:g} s"
            if run.get("steady_rate")
            else ""
        )
        rates.plot(t, [b["starts_per_s"] for b in line], label="attempts started / s")
        rates.plot(t, [b["acks_per_s"] for b in line], label="answers acked / s")
        rates.set_title(title)
        rates.set_xlabel("s from the first arrival")
        rates.set_ylabel("per second")
        rates.legend()
        for key, label in (
            ("admit_p99_ms", "arrival → attempt p99"),
            ("admit_p50_ms", "arrival → attempt p50"),
            ("ack_p99_ms", "answer → ack p99"),
            ("ack_p50_ms", "answer → ack p50"),
        ):
            lat.plot(t, [b[key] for b in line], label=label)
        lat.axhline(1000, color="grey", linestyle="--", linewidth=1, label="start target 1 s")
        lat.axhline(200, color="grey", linestyle=":", linewidth=1, label="ack target 200 ms")
        lat.set_yscale("log")
        lat.set_xlabel("s from the first arrival")
        lat.set_ylabel("ms per 5-s bucket (log)")
        lat.legend(fontsize="small")
    fig.suptitle("Window round on one 2-core box shared with other work (gateways, Redis, clients)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/swarm-latency.png"))
    parser.add_argument(
        "--window", action="store_true", help="window-swarm summaries: curves over time"
    )
    args = parser.parse_args(argv)
    if args.window:
        plot_window(args.files, args.out)
        return 0
    table = load(args.files)
    print(
        f"{'members':>9}{'runs':>6}{'deliv p50':>11}{'deliv p99':>11}{'deliv max':>11}"
        f"{'ack p50':>9}{'ack p99':>9}"
    )
    for n, row in table.items():
        print(
            f"{n:>9}{row['runs']:>6.0f}{row['delivery_p50']:>11.0f}{row['delivery_p99']:>11.0f}"
            f"{row['delivery_max']:>11.0f}{row['ack_p50']:>9.1f}{row['ack_p99']:>9.1f}"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    members = list(table)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in (
        ("delivery_p50", "p50"),
        ("delivery_p99", "p99"),
        ("delivery_max", "max (last member)"),
    ):
        left.plot(members, [table[n][key] for n in members], marker="o", label=label)
    left.axhline(1000, color="grey", linestyle="--", linewidth=1, label="target 1 s")
    left.set_title("Question broadcast: release → delivery")
    left.set_xlabel("members connected")
    left.set_ylabel("ms (log scale)")
    left.set_yscale("log")
    left.legend()
    for key, label in (("ack_p50", "p50"), ("ack_p99", "p99")):
        right.plot(members, [table[n][key] for n in members], marker="o", label=label)
    right.set_title("Answer → ack")
    right.set_xlabel("members connected")
    right.set_ylabel("ms (log scale)")
    right.set_yscale("log")  # from a few ms to a minute: linear hides the small ones
    right.legend()
    fig.suptitle("Swarm on one 2-core box (gateways, Redis and clients share the cores)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
