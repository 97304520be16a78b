"""``make loadtest``: a small headless locust run against an engine it starts itself.

::

    python -m loadtest.run [--users 60] [--spawn-rate 20] [--time 45] [--out loadtest-report]

1. starts ``contest serve`` (embedded Redis, loopback ports) and loads the sample bank;
2. creates a window round open now and a live show starting in a few seconds;
3. gets members' tokens from ``contest token`` (honest members and, separately, abusers);
4. runs locust headless with all four scenarios, writing its CSV files and HTML report to
   ``--out``;
5. checks the results: every answer an honest member had acknowledged is in the audit
   stream (none lost), no audit entry for an honest member for a question that member
   never answered (the abusers changed nothing of theirs), and prints the summary.

Exit status 0 only if those checks pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import deploy

__all__ = ["main"]

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def _specs(now_ms: int, live_start_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    window = {
        "title": "Load test window round",
        "mode": "window",
        "bank": "loadtest-bank",
        "draw": {"count": 10},
        "window": {
            "opens_at": now_ms,
            "closes_at": now_ms + 3600_000,
            "attempt_seconds": 600,
            "attempts_allowed": 1,
        },
    }
    live = {
        "title": "Load test live show",
        "mode": "live",
        "bank": "loadtest-bank",
        "draw": {"count": 5, "kinds": ["single", "true_false"]},
        "live": {"starts_at": live_start_ms, "question_seconds": 6, "reveal_seconds": 2},
        "scoring": {"speed": True},
    }
    return window, live


def _write_tokens(path: Path, rows: list[dict[str, str]], mode: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "mode": mode}) + "\n")


def check_acks(
    ack_dir: Path, audit: dict[str, set[tuple[str, str]]], honest: set[str]
) -> tuple[int, int, int]:
    """(acknowledged, lost, unexplained): acks missing from the audit stream, and audit
    entries of honest members for questions they never sent an answer to."""
    acked: dict[str, set[tuple[str, str]]] = {}
    sent: dict[str, set[tuple[str, str]]] = {}
    for path in ack_dir.glob("acks-*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            pair = (row["member"], row["question"])
            sent.setdefault(row["contest"], set()).add(pair)
            if row["acked"]:
                acked.setdefault(row["contest"], set()).add(pair)
    total = sum(len(v) for v in acked.values())
    lost = sum(len(pairs - audit.get(contest, set())) for contest, pairs in acked.items())
    unexplained = 0
    for contest, pairs in audit.items():
        for member, question in pairs:
            if member in honest and (member, question) not in sent.get(contest, set()):
                unexplained += 1
    return total, lost, unexplained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--time", type=int, default=45, help="run time in seconds")
    parser.add_argument("--out", type=Path, default=Path("loadtest-report"))
    parser.add_argument(
        "--classes",
        default="WindowMember,LiveMember,LeaderboardReader,Abuser",
        help="comma-separated user classes to run",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ack_dir = args.out / "acks"
    ack_dir.mkdir(exist_ok=True)
    for old in ack_dir.glob("*.jsonl"):
        old.unlink()

    with deploy.serve(workers=1) as target:
        print(f"engine up: {target.ws_url} {target.http_url}", flush=True)
        target.upload_bank()
        now = int(time.time() * 1000)
        window_spec, live_spec = _specs(now, now + 15_000)
        window = target.create_contest(window_spec)["id"]
        live = target.create_contest(live_spec)["id"]
        for cid in (window, live):
            target.action(cid, "schedule")
        tokens_file = args.out / "tokens.jsonl"
        abusers_file = args.out / "abusers.jsonl"
        for f in (tokens_file, abusers_file):
            f.unlink(missing_ok=True)
        honest_rows = deploy.tokens(target, window, args.users, prefix="w")
        honest_rows += deploy.tokens(target, live, args.users, prefix="l")
        _write_tokens(tokens_file, honest_rows[: args.users], "window")
        _write_tokens(tokens_file, honest_rows[args.users :], "live")
        _write_tokens(abusers_file, deploy.tokens(target, window, 10, prefix="x"), "window")

        env = dict(os.environ)
        env.update(
            {
                "LOADTEST_TOKENS": str(tokens_file),
                "LOADTEST_ABUSER_TOKENS": str(abusers_file),
                "LOADTEST_HTTP": target.http_url,
                "LOADTEST_ACKS": str(ack_dir),
                "LOADTEST_THINK": "0.5",
            }
        )
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate),
            "-t",
            f"{args.time}s",
            "--host",
            target.ws_url,
            "--csv",
            str(args.out / "loadtest"),
            "--html",
            str(args.out / "loadtest.html"),
            "--stop-timeout",
            "15",
            "--only-summary",
            *args.classes.split(","),
        ]
        print("running:", " ".join(command), flush=True)
        locust = subprocess.run(command, env=env, timeout=args.time + 120)

        audit = {cid: set(deploy.audit_pairs(target, cid)) for cid in (window, live)}
        honest = {row["member"] for row in honest_rows}
        total, lost, unexplained = check_acks(ack_dir, audit, honest)
        print(f"\nlocust exit status {locust.returncode}; report: {args.out / 'loadtest.html'}")
        print(
            f"acknowledged answers: {total}; lost (not in the audit stream): {lost}; "
            f"audit entries of honest members without an ack: {unexplained}"
        )
    ok = total > 0 and lost == 0 and unexplained == 0
    print("loadtest check:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
