"""The ``contest`` command as an operator meets it: bad arguments, missing files, busy ports,
an unreachable Redis and signals at awkward moments give one line on stderr and an exit
code, never a traceback, and never leave a redis-server behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main

CONTEST = str(Path(sys.executable).parent / "contest")
SECRET = "r" * 40


def _contest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONTEST, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _clean_failure(result: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr, result.stderr


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is *folder* (an embedded redis-server chdirs to its
    data folder; its command line is rewritten, so the folder is what names it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data folder; any redis-server a failing test left in it is stopped."""
    folder = (tmp_path / "var").resolve()
    yield folder
    for pid in _processes_in(folder):
        os.kill(pid, signal.SIGTERM)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by no listener: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- contest token -------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["0", "-5", "1.5", "soon"])
def test_token_refuses_a_lifetime_that_is_not_a_positive_number_of_seconds(
    ttl: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --ttl 0 or less printed a token that had expired when it was printed.
    args = ["token", "--contest", "c1", "--member", "m1", "--secret", SECRET, "--ttl", ttl]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--ttl" in captured.err


def test_token_output_into_a_closed_pipe_ends_quietly() -> None:
    # `contest token --count 50000 | head` ended in a BrokenPipeError traceback.
    with subprocess.Popen(
        [CONTEST, "token", "--contest", "c1", "--count", "20000", "--secret", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().count(".") == 2  # a JWT
        proc.stdout.close()  # like `| head -1`: 20,000 tokens are far more than a pipe holds
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
    assert err == ""


# --- contest audit ---------------------------------------------------------------------


def test_audit_of_an_unknown_contest_is_an_error(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed an empty table (or 0 with --count) and exited 0: a mistyped id looked like
    # a contest without answers.
    where = ["--redis-url", redis_url, "--key-prefix", key_prefix]
    for extra in ([], ["--count"], ["--jsonl"]):
        assert main(["audit", "no-such-contest", *where, *extra]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "no contest 'no-such-contest'" in captured.err


# --- contest demo ----------------------------------------------------------------------


def test_demo_with_a_missing_bank_says_so_before_serving(data_dir: Path) -> None:
    result = _contest(
        "demo", "--bank", str(data_dir / "nope.yaml"), "--ws-port", "0", "--http-port", "0",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    _clean_failure(result, 1, "No such file or directory")
    assert result.stdout == ""  # nothing was started, nothing announced
    assert _processes_in(data_dir) == []


def test_demo_reads_a_bank_as_contest_bank_does_and_says_when_it_is_too_small(
    tmp_path: Path, data_dir: Path
) -> None:
    # An Aiken .txt file: `contest bank validate` reads it, so must the demo (it read it as
    # GIFT and failed with a traceback); with 2 questions it cannot draw 10.
    bank = tmp_path / "nho.txt"
    bank.write_text(
        "Thủ đô của Việt Nam là?\nA. Hà Nội\nB. Huế\nANSWER: A\n\n"
        "Sông dài nhất Việt Nam?\nA. Sông Đà\nB. Sông Mê Kông\nANSWER: B\n",
        encoding="utf-8",
    )
    assert _contest("bank", "validate", str(bank)).returncode == 0
    result = _contest(
        "demo", "--bank", str(bank), "--ws-port", "0", "--http-port", "0",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    _clean_failure(result, 1, "needs 10, bank has 2")
    assert result.stdout == ""


# --- contest serve: what stops it from starting ----------------------------------------


def test_serve_on_a_port_in_use_says_which(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for workers in ("1", "2"):
            result = _contest(
                "serve", "--workers", workers, "--ws-port", port, "--http-port", "0",
                "--data-dir", str(data_dir),
            )  # fmt: skip
            _clean_failure(result, 1, f"cannot listen on 127.0.0.1:{port} (WebSocket)")
    assert _processes_in(data_dir) == []


def test_serve_refuses_one_port_for_both_servers(data_dir: Path, closed_port: int) -> None:
    # Both bound with SO_REUSEPORT, the kernel sent half the HTTP requests to the WebSocket
    # server (404) and half the members to the HTTP API.
    port = str(closed_port)
    result = _contest("serve", "--ws-port", port, "--http-port", port, "--data-dir", str(data_dir))
    _clean_failure(result, 1, "ports must differ")


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--ws-port", "70000", "cannot listen on 127.0.0.1:70000"),
        ("--host", "no-such-host.invalid", "cannot listen on no-such-host.invalid"),
        ("--workers", "0", "workers must be at least 1"),
    ],
)
def test_serve_with_impossible_options(option: str, value: str, says: str, data_dir: Path) -> None:
    result = _contest("serve", option, value, "--data-dir", str(data_dir))
    _clean_failure(result, 1, says)


def test_serve_without_its_redis_says_so(closed_port: int) -> None:
    # Every worker died with a ConnectionError traceback; with --workers 2 the conductor
    # process went on logging a failed tick every second for 30 s.
    url = f"redis://127.0.0.1:{closed_port}/0"
    secret = {"CONTEST_TOKEN_SECRET": "a-review-secret-of-at-least-32-bytes!!"}
    for workers in ("1", "2"):
        result = _contest(
            "serve", "--redis-url", url, "--workers", workers, "--ws-port", "0",
            "--http-port", "0", env=secret,
        )  # fmt: skip
        _clean_failure(result, 1, f"cannot reach Redis at {url}")


def test_a_setting_of_the_wrong_type_names_its_variable(data_dir: Path) -> None:
    env = {"CONTEST_WS_PORT": "web"}
    _clean_failure(
        _contest("serve", "--data-dir", str(data_dir), env=env), 2, "invalid CONTEST_WS_PORT"
    )
    env = {"CONTEST_MAX_CONNECTIONS": "lots"}
    _clean_failure(
        _contest("results", "c1", "--data-dir", str(data_dir), env=env),
        2,
        "invalid CONTEST_MAX_CONNECTIONS",
    )


# --- contest serve: a signal while it starts -------------------------------------------


@pytest.mark.parametrize(
    ("sig", "workers"),
    [(signal.SIGTERM, "1"), (signal.SIGINT, "1"), (signal.SIGTERM, "2")],
)
def test_a_signal_while_serve_starts_stops_it_and_its_redis(
    sig: signal.Signals, workers: str, data_dir: Path
) -> None:
    # The embedded redis-server runs in a session of its own (a Ctrl-C at the terminal must
    # not kill it before the AOF is flushed). A SIGTERM that came once it had started but
    # before serve's own handlers were set killed serve and left the redis-server running
    # for good; a SIGINT printed a KeyboardInterrupt traceback.
    proc = subprocess.Popen(
        [CONTEST, "serve", "--workers", workers, "--ws-port", "0", "--http-port", "0",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        # redis.json is written the moment the embedded server answers.
        while not (data_dir / "redis.json").exists() and proc.poll() is None:
            time.sleep(0.001)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert _processes_in(data_dir) == []
    assert not (data_dir / "redis.json").exists()


def test_printed_urls_are_ones_a_client_can_connect_to() -> None:
    """``contest serve --host 0.0.0.0`` (and demo) printed ``ws://0.0.0.0:...``, which a
    client cannot connect to; an IPv6 host needs brackets."""
    from engine.cli.serve import ServeInfo
    from engine.core.settings import Settings

    def urls(host: str) -> tuple[str, str]:
        info = ServeInfo(Settings(host=host, ws_port=1, http_port=2), "redis://x")
        return info.ws_url, info.http_url

    assert urls("0.0.0.0") == ("ws://127.0.0.1:1/ws/", "http://127.0.0.1:2")
    assert urls("::") == ("ws://[::1]:1/ws/", "http://[::1]:2")
    assert urls("::1") == ("ws://[::1]:1/ws/", "http://[::1]:2")
    assert urls("127.0.0.2") == ("ws://127.0.0.2:1/ws/", "http://127.0.0.2:2")
    assert urls("quiz.example") == ("ws://quiz.example:1/ws/", "http://quiz.example:2")
