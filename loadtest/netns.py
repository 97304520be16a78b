"""Hosts on one machine: network namespaces joined by a bridge, for the three-host rehearsal.

::

    with Network(hosts=3) as net:          # needs root and iproute2's ``ip``
        net.hosts[0].address               # "10.213.7.11"
        proc = net.hosts[0].popen(["redis-server", "--bind", net.hosts[0].address])
        net.kill(proc.pid)                 # by PID, only what it started

:class:`Network` makes, for host *i*, a namespace ``<tag>h<i>`` with loopback up and one
end of a veth pair (``<tag>h<i>b``) addressed ``10.213.<n>.<11+i>/24``; the other end
(``<tag>h<i>a``) is a port of a bridge ``<tag>br`` in the root namespace, which holds
``10.213.<n>.1`` and the client addresses (``10.213.<n>.101``...) that load generators bind
as sources, so the hosts reach each other and the root namespace reaches every host. The
tag and the ``n`` of the subnet are chosen so that nothing of another run is touched.

:meth:`Network.close` (also on an exception, Ctrl-C or SIGTERM inside the ``with``) kills
every process started through :meth:`Host.popen` by its PID (SIGTERM, then SIGKILL after a
grace period; a process's own children are found through /proc and killed by PID too),
then deletes the namespaces and the bridge (a veth pair goes with its namespace).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Host", "Network", "NetworkUnavailable", "descendants", "unavailable_reason"]


class NetworkUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no ``ip``, no netns support)."""


def unavailable_reason() -> str | None:
    """Why :class:`Network` cannot work on this machine, or None if it may."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip command is not installed"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    return None


def _ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetworkUnavailable(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                kids.extend(int(k) for k in (task / "children").read_text().split())
    return kids


def descendants(pid: int) -> list[int]:
    """*pid*'s children, their children..., deepest last (Linux /proc)."""
    found: list[int] = []
    stack = _children(pid)
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(_children(current))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Host:
    """One namespace: its name, its address, the processes started in it."""

    index: int
    netns: str
    address: str
    network: Network
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def argv(self, command: Sequence[str]) -> list[str]:
        """*command* run inside this host's namespace (``ip netns exec`` execs it, so the
        PID of the process started is the command's own)."""
        return ["ip", "netns", "exec", self.netns, *command]

    def popen(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start *command* in this host, in a session of its own, output to *log*; it is
        recorded so that :meth:`Network.close` stops it."""
        out: Any = subprocess.DEVNULL
        if log is not None:
            out = log.open("ab")
        try:
            process = subprocess.Popen(
                self.argv(command),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if log is not None:
                out.close()
        self.processes.append(process)
        self.network.started.append(process)
        return process

    def run(self, command: Sequence[str], timeout: float = 30) -> str:
        """Run *command* in this host and return its output (it must succeed)."""
        done = subprocess.run(
            self.argv(command), capture_output=True, text=True, timeout=timeout, check=True
        )
        return done.stdout


class _Stopped(BaseException):
    """SIGTERM inside a :class:`Network`: unwinds the ``with`` so it is torn down."""


class Network:
    """*hosts* namespaces on a bridge; see the module docstring."""

    def __init__(self, hosts: int = 3, clients: int = 4, *, prefix: str = "ce") -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise NetworkUnavailable(reason)
        if not 1 <= hosts <= 50 or not 0 <= clients <= 100:
            raise ValueError("1-50 hosts and 0-100 client addresses")
        self.count = hosts
        self.client_count = clients
        existing = _ip("-o", "link", "show") + _ip("netns", "list")
        used = _ip("-o", "-4", "addr", "show")
        rng = random.Random()
        for _ in range(200):
            n = rng.randint(1, 254)
            tag = f"{prefix}{n:03d}"
            if tag not in existing and f"10.213.{n}." not in used:
                break
        else:  # pragma: no cover - 200 tags in use
            raise NetworkUnavailable("no free tag for the namespaces")
        self.tag = tag
        self.subnet = ipaddress.ip_network(f"10.213.{n}.0/24")
        self.bridge = f"{tag}br"
        self.gateway = str(self.subnet.network_address + 1)
        self.clients = [str(self.subnet.network_address + 101 + i) for i in range(clients)]
        self.hosts: list[Host] = []
        self.started: list[subprocess.Popen[bytes]] = []
        self._made_bridge = False
        self._previous_term: Any = None

    # -- set up and tear down

    def __enter__(self) -> Network:
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            self._previous_term = signal.signal(signal.SIGTERM, self._on_term)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _on_term(self, signum: int, frame: object) -> None:
        raise _Stopped()

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made_bridge = True
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        for address in self.clients:
            _ip("addr", "add", f"{address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(self.count):
            name = f"{self.tag}h{i + 1}"
            address = str(self.subnet.network_address + 11 + i)
            _ip("netns", "add", name)
            self.hosts.append(Host(i, name, address, self))
            outside, inside = f"{name}a", f"{name}b"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", name)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("addr", "add", f"{address}/24", "dev", inside, netns=name)
            _ip("link", "set", inside, "up", netns=name)
            _ip("link", "set", "lo", "up", netns=name)
            _ip("route", "add", "default", "via", self.gateway, netns=name)

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> list[int]:
        """Send *sig* to *pid* and every descendant of it (found first, so a parent's death
        does not orphan them out of sight), by PID; only a process this network started or
        one of its descendants. Returns the PIDs signalled."""
        ours = {p.pid for p in self.started}
        if pid not in ours and not any(pid in descendants(p) for p in ours):
            raise ValueError(f"pid {pid} was not started by this network")
        targets = [pid, *descendants(pid)]
        for target in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)
        return targets

    def stop_processes(self, grace: float = 15.0) -> None:
        """SIGTERM every process started here (and its descendants), SIGKILL what is left
        after *grace* seconds; reap them."""
        tree: dict[int, list[int]] = {}
        for process in self.started:
            if process.poll() is None:
                tree[process.pid] = descendants(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        for pid, kids in tree.items():
            for target in [pid, *kids, *descendants(pid)]:
                if _alive(target):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)

    def close(self) -> None:
        """Stop every process, delete the namespaces and the bridge. Safe to call twice;
        Ctrl-C during it does not stop it half-way."""
        previous_int = None
        with contextlib.suppress(ValueError):
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.stop_processes()
            for host in self.hosts:
                _ip("link", "del", f"{host.netns}a", check=False)  # its peer goes with it
                _ip("netns", "del", host.netns, check=False)
            self.hosts = []
            if self._made_bridge:
                _ip("link", "del", self.bridge, check=False)
                self._made_bridge = False
        finally:
            with contextlib.suppress(ValueError, TypeError):
                if previous_int is not None:
                    signal.signal(signal.SIGINT, previous_int)
                if self._previous_term is not None:
                    signal.signal(signal.SIGTERM, self._previous_term)
                    self._previous_term = None

    def leftovers(self) -> list[str]:
        """Namespaces and links of this network's tag still present (empty after close)."""
        text = _ip("netns", "list") + _ip("-o", "link", "show")
        return sorted({word.split("@")[0].rstrip(":") for word in text.split() if self.tag in word})
