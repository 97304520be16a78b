"""The swarm client's join storm (``ClientJob.join_seconds``), against small real servers.

Members arrive open-loop over a few seconds from a go time; each is counted once: joined,
refused (the server said no at the handshake or with a close frame before ``welcome``),
or given up (no ``welcome`` within ``join_timeout_s`` of its arrival), so a server that
never answers cannot hold the run. The servers run in the test's loop on real ports.
"""

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from loadtest.swarm_client import ClientJob, ClientReport, _run
from tests.utils import timeout


class _Go:
    """The shared double *go* of ``run_client``, in one process."""

    def __init__(self) -> None:
        self.value = 0.0


@asynccontextmanager
async def ws_server(
    handler: Callable[[ServerConnection], Awaitable[None]],
    process_request: Any = None,
) -> AsyncIterator[int]:
    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        yield server.sockets[0].getsockname()[1]


async def welcome(ws: ServerConnection) -> None:
    await ws.send('{"type":"welcome","server_time":0,"member":{"id":"m","name":"m",'
                  '"province":"p","unit":"u"},"contest":{"id":"c","title":"c",'
                  '"mode":"live","state":"scheduled"}}')  # fmt: skip
    await ws.wait_closed()


def job(port: int, members: int, join_seconds: float, join_timeout: float) -> ClientJob:
    return ClientJob(
        index=0,
        url=f"ws://127.0.0.1:{port}/ws/c",
        members=[(f"m{i}", f"t{i}") for i in range(members)],
        source="127.0.0.1",
        deadline_s=timeout(60),
        join_seconds=join_seconds,
        join_timeout_s=join_timeout,
    )


async def storm(the_job: ClientJob) -> tuple[ClientReport, float, list[Any]]:
    """Run the client's storm; return its report, the go time and its progress phases."""
    progress: queue.Queue[Any] = queue.Queue()
    go, stop = _Go(), threading.Event()
    running = asyncio.create_task(_run(the_job, progress, stop, go))
    phase = await asyncio.to_thread(progress.get, timeout=timeout(10))
    assert phase == ("ready", 0, 0, 0)  # it waits for the go time
    await asyncio.sleep(0.3)
    assert not running.done() and progress.empty()
    go.value = time.time() + 0.2
    phases = []
    while not phases or phases[-1][0] != "connected":
        phases.append(await asyncio.to_thread(progress.get, timeout=timeout(30)))
    stop.set()  # the show would follow; these servers play none
    report = await asyncio.wait_for(running, timeout(10))
    return report, go.value, phases


async def test_storm_members_arrive_spread_over_the_seconds_and_all_join() -> None:
    joined_at: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        joined_at.append(time.time())
        await welcome(ws)

    async with ws_server(handler) as port:
        report, go, _ = await storm(job(port, 40, 2.0, 10.0))
    assert report.connected == 40 and report.failed == 0 and report.given_up == 0
    assert len(report.connect_ms) == 40 and all(0 < ms < 2000 for ms in report.connect_ms)
    # open-loop: evenly over 2 s from the go time (member j at (j + 0.5) * 2 / 40 s)
    joined_at.sort()
    assert go + 0.02 <= joined_at[0] and joined_at[-1] - joined_at[0] >= 1.8
    assert go + 1.9 <= joined_at[-1] <= report.last_joined < go + 2.0 + timeout(5)


async def test_a_server_that_never_answers_is_given_up_in_time() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # takes the connection, never answers the handshake

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    began = time.monotonic()
    try:
        report, _, _ = await storm(job(port, 10, 1.0, 1.5))
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    assert report.connected == 0 and report.given_up == 10 and report.failed == 0
    assert time.monotonic() - began < timeout(15)


async def test_refusals_are_counted_by_reason() -> None:
    def too_many(ws: ServerConnection, request: Request) -> Response:
        return Response(429, "Too Many Requests", Headers(), b"no\n")

    async def full(ws: ServerConnection) -> None:
        await ws.close(4001, "server full")

    async with ws_server(welcome, too_many) as port:
        report, _, _ = await storm(job(port, 4, 0.5, 20.0))
    assert report.connected == 0 and report.join_refused == 4 and report.failed == 4
    assert report.refusals == {"HTTP 429": 12}  # three tries each, as an app retries
    assert report.retries == 8 and report.given_up == 0

    async with ws_server(full) as port:
        report, _, _ = await storm(job(port, 4, 0.5, 20.0))
    assert report.join_refused == 4 and report.refusals == {"close 4001": 12}


async def test_a_process_with_no_member_is_ready_too() -> None:
    """The go time waits for every client process: one dealt no member must not hold it."""
    async with ws_server(welcome) as port:
        report, _, phases = await storm(job(port, 0, 1.0, 5.0))
    assert report.connected == report.given_up == report.failed == 0
    assert phases[-1] == ("connected", 0, 0, 0)
