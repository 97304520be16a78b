"""Plot broadcast delivery and answer-ack latency against the number of members, or a
window round's curves over time.

::

    python -m bench.plot bench-results/swarm-*.json --out docs/swarm-latency.png
    python -m bench.plot --window storm-5k.json storm-20k.json --out docs/window-storm.png
    python -m bench.plot --curve bench-results/swarm-p2-*.json --out docs/members-curve.png

Reads the JSON summaries ``python -m loadtest.swarm --out`` writes (one per member count;
several runs of the same count are reduced to their median) and draws two panels:
broadcast delivery (p50, p99 and max = last member, median over the show's questions) and
answer acks (p50, p99), both against members, on the same figure.

``--window``: the JSON summaries of ``python -m loadtest.swarm --mode window --out`` (or of
``python -m bench.window_storm --out``: its engine's run, with the bare floor's p99s of the
same arrivals drawn as dash-dotted lines and its starts in the title), one row of two panels
per file, against seconds from the first arrival: attempts started and
answers acked per second, and the p99 (and p50) of arrival → attempt and of answer → ack
per 5-second bucket, with the targets (1 s, 200 ms) drawn in.

``--curve``: the members curve of issue 11, the new design (the swarm summaries given, one
point per member count, medians of its runs) beside the old one (:data:`OLD_DESIGN`: the
figures recorded in docs/benchmarks.md, *The swarm*, second session, before protocol 2):
answers accepted in time (% of members × questions), ack p99, question broadcast p99
(release → delivery over every question of the show) and gateway CPU per member and
question, each against members.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["OLD_DESIGN", "CurvePoint", "curve", "load", "main", "plot_curve", "plot_window"]


class CurvePoint(NamedTuple):
    """One point of the members curve (the median of its runs)."""

    members: int
    accepted_pct: float
    """Answers accepted in time, % of connected members × questions."""
    ack_p99_ms: float
    broadcast_p99_ms: float
    """Question release (``sent_at``) → delivery, p99 over every question of the show."""
    cpu_us: float
    """Gateway CPU (every ``contest serve`` process but Redis) per member and question."""
    runs: int = 1
    broadcast_range_ms: tuple[float, float] | None = None
    """Old design only: the recorded per-question range of the last delivery (max)."""


OLD_SOURCE = (
    "old: docs/benchmarks.md 'The swarm', second session (2026-11-25, commit a9e7ac8), "
    "before protocol 2"
)
OLD_DESIGN = (
    # members, accepted in time % (of members × 3), ack p99, broadcast, CPU µs (gateways'
    # CPU in the show / (members × 3)). Broadcast: the table recorded per-question p50
    # and the last member's delivery (max), not p99; the session's own plot
    # (docs/swarm-latency.png) shows p99 within a few % of max, so the max range stands
    # in for p99 (the point in its middle, the range as an error bar).
    CurvePoint(10_000, 100.0, 7.7, 198, 8.9e6 / 30_000, 1, (192, 204)),
    CurvePoint(20_000, 100.0, 156, 532, 17.2e6 / 60_000, 1, (450, 613)),
    CurvePoint(50_000, 100 * 142_323 / 150_000, 11_300, 2_300, 54.0e6 / 150_000, 1, (1_600, 3_000)),
    # two runs: 0 and 917 of 300,000 accepted, ack p99 63 s and 60 s, max 4.6–10.0 s and
    # 4.9–7.5 s, gateways 100.1 s and 91.2 s; the median of two is their mean
    CurvePoint(
        100_000,
        100 * 917 / 2 / 300_000,
        61_500,
        7_300,
        (100.1e6 + 91.2e6) / 2 / 300_000,
        2,
        (4_600, 10_000),
    ),  # fmt: skip
)
"""The old design's members curve, from the figures recorded in docs/benchmarks.md."""


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


def curve(paths: list[Path]) -> list[CurvePoint]:
    """The new design's members curve from ``python -m loadtest.swarm --out`` summaries:
    one point per member count, the median of its runs. A summary written before the
    swarm recorded the curve's own fields gets them from its other figures."""
    runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        summary = json.loads(path.read_text())
        runs[int(summary["members"])].append(summary)
    points = []
    for members, group in sorted(runs.items()):
        rows = [_curve_figures(s) for s in group]
        points.append(
            CurvePoint(
                members,
                *(statistics.median(r[i] for r in rows) for i in range(4)),
                runs=len(group),
            )
        )
    return points


def _curve_figures(s: dict[str, Any]) -> tuple[float, float, float, float]:
    """accepted %, ack p99, broadcast p99, CPU µs per member-question of one summary."""
    nan = float("nan")
    questions = s.get("questions_planned") or len(s["questions"])
    expected = s.get("answers_expected") or s["connected"] * questions
    accepted = s.get("accepted_in_time_pct")
    if accepted is None:
        accepted = 100 * s["accepted"] / expected if expected else nan
    cpu = s.get("gateway_us_per_member_question")
    if cpu is None:
        gateways = (s.get("show_cpu_s") or {}).get("gateways")
        cpu = gateways / expected * 1e6 if gateways is not None and expected else nan
    broadcast = s.get("delivery_p99_ms")
    if broadcast is None:  # the median of the per-question p99s
        per_question = [q["p99_ms"] for q in s["questions"].values()]
        broadcast = statistics.median(per_question) if per_question else nan
    return float(accepted), float(s["ack_p99_ms"]), float(broadcast), float(cpu)


def plot_curve(paths: list[Path], out: Path, label: str = "new: protocol 2") -> None:
    """Four panels against members: accepted in time, ack p99, broadcast p99 and CPU per
    member-question; the new design from *paths* beside :data:`OLD_DESIGN`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    new = curve(paths)
    print(f"{'':<5}{'members':>9}{'runs':>6}{'accepted %':>12}{'ack p99':>10}{'bcast p99':>11}"
          f"{'CPU us':>8}")  # fmt: skip
    for name, points in (("old", OLD_DESIGN), ("new", new)):
        for p in points:
            print(
                f"{name:<5}{p.members:>9}{p.runs:>6}{p.accepted_pct:>12.2f}{p.ack_p99_ms:>10.1f}"
                f"{p.broadcast_p99_ms:>11.0f}{p.cpu_us:>8.0f}"
            )
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = (
        ("accepted_pct", "Answers accepted in time", "% of members × questions", False),
        ("ack_p99_ms", "Answer → ack, p99", "ms (log scale)", True),
        ("broadcast_p99_ms", "Question broadcast: release → delivery, p99", "ms (log scale)", True),
        ("cpu_us", "Gateway CPU per member and question", "µs", False),
    )
    for ax, (field, title, unit, log) in zip(axes.flat, panels, strict=True):
        for name, points, style in (
            ("old: second session, before protocol 2", OLD_DESIGN, "s--"),
            (label, new, "o-"),
        ):
            xs = [p.members for p in points]
            ys = [getattr(p, field) for p in points]
            if field == "broadcast_p99_ms" and points is OLD_DESIGN:
                ranges = [p.broadcast_range_ms or (y, y) for p, y in zip(points, ys, strict=True)]
                errors = [
                    [y - lo for (lo, _), y in zip(ranges, ys, strict=True)],
                    [hi - y for (_, hi), y in zip(ranges, ys, strict=True)],
                ]
                ax.errorbar(xs, ys, yerr=errors, fmt=style, capsize=3,
                            label="old: last member (max), range over questions")  # fmt: skip
            else:
                ax.plot(xs, ys, style, label=name)
        if field == "broadcast_p99_ms":
            ax.axhline(1000, color="grey", linestyle=":", linewidth=1, label="target 1 s")
        if field == "accepted_pct":
            ax.axhline(99, color="grey", linestyle=":", linewidth=1, label="target 99%")
            ax.set_ylim(-5, 105)
        if field == "cpu_us":
            ax.set_ylim(bottom=0)
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("members")
        ax.set_ylabel(unit)
        ax.legend(fontsize="x-small", loc="lower right" if log else "best")
    fig.suptitle(
        "Live show on one 2-core box (gateways, Redis and clients share the cores)\n" + OLD_SOURCE,
        fontsize="medium",
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def plot_window(paths: list[Path], out: Path) -> None:
    """One row per window-swarm summary: rates over time, and latencies over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = [json.loads(p.read_text()) for p in paths]
    # bench.window_storm's JSON: the engine's run, with the floor's figures beside it
    floors = [data.get("floor") if "engine" in data else None for data in found]
    runs = [data["engine"] if "engine" in data else data for data in found]
    fig, axes = plt.subplots(len(runs), 2, figsize=(12, 3.6 * len(runs)), squeeze=False)
    for (rates, lat), run, floor in zip(axes, runs, floors, strict=True):
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
        if floor is not None:  # the bare floor's p99 over its whole run, same arrivals
            started = f"{floor['started']:,} of {floor['members']:,} started"
            rates.set_title(f"{title}\n(engine; bare floor, same arrivals: {started})")
            for key, colour, label in (
                ("admit_p99_ms", "tab:blue", "floor: arrival → attempt p99"),
                ("ack_p99_ms", "tab:green", "floor: answer → ack p99"),
            ):
                lat.axhline(max(floor[key], 0.1), color=colour, linestyle="-.", linewidth=1.2,
                            label=label)  # fmt: skip
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
    parser.add_argument(
        "--curve",
        action="store_true",
        help="live-swarm summaries: the members curve, new design beside the old one",
    )
    parser.add_argument("--label", default="new: protocol 2", help="--curve: the new curve's name")
    args = parser.parse_args(argv)
    if args.window:
        plot_window(args.files, args.out)
        return 0
    if args.curve:
        plot_curve(args.files, args.out, args.label)
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
