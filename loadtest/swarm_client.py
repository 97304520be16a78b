"""One process of the swarm: holds thousands of members' sockets in one asyncio loop.

Started by :mod:`loadtest.swarm` with a slice of the members' tokens and a loopback source
address of its own (past ~28,000 connections from one address to one address and port the
ephemeral ports run out). It lifts its soft open-file limit to the hard one, opens its
connections with bounded concurrency, answers every question of the live show after a
human-like delay, and reports progress and, at the end, every measurement to the
orchestrator through a queue.

Measurements (all on this machine's clock, which the gateway shares, so no offset):

* connect: connect start -> ``welcome`` (ms);
* per question, per member: delivery delay ``receipt - sent_at`` of the ``question`` frame;
* per answer: ``answer`` sent -> ``ack`` received (ms), and whether it was accepted;
* the (member, question) pairs the server acknowledged as accepted;
* frames and bytes received, by message type (what the server sent);
* each member's final score, from its ``closed`` frame.

With ``ClientJob.resume`` a member behaves as an app does when things fail: a lost socket
is opened again and the show resumed (the question under way comes back with ``yours``
set when the server has the member's answer: then that answer is *confirmed*), and an
answer refused as ``unavailable``, or sent on a socket that was lost before its ack, is
sent again while the question is open (a ``duplicate`` refusal then confirms it).
With ``ClientJob.seed_per_member`` each member's answers and delays come from
(seed, member, question) alone, so two runs with one seed answer alike
(:mod:`loadtest.faults` compares a run with a fault to one without).
With ``ClientJob.join_seconds`` the members join as a storm, open-loop: each arrives at its
own time, spread evenly over that many seconds from a go time the orchestrator sets (the
shared *go* of :func:`run_client`), and connects then whatever the server's pace (no cap on
connects under way); its join latency counts from that arrival, and a member not joined
``join_timeout_s`` after it is given up and counted (see :class:`ClientReport`).
``ClientJob.failover_urls`` (several hosts: :mod:`loadtest.rehearsal`) implies ``resume``
and reconnects a member to the gateways in turn, from a random one, as an app behind a load
balancer does.

To stay cheap beside the servers it measures, a member reads a frame's type from its first
bytes (msgspec writes the ``type`` tag first) and decodes only the frames it acts on:
``welcome``, ``question``, ``ack`` and ``closed``; the rest are only counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from picows import (
    WSCloseCode,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from engine.core import messages as m

from .member import choose_answer

__all__ = ["ClientJob", "ClientReport", "run_client"]


@dataclass
class ClientJob:
    """What one client process is asked to do."""

    index: int
    url: str
    """``ws://127.0.0.1:PORT/ws/CONTEST``."""
    members: list[tuple[str, str]]
    """(member id, token) pairs."""
    source: str
    """Loopback source address for this process's sockets (``127.0.0.2``...)."""
    connect_concurrency: int = 200
    """Connects under way at once when every member connects at the start (a closed loop:
    the next member connects when one has joined); not used by a join storm."""
    answer_share: float = 1.0
    """Share of members who answer each question."""
    think_mu: float = 0.3
    """log-normal answer delay parameters (seconds): most answer in the first seconds."""
    think_sigma: float = 0.6
    deadline_s: float = 600.0
    """The process ends by itself after this many seconds, whatever happens."""
    seed: int = 0
    resume: bool = False
    """Reconnect a lost socket and resume, and send again an answer whose fate was lost."""
    seed_per_member: bool = False
    """Draw each member's answer and delay from (seed, member, question) only."""
    failover_urls: list[str] = field(default_factory=list)
    """Gateways (``ws://HOST:PORT/ws/CONTEST``) a member whose socket drops mid-show joins
    again, trying them in turn from a random one, as an app behind a load balancer does
    (with :attr:`resume`'s behaviour); empty: only :attr:`url`, and only with ``resume``."""
    join_seconds: float = 0.0
    """0: every member connects at the start, :attr:`connect_concurrency` at a time. Above
    0, a join storm: member *j* of this process's *n* arrives ``(j + join_phase) *
    join_seconds / n`` seconds after the go time and connects then (open-loop)."""
    join_phase: float = 0.5
    """Join storm: where in one arrival interval this process's arrivals fall (0..1), so
    that several processes' arrivals interleave instead of coinciding."""
    join_timeout_s: float = 60.0
    """Join storm: a member not joined this many seconds after its arrival is given up
    (its tries and back-offs included), so a hung connection never holds the run."""


@dataclass
class ClientReport:
    index: int
    connected: int = 0
    failed: int = 0
    retries: int = 0
    """Connection attempts that failed and were tried again."""
    connect_ms: list[float] = field(default_factory=list)
    """Connect start (a join storm: the member's arrival) -> ``welcome``, per member."""
    last_joined: float = 0.0
    """Wall-clock time of the last first ``welcome``."""
    join_refused: int = 0
    """Members never joined whose last try the server refused (an HTTP status at the
    handshake, a close frame or an ``error`` before ``welcome``)."""
    given_up: int = 0
    """Join storm: members not joined within ``join_timeout_s`` of their arrival."""
    refusals: dict[str, int] = field(default_factory=dict)
    """Tries the server refused, by reason (``HTTP 429``, ``close 4001``, ``error
    <code>``), whether or not the member joined at a later try."""
    delivery_ms: dict[str, list[float]] = field(default_factory=dict)
    """question id -> delivery delays."""
    sent_at: dict[str, int] = field(default_factory=dict)
    ack_ms: list[float] = field(default_factory=list)
    accepted: list[tuple[str, str]] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    """Answers sent that never got an ack (lost or cut by the deadline)."""
    answer_times: list[float] = field(default_factory=list)
    """Wall-clock time of each accepted ack, for answers per second."""
    closed_early: int = 0
    repeated: int = 0
    """Question frames received again for a question this member already had."""
    errors: list[str] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    """Message type -> text frames received (all members of this process), each member's
    up to its first ``closed`` (what follows, e.g. the standing again at finalize, arrives
    while the process is already closing its sockets)."""
    frame_bytes: dict[str, int] = field(default_factory=dict)
    """Message type -> payload bytes of those frames."""
    play_cpu_s: float = 0.0
    """CPU seconds this process used from every member connected to the end of its play."""
    confirmed: list[tuple[str, str]] = field(default_factory=list)
    """(member, question) answers whose ack was lost (socket gone, ``unavailable``) that the
    server confirmed later: ``yours`` on resume, or a ``duplicate`` refusal of the retry."""
    reconnects: int = 0
    """Sockets lost mid-show and opened again (``resume``)."""
    rejoin_ms: list[float] = field(default_factory=list)
    """Each of those: socket lost -> ``welcome`` again (ms)."""
    retried: int = 0
    """Answers sent again (``resume``): after ``unavailable``, or after a lost socket."""
    touched: list[str] = field(default_factory=list)
    """Members a fault reached: their socket was lost, or an answer of theirs was refused
    as ``unavailable``."""
    scores: dict[str, int] = field(default_factory=dict)
    """Member -> score in their ``closed`` frame."""
    rejoined_at: list[float] = field(default_factory=list)
    """Wall-clock time of each reconnect's ``welcome``."""
    in_flight_lost: int = 0
    """Answers sent on a socket that dropped before their ack came (their fate is in the
    audit stream, or confirmed on resume)."""


_TAG = b'{"type":"'
_DECODED = frozenset({"welcome", "question", "ack", "closed", "error"})
"""The frame types a member acts on; any other is counted and not decoded."""


def frame_type(payload: memoryview) -> str:
    """The ``type`` of a server frame, read from its first bytes (msgspec encodes the tag
    first, with no spaces); ``"?"`` for a frame that does not start that way."""
    head = payload[:32].tobytes()
    if not head.startswith(_TAG):
        return "?"
    end = head.find(b'"', 9)
    return head[9:end].decode() if end > 0 else "?"


def lift_nofile_limit() -> int:
    """Raise this process's soft open-file limit to the hard one (a process holding
    thousands of sockets needs it); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Member(WSListener):
    """One member's socket: picows calls :meth:`on_ws_frame` for each frame, in the loop.

    No coroutine or task per member: frames are handled in the callback, and an answer is a
    timer (``loop.call_later``) that writes one frame. That keeps the load generator light
    enough to share two cores with the gateways it measures.
    """

    def __init__(self, member: str, token: str) -> None:
        super().__init__()
        self.id = member
        self.token = token
        self.transport: WSTransport | None = None
        self.pending: dict[int, float] = {}
        self.welcome: asyncio.Future[None] | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.seq = 0
        self.seen: set[str] = set()
        self.sent: dict[int, str] = {}
        """seq -> question of each answer sent."""
        self.pressed: set[str] = set()
        """Questions whose answer this member sent (its timer fired)."""
        self.settled: set[str] = set()
        """Questions whose answer got its fate: an ack, a refusal, or a confirmation."""
        self.retries: set[str] = set()
        """Questions whose answer was sent again."""
        self.planned: dict[str, tuple[Any, float]] = {}
        """Question -> (answer, deadline in server ms), for sending again."""
        self.touched = False
        self.lost_at = 0.0
        self.done = False
        self.joined = False
        self.play: _Play | None = None
        self.report: ClientReport | None = None
        self.deferred: tuple[str, Any, int] | None = None
        """An answer due while the member was rejoining: sent once it has."""
        self.rejoining = False
        self.resent_ok = False
        """Just rejoined: the current question sent again on the new connection is not a
        repeat."""
        self.refusal: str | None = None
        """Why the server refused the try under way (a close code or an error before
        ``welcome``), if it did."""
        self.abandoned = False
        """Given up joining: a connection that completes late is closed at once."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        if self.abandoned:
            transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            payload = frame.get_payload_as_memoryview()
            tag = frame_type(payload)
            report = self.report
            if report is not None and not self.done:  # the show, up to its closing standing
                report.frames[tag] = report.frames.get(tag, 0) + 1
                report.frame_bytes[tag] = report.frame_bytes.get(tag, 0) + len(payload)
            if self.joined and tag not in _DECODED and tag != "?":
                return  # counted; a member of the show does nothing with it
            msg = m.decode_server(payload)
            if self.joined:
                assert self.play is not None
                self.play.received(self, msg)
            elif self.welcome is not None and not self.welcome.done():
                if isinstance(msg, m.Welcome):
                    self.joined = True  # what follows (a question under way) is played
                    self.welcome.set_result(None)
                else:
                    if isinstance(msg, m.Error):
                        self.refusal = f"error {msg.code}"
                    self.welcome.set_exception(RuntimeError(f"expected welcome, got {msg!r}"))
        elif kind is WSMsgType.CLOSE:
            if not self.joined and self.refusal is None:
                self.refusal = f"close {frame.get_close_code().value}"
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.welcome is not None and not self.welcome.done():
            self.welcome.set_exception(ConnectionError("closed before welcome"))
        elif self.joined and self.play is not None:
            self.play.gone(self)

    def answer(self, question: str, value: Any) -> None:
        self.pressed.add(question)
        if self.done or self.transport is None or self.transport.is_disconnected:
            return  # a resumed show sends it again (resume), else it is lost with the socket
        self.seq += 1
        self.sent[self.seq] = question
        self.pending[self.seq] = time.perf_counter()
        self.transport.send(
            WSMsgType.TEXT, m.encode(m.Answer(question=question, answer=value, seq=self.seq))
        )


class _Play:
    """The show as the members of this process see it: answers every question after a
    human delay, records deliveries, acks and refusals in the report."""

    RETRY_S = 0.5
    """Seconds before an answer refused as ``unavailable`` is sent again (``resume``)."""

    def __init__(self, job: ClientJob, report: ClientReport, rng: random.Random) -> None:
        self.job = job
        self.report = report
        self.rng = rng
        self.loop = asyncio.get_running_loop()
        self.resuming = job.resume or bool(job.failover_urls)
        """Members reconnect and resume (``resume``, or gateways to fail over to)."""
        self.playing = 0
        """Members joined and not yet done (show closed for them, or their socket gone)."""
        self.rejoining: set[asyncio.Task[None]] = set()

    def _rng_for(self, member: _Member, question: str) -> random.Random:
        if self.job.seed_per_member:
            return random.Random(f"{self.job.seed}:{member.id}:{question}")
        return self.rng

    def received(self, member: _Member, msg: Any) -> None:
        report = self.report
        match msg:
            case m.Question(attempt=0):
                now_ms = time.time() * 1000.0
                if msg.id in member.seen:
                    # Published again (a conductor took the show over after its lease ran
                    # out, or the member resumed): an app shows a question once; counted,
                    # not answered twice.
                    report.repeated += 1
                    if self.resuming:
                        self.resumed(member, msg)
                    return
                member.seen.add(msg.id)
                if msg.sent_at:
                    report.delivery_ms.setdefault(msg.id, []).append(now_ms - msg.sent_at)
                    report.sent_at[msg.id] = msg.sent_at
                rng = self._rng_for(member, msg.id)
                if rng.random() < self.job.answer_share:
                    delay = rng.lognormvariate(self.job.think_mu, self.job.think_sigma)
                    window = max(0.0, (msg.deadline - now_ms) / 1000.0 - 0.3)
                    value = choose_answer(msg, rng, 0.3)
                    member.planned[msg.id] = (value, msg.deadline)
                    member.timers.append(
                        self.loop.call_later(min(delay, window), member.answer, msg.id, value)
                    )
            case m.Ack():
                sent = member.pending.pop(msg.seq, None)
                if sent is not None:
                    report.ack_ms.append((time.perf_counter() - sent) * 1000.0)
                if msg.question in member.settled:
                    return
                member.settled.add(msg.question)
                if msg.accepted:
                    report.accepted.append((member.id, msg.question))
                    report.answer_times.append(time.time())
                elif msg.reason == "duplicate" and msg.question in member.retries:
                    report.confirmed.append((member.id, msg.question))  # the first got in
                else:
                    reason = msg.reason or "refused"
                    report.refused[reason] = report.refused.get(reason, 0) + 1
            case m.Error(seq=seq) if seq is not None and seq in member.sent:
                member.pending.pop(seq, None)
                question = member.sent[seq]
                if question in member.settled:
                    return
                if self.resuming and msg.code == "unavailable":
                    self.touch(member)
                    self.loop.call_later(self.RETRY_S, self.again, member, question)
                    return
                member.settled.add(question)
                report.refused[msg.code] = report.refused.get(msg.code, 0) + 1
            case m.Closed():
                report.scores[member.id] = msg.score
                self.finish(member)
            case _:
                pass

    def resumed(self, member: _Member, msg: m.Question) -> None:
        """The question under way, sent again on resume: an answer whose fate was lost is
        confirmed (``yours``) or sent again."""
        if msg.id not in member.pressed or msg.id in member.settled:
            return
        if msg.yours is not None:
            member.settled.add(msg.id)
            self.report.confirmed.append((member.id, msg.id))
        elif all(member.sent[seq] != msg.id for seq in member.pending):  # none in flight
            self.again(member, msg.id)

    def again(self, member: _Member, question: str) -> None:
        """Send *question*'s answer again, while the question is open."""
        if member.done or question in member.settled or question not in member.planned:
            return
        value, deadline = member.planned[question]
        if time.time() * 1000.0 >= deadline:
            return  # too late: the fate stays unknown (counted as unanswered)
        member.retries.add(question)
        self.report.retried += 1
        member.answer(question, value)

    def touch(self, member: _Member) -> None:
        if not member.touched:
            member.touched = True
            self.report.touched.append(member.id)

    def gone(self, member: _Member) -> None:
        if member.done:
            return
        if self.resuming:
            self.touch(member)
            self.report.in_flight_lost += len(member.pending)
            member.lost_at = time.perf_counter()
            member.joined = False
            member.transport = None
            member.pending.clear()  # their acks will never come: resolved on resume
            task = self.loop.create_task(self.rejoin(member))
            self.rejoining.add(task)
            task.add_done_callback(self.rejoining.discard)
            return
        self.report.closed_early += 1
        self.finish(member)

    async def rejoin(self, member: _Member) -> None:
        """Open a lost socket again, as an app does (after a short, spread back-off)."""
        await asyncio.sleep(0.2 + self.rng.random() * 0.8)
        if member.done:
            return
        urls = self.job.failover_urls or [self.job.url]
        first = self.rng.randrange(len(urls))
        order = urls[first:] + urls[:first]
        if await _connect_one(self.job, member, self.report, again=True, urls=order):
            self.report.reconnects += 1
            self.report.rejoin_ms.append((time.perf_counter() - member.lost_at) * 1000.0)
            self.report.rejoined_at.append(time.time())
        else:
            self.report.closed_early += 1
            self.finish(member)

    def finish(self, member: _Member) -> None:
        if member.done:
            return
        member.done = True
        self.playing -= 1
        self.report.unanswered += len(member.pressed - member.settled)
        for timer in member.timers:
            timer.cancel()
        member.timers.clear()


async def _connect_one(
    job: ClientJob,
    member: _Member,
    report: ClientReport,
    *,
    again: bool = False,
    urls: list[str] | None = None,
    since: float | None = None,
    give_up_at: float | None = None,
) -> bool:
    """Connect and join, retrying a failed attempt twice after a short back-off, as an app
    does; connect latency counts from the first try, or from *since* (``perf_counter``: a
    storm member's arrival). *again*: a member of the show opening a lost socket (not
    counted as a new connection). *urls*: the gateways to try in turn (default
    ``job.url``). *give_up_at* (``perf_counter``): no try or wait past it; the member is
    then given up. Whether it joined."""
    started = time.perf_counter() if since is None else since
    loop = asyncio.get_running_loop()
    targets = urls or [job.url]
    reason: str | None = None
    for attempt in range(3):
        wait = 60.0
        if give_up_at is not None:
            wait = min(wait, give_up_at - time.perf_counter())
            if wait <= 0:
                break
        member.welcome = loop.create_future()
        member.refusal = None
        transport: WSTransport | None = None
        try:
            connecting = ws_connect(
                lambda: member,
                f"{targets[attempt % len(targets)]}?token={member.token}",
                websocket_handshake_timeout=wait,
                read_buffer_init_size=2048,
                local_addr=(job.source, 0),
            )
            # The TCP connect is bounded too (a SYN retried for minutes).
            transport, _ = await asyncio.wait_for(connecting, wait + 1.0)
            if give_up_at is not None:
                wait = max(0.0, give_up_at - time.perf_counter())
            await asyncio.wait_for(member.welcome, wait)
        except Exception as exc:
            if not member.welcome.done():
                member.welcome.cancel()  # a welcome that comes late is not played
            if transport is not None:
                transport.disconnect()
            reason = member.refusal
            if isinstance(exc, WSHandshakeError) and exc.response is not None:
                reason = f"HTTP {exc.response.status}"
            if reason is not None:
                report.refusals[reason] = report.refusals.get(reason, 0) + 1
            if len(report.errors) < 20:
                report.errors.append(f"connect {member.id} (try {attempt + 1}): {exc!r}")
            backoff = 0.5 + attempt
            if give_up_at is not None:
                left = give_up_at - time.perf_counter()
                if left <= 0.05 or (attempt < 2 and left <= backoff):
                    break  # out of time while still trying: given up
            if attempt < 2:
                report.retries += 1
                await asyncio.sleep(backoff)
                continue
            if not again:
                report.failed += 1
                report.join_refused += reason is not None
            return False
        member.transport = transport
        if again:
            return True
        assert member.play is not None
        member.play.playing += 1
        report.connected += 1
        report.connect_ms.append((time.perf_counter() - started) * 1000.0)
        report.last_joined = max(report.last_joined, time.time())
        return True
    member.abandoned = True  # out of time (a storm member): given up, counted apart
    if not again:
        report.given_up += 1
    return False


async def _orphan_watch(parent: int) -> None:
    """End this process if the orchestrator is gone (killed, or timed out by a harness)."""
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


async def _run(job: ClientJob, progress: Any, stop: Any, go: Any = None) -> ClientReport:
    watch = asyncio.create_task(_orphan_watch(os.getppid()))
    report = ClientReport(index=job.index)
    rng = random.Random(job.seed)
    play = _Play(job, report, rng)
    members = [_Member(mid, token) for mid, token in job.members]
    for mb in members:
        mb.play = play
        mb.report = report
    semaphore = asyncio.Semaphore(job.connect_concurrency)
    loop = asyncio.get_running_loop()

    async def bounded(member: _Member) -> None:
        async with semaphore:
            await _connect_one(job, member, report)

    async def arrive(member: _Member, at: float) -> None:
        """A storm member: connects at loop time *at*, however many are connecting."""
        await asyncio.sleep(max(0.0, at - loop.time()))
        since = time.perf_counter() - (loop.time() - at)  # late callbacks count as waiting
        await _connect_one(job, member, report, since=since, give_up_at=since + job.join_timeout_s)

    if job.join_seconds > 0:  # ready even with no member: the go waits for every process
        progress.put(("ready", job.index, 0, 0))
        ends = loop.time() + job.deadline_s
        while go is not None and go.value == 0.0 and loop.time() < ends:
            await asyncio.sleep(0.02)
        first = go.value + loop.time() - time.time() if go is not None else loop.time()
        step = job.join_seconds / max(1, len(members))
        connecting = asyncio.gather(
            *(arrive(mb, first + (j + job.join_phase) * step) for j, mb in enumerate(members))
        )
    else:
        connecting = asyncio.gather(*(bounded(mb) for mb in members))
    while not connecting.done():
        await asyncio.wait([connecting], timeout=1.0)
        progress.put(("connect", job.index, report.connected, report.failed))
    progress.put(("connected", job.index, report.connected, report.failed))
    cpu_connected = time.process_time()
    joined = [mb for mb in members if mb.joined]
    ends = loop.time() + job.deadline_s
    while play.playing > 0 and loop.time() < ends:
        await asyncio.sleep(1.0)
        progress.put(
            (
                "play",
                job.index,
                len(report.accepted),
                play.playing,
                sum(len(v) for v in report.delivery_ms.values()),
                sum(report.refused.values()),
            )
        )
        if stop.is_set():
            break
    report.play_cpu_s = time.process_time() - cpu_connected
    for task in list(play.rejoining):
        task.cancel()
    for mb in joined:
        play.finish(mb)
        if mb.transport is not None and not mb.transport.is_disconnected:
            mb.transport.send_close(WSCloseCode.OK)
            mb.transport.disconnect()
    await asyncio.sleep(0.5)  # let the close frames go out
    watch.cancel()
    return report


def run_client(job: ClientJob, progress: Any, results: Any, stop: Any, go: Any = None) -> None:
    """Process entry point (``multiprocessing``): run the job, put the report in *results*.
    A join storm (``job.join_seconds``) puts ``("ready", index, 0, 0)`` on *progress*, then
    waits for *go* (a shared double) to hold the wall-clock time its arrivals count from."""
    lift_nofile_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        report = asyncio.run(_run(job, progress, stop, go))
    else:
        report = uvloop.run(_run(job, progress, stop, go))
    results.put(report)
