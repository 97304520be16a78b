"""The rehearsal's hosts (loadtest.netns): namespaces on a bridge, reachable from each other
and from the root namespace's client addresses, processes stopped by PID and everything
deleted afterwards, also when the body fails. Skipped without root or ``ip``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.netns import Network, NetworkUnavailable, descendants, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

ECHO = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind((sys.argv[1],9999)); s.listen()\n"
    "while True:\n"
    "    c,a=s.accept(); c.sendall(repr(a[0]).encode()); c.close()\n"
)


def _ask(address: str, source: str | None = None) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(
                (address, 9999), timeout=2, source_address=(source, 0) if source else None
            ) as conn:
                return conn.recv(100).decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _made() -> Network:
    try:
        return Network(hosts=3, clients=2)
    except NetworkUnavailable as exc:  # e.g. a container without CAP_NET_ADMIN
        pytest.skip(str(exc))


def test_hosts_reach_each_other_and_are_torn_down() -> None:
    net = _made()
    with net:
        addresses = [h.address for h in net.hosts]
        assert len(set(addresses)) == 3 and all(a.startswith("10.213.") for a in addresses)
        servers = [h.popen([sys.executable, "-c", ECHO, h.address]) for h in net.hosts]
        # from the root namespace, bound to a client address: the server sees that address
        assert _ask(addresses[1], net.clients[1]) == repr(net.clients[1])
        # from one namespace to another
        probe = (
            "import socket; "
            f"print(socket.create_connection(('{addresses[2]}', 9999)).recv(99).decode())"
        )
        assert net.hosts[0].run([sys.executable, "-c", probe]).strip() == repr(addresses[0])
        assert len(net.leftovers()) == 7  # 3 namespaces, 3 veth ends outside, the bridge
        pids = [s.pid for s in servers]
    assert net.leftovers() == []
    assert all(s.poll() is not None for s in servers)
    assert all(not descendants(pid) for pid in pids)


def test_torn_down_when_the_body_fails() -> None:
    net = _made()
    with pytest.raises(RuntimeError, match="boom"), net:
        server = net.hosts[0].popen([sys.executable, "-c", ECHO, net.hosts[0].address])
        assert _ask(net.hosts[0].address)
        raise RuntimeError("boom")
    assert server.poll() is not None
    assert net.leftovers() == []


def test_kill_only_what_it_started() -> None:
    net = _made()
    with net:
        server = net.hosts[2].popen([sys.executable, "-c", ECHO, net.hosts[2].address])
        assert _ask(net.hosts[2].address)
        with pytest.raises(ValueError, match="not started by this network"):
            net.kill(1)
        assert net.kill(server.pid) == [server.pid]
        assert server.wait(10) == -9
    assert net.leftovers() == []


HOLD = (
    "import sys, time\n"
    "from loadtest.netns import Network\n"
    "with Network(hosts=2, clients=1) as net:\n"
    "    net.hosts[0].popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "    print(net.tag, flush=True)\n"
    "    time.sleep(60)\n"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_torn_down_on_a_signal(sig: int) -> None:
    """Ctrl-C or SIGTERM to the process holding the network deletes it and stops its
    processes."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        tag = holder.stdout.readline().strip()
        assert tag.startswith("ce")
        kids = descendants(holder.pid)
        assert kids
        holder.send_signal(sig)
        holder.wait(90)  # teardown is seconds; a loaded box (CI beside other runs) took over 30
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert tag not in listing and tag not in links
    assert not any(Path(f"/proc/{k}").exists() for k in kids)
