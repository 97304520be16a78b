"""A window round's storm and its bare floor in one run, side by side (issue 12).

::

    python -m bench.window_storm --members N --storm-seconds S
                                 [--steady-rate R --duration D] [--workers W] [--procs P]
                                 [--questions 10] [...the window swarm's options] [--out FILE]

Issue 12's targets: "100,000 members start within 60 s: p99 start ≤ 1 s, no error"
(``--members 100000 --storm-seconds 60``) and "sustained ≈ 280 starts/s for 10 minutes:
ack p99 ≤ 200 ms, 0 lost" (``--steady-rate 280 --duration 600``, after a storm of
``--members``). Where the box cannot reach them, the floor shows how far a bare server
gets with the same arrivals on the same box, in the same run:

1. **floor**: :mod:`bench.storm_floor` with the same arrival offsets (the window swarm's
   :func:`loadtest.window.arrivals` from the same ``--seed``), dealt to the same number of
   client processes in the same way, against W bare websockets servers; its members do the
   swarm members' exchange (``start_attempt``, ``--questions`` answers after the same think
   times, ``submit``) but neither drop nor expire (see that module for what it does not
   do);
2. **engine**: the window swarm (:func:`loadtest.window.run`: ``contest serve --workers W``
   with its embedded Redis), with every window option as given here (``--board-updates
   attempt`` makes the round write its boards once per attempt, docs/scoring.md); its own
   summary and closing lines follow its run.

Then a table, one column per side and one for engine / floor: members started, arrival →
``attempt`` p50/p99/max (the storm's members and the steady ones apart), ``start_attempt``
→ ``attempt``, ack p50/p99 (and after the storm), errors or failed and given-up members,
answers lost (the engine's acks missing from its audit stream), CPU per member by process
group (servers or gateways, Redis, clients) over the run from the first arrival; and three
closing lines for scripts (each one line; latencies in whole ms, to 0.1 ms below 10)::

    window storm floor: N of M started, arrival to attempt p50 A ms, p99 B ms,
        max C ms, ack p99 D ms, errors E
    window storm engine: N of M started, arrival to attempt p50 A ms, p99 B ms,
        max C ms, ack p99 D ms, errors E, lost L
    ratio engine/floor: arrival to attempt p99 X, ack p99 Y, server CPU per member Z

(floor errors: failed plus given up; engine errors: every error frame, refused ack, failed
connect or lost connection by code). ``--out`` holds both sides' figures and the ratios.
Bounded: each side by ``--timeout``; a member waiting past its reply timeout is given up
and counted on either side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from bench import storm_floor
from bench._wsbench import flat, load_average
from loadtest import window
from loadtest.swarm import PER_PROCESS

__all__ = ["main", "ratios"]


def peak_connected(offsets: list[float], args: argparse.Namespace) -> int:
    """About how many members are connected at once at the busiest moment: those who
    arrived within one attempt's length (``--questions`` think times, log-normal with sigma
    0.5, at most ``--attempt-seconds``) before any arrival."""
    import bisect

    think = args.think_ms / 1000 * math.exp(0.5**2 / 2)
    hold = min(args.questions * think, float(args.attempt_seconds)) + 1.0
    return max(
        (i + 1 - bisect.bisect_left(offsets, at - hold) for i, at in enumerate(offsets)),
        default=0,
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def engine_cpu_ms(summary: dict[str, Any]) -> dict[str, float]:
    """CPU ms per member by process group over the engine's run."""
    cpu, each = summary["run_cpu_s"], max(1, summary["members"])
    return {
        "servers": cpu.get("gateways", 0.0) * 1000 / each,
        "redis": cpu.get("redis-server", 0.0) * 1000 / each,
        "clients": cpu.get("clients", 0.0) * 1000 / each,
    }


def floor_cpu_ms(floor: storm_floor.FloorResult) -> dict[str, float]:
    each = max(1, floor.members)
    return {
        "servers": floor.server_cpu_s * 1000 / each,
        "redis": 0.0,
        "clients": floor.client_cpu_s * 1000 / each,
    }


def ratios(floor: storm_floor.FloorResult, engine: dict[str, Any]) -> dict[str, float]:
    """Engine / floor: latencies, and CPU per member on the server side (the engine's
    gateways and Redis against the bare servers) and the clients'."""
    e, f = engine_cpu_ms(engine), floor_cpu_ms(floor)
    return {
        "admit_p50": _ratio(engine["admit_p50_ms"], floor.admit.p50),
        "admit_p99": _ratio(engine["admit_p99_ms"], floor.admit.p99),
        "start_p99": _ratio(engine["start_p99_ms"], floor.start.p99),
        "ack_p99": _ratio(engine["ack_p99_ms"], floor.ack.p99),
        "server_cpu_per_member": _ratio(e["servers"] + e["redis"], f["servers"]),
        "client_cpu_per_member": _ratio(e["clients"], f["clients"]),
    }


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def report(floor: storm_floor.FloorResult, engine: dict[str, Any], ratio: dict[str, float]) -> None:
    e_errors = sum(engine["errors"].values())
    f_errors = floor.failed + floor.given_up
    e_cpu, f_cpu = engine_cpu_ms(engine), floor_cpu_ms(floor)

    def trio(a: float, b: float, c: float) -> str:
        return f"{_ms(a)} / {_ms(b)} / {_ms(c)}"

    rows: list[tuple[str, str, str, str]] = [
        ("members started", f"{floor.started} of {floor.members}",
         f"{engine['started']} of {engine['members']}", ""),
        ("arrival → attempt p50/p99/max ms",
         trio(floor.admit.p50, floor.admit.p99, floor.admit.max),
         trio(engine["admit_p50_ms"], engine["admit_p99_ms"], engine["admit_max_ms"]),
         f"{ratio['admit_p50']:.2f} / {ratio['admit_p99']:.2f}"),
        ("  storm p99 / steady p99 ms",
         f"{_ms(floor.storm_admit.p99)} / {_ms(floor.steady_admit.p99)}",
         f"{_ms(engine['storm_admit_p99_ms'])} / {_ms(engine['steady_admit_p99_ms'])}", ""),
        ("start p50/p99 ms", f"{_ms(floor.start.p50)} / {_ms(floor.start.p99)}",
         f"{_ms(engine['start_p50_ms'])} / {_ms(engine['start_p99_ms'])}",
         f"{ratio['start_p99']:.2f} (p99)"),
        ("ack p50/p99 ms", f"{_ms(floor.ack.p50)} / {_ms(floor.ack.p99)}",
         f"{_ms(engine['ack_p50_ms'])} / {_ms(engine['ack_p99_ms'])}",
         f"{ratio['ack_p99']:.2f} (p99)"),
        ("  after the storm p50/p99 ms",
         f"{_ms(floor.steady_ack.p50)} / {_ms(floor.steady_ack.p99)}",
         f"{_ms(engine['steady_ack_p50_ms'])} / {_ms(engine['steady_ack_p99_ms'])}", ""),
        ("errors", f"{f_errors} (failed {floor.failed}, given up {floor.given_up})",
         f"{e_errors}" + (f" {json.dumps(engine['errors'], sort_keys=True)}" if e_errors else ""),
         ""),
        ("answers lost", "-", f"{engine['lost_answers']}", ""),
        ("CPU ms/member servers+Redis",
         f"{f_cpu['servers']:.2f}",
         f"{e_cpu['servers']:.2f} + {e_cpu['redis']:.2f}",
         f"{ratio['server_cpu_per_member']:.2f}"),
        ("CPU ms/member clients", f"{f_cpu['clients']:.2f}", f"{e_cpu['clients']:.2f}",
         f"{ratio['client_cpu_per_member']:.2f}"),
    ]  # fmt: skip
    print()
    print(f"{'':<34}{'floor':<28}{'engine':<34}engine/floor")
    for name, a, b, c in rows:
        print(f"{name:<34}{a:<28}{b:<34}{c}")
    print(f"load average {load_average()} (2 cores, shared with other work)")
    print(
        f"window storm floor: {floor.started} of {floor.members} started, arrival to attempt "
        f"p50 {_ms(floor.admit.p50)} ms, p99 {_ms(floor.admit.p99)} ms, max "
        f"{_ms(floor.admit.max)} ms, ack p99 {_ms(floor.ack.p99)} ms, errors {f_errors}"
    )
    print(
        f"window storm engine: {engine['started']} of {engine['members']} started, arrival to "
        f"attempt p50 {_ms(engine['admit_p50_ms'])} ms, p99 {_ms(engine['admit_p99_ms'])} ms, "
        f"max {_ms(engine['admit_max_ms'])} ms, ack p99 {_ms(engine['ack_p99_ms'])} ms, "
        f"errors {e_errors}, lost {engine['lost_answers']}"
    )
    print(
        f"ratio engine/floor: arrival to attempt p99 {ratio['admit_p99']:.2f}, ack p99 "
        f"{ratio['ack_p99']:.2f}, server CPU per member {ratio['server_cpu_per_member']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.window_storm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=20_000, help="members in the storm")
    parser.add_argument("--workers", type=int, default=2, help="gateways, and bare servers")
    parser.add_argument("--procs", type=int, default=2, help="client processes (at least)")
    parser.add_argument("--questions", type=int, default=10, help="per attempt")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per side")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    window.add_arguments(parser.add_argument_group("the window swarm's options"))
    args = parser.parse_args(argv)
    offsets = storm_floor.offsets_for(args)
    procs = max(args.procs, math.ceil(len(offsets) / PER_PROCESS))
    plan = storm_floor.plan_for(args, args.questions)
    print(
        f"{len(offsets)} members: {args.members} within {args.storm_seconds:g} s, then "
        f"{args.steady_rate:g}/s for {args.duration:g} s; {args.workers} server process(es), "
        f"{procs} client process(es); load average {load_average()}",
        flush=True,
    )
    peak = peak_connected(offsets, args)
    if peak / args.workers > 18_000:
        print(
            f"warning: about {peak:,} members connected at once at the peak, "
            f"{peak // args.workers:,} per server process: past the 20,000 open files a "
            f"process may hold here (raise --workers)",
            flush=True,
        )
    if args.drop_share or args.expire_share:
        print(
            f"the floor's members neither drop nor expire (the engine's: drop share "
            f"{args.drop_share:g}, expire share {args.expire_share:g})",
            flush=True,
        )
    print("== floor: bare websockets servers, same arrivals", flush=True)
    floor = storm_floor.run(offsets, args.workers, procs, plan, args.timeout)
    storm_floor.print_result(floor, plan)
    print("== engine: the window swarm, same arrivals", flush=True)
    engine = window.run(args)
    window.print_summary(engine)
    ratio = ratios(floor, engine)
    report(floor, engine, ratio)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "floor": {**flat(floor), "cpu_ms_per_member": floor_cpu_ms(floor)},
            "engine": {**engine, "cpu_ms_per_member": engine_cpu_ms(engine)},
            "ratios": ratio,
            "load_average": os.getloadavg(),
        }
        args.out.write_text(json.dumps(data, indent=2, default=str))
    ok_floor = floor.everyone_started and not floor.failed and not floor.given_up
    ok_engine = (
        engine["started"] == engine["members"]
        and not engine["errors"]
        and engine["lost_answers"] == 0
    )
    return 0 if ok_floor and ok_engine else 1


if __name__ == "__main__":
    sys.exit(main())
