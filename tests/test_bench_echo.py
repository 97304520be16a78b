"""bench/echo.py, answers end to end, on a real and small run (``--quick``: 100 members ×
20 answers): the three servers (bare echo, bare + the accept script, the gateway) each ack
every answer as accepted, none is lost, and the ratio lines are printed. No speed is
asserted (speed belongs in benchmarks): only that the bench still runs against the
engine's accept path."""

import re
import subprocess
import sys
from pathlib import Path

from tests.utils import timeout

ROOT = Path(__file__).resolve().parent.parent


def test_echo_bench_acks_every_answer_on_each_server() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "echo.py"), "--quick", "--clients", "1"],
        capture_output=True,
        text=True,
        timeout=timeout(300),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = re.findall(
        r"^(bare|bare\+lua|gateway) +\d+ answers/s; "
        r"acked (\d+), refused (\d+), errors (\d+), lost (\d+) of (\d+)$",
        result.stdout,
        re.MULTILINE,
    )
    assert [row[0] for row in rows] == ["bare", "bare+lua", "gateway"], result.stdout
    for _, acked, refused, errors, lost, total in rows:
        counts = (int(acked), int(refused), int(errors), int(lost), int(total))
        assert counts == (2000, 0, 0, 0, 2000)
    assert re.search(r"^gateway / bare echo = \d+\.\d\d \(target >= 0\.8\)$", result.stdout, re.M)
    assert re.search(r"^bare\+lua / bare echo = \d+\.\d\d", result.stdout, re.M)
