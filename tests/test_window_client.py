"""The window swarm's client process on its own: a member whose TCP connect is never answered
is given up within its reply timeout, not after the kernel's two minutes of SYN retries."""

from __future__ import annotations

import queue
import socket
import threading
import time
from dataclasses import dataclass

from loadtest.window_client import WindowJob, _run
from tests.utils import timeout


@dataclass
class _Go:
    value: float


def _syn_dropping_listener() -> tuple[socket.socket, list[socket.socket], int]:
    """A listener that never accepts, its queue filled: Linux then drops further SYNs
    (``tcp_abort_on_overflow`` is 0), so a connect to it hangs in SYN retries."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # a backlog of 0 still queues one or two; fill it for certain
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)
    return listener, fillers, port


async def test_a_connect_whose_syns_are_dropped_is_given_up_within_the_reply_timeout() -> None:
    listener, fillers, port = _syn_dropping_listener()
    job = WindowJob(
        index=0,
        url=f"ws://127.0.0.1:{port}/ws/round",
        members=[("m1", "token", 0.0)],
        source="127.0.0.1",
        key={},
        reply_timeout_s=1.0,
        deadline_s=timeout(60),
    )
    began = time.monotonic()
    try:
        report = await _run(job, _Go(time.time()), queue.SimpleQueue(), threading.Event())
    finally:
        for s in [listener, *fillers]:
            s.close()
    # three tries of 1 s each, with the back-offs of 0.5 s and 1.5 s between them
    assert report.errors == {"connect_failed": 1}, report.errors
    assert report.joined == 0 and report.arrived == 1
    assert time.monotonic() - began < timeout(15)
