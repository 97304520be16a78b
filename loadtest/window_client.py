"""One process of the window swarm: members who arrive, take a timed attempt and leave.

Started by :mod:`loadtest.window` with a slice of the members (token, arrival offset) and a
loopback source address of its own. Every member is a picows listener (no coroutine per
member): at its arrival time it connects with its token, sends ``start_attempt``, answers
each question of its draw after a log-normal think time (right or wrong by
``wrong_share``, from the answer key the orchestrator read from the bank), and then:

* ``submit`` with a prediction (most members);
* or, a *dropper*: after some acked answers it closes its socket, reconnects after a
  moment, checks that the ``attempt`` the server sends back holds every answer it had
  acked, and carries on;
* or, an *expirer*: it stops answering part-way and sends ``submit`` only after the
  attempt's deadline, which the server must answer with ``state`` ``expired``.

It closes its socket once its attempt is handed in. Frames are decoded into small local
structs holding only the fields it reads (msgspec skips the rest: question texts, options'
texts...); what it sends is encoded with :mod:`engine.core.messages`.

Measurements (this machine's clock, which the gateway shares):

* join: connect start -> ``welcome``; start: ``start_attempt`` sent -> ``attempt``;
* ack: ``answer`` sent -> ``ack``; the (member, question) pairs acked as accepted;
* errors by code: ``error`` frames, refused acks (by reason), failed connects, lost
  connections, resumes missing an acked answer, unexpected attempt states.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from engine.core import messages as m

from .swarm_client import _orphan_watch, lift_nofile_limit

__all__ = ["WindowJob", "WindowReport", "run_window_client"]

AnswerKey = dict[str, tuple[Any, Any]]
"""question id -> (a right answer, a wrong answer)."""


@dataclass
class WindowJob:
    """What one client process is asked to do."""

    index: int
    url: str
    """``ws://127.0.0.1:PORT/ws/CONTEST``."""
    members: list[tuple[str, str, float]]
    """(member id, token, arrival in seconds after the go time), by arrival."""
    source: str
    """Loopback source address for this process's sockets (``127.0.0.2``...)."""
    key: AnswerKey
    think_ms: float = 3000.0
    """Median think time per question (log-normal)."""
    think_sigma: float = 0.5
    wrong_share: float = 0.3
    drop_share: float = 0.1
    expire_share: float = 0.05
    max_prediction: int = 1000
    reply_timeout_s: float = 60.0
    """A member waiting this long for a reply (``welcome``, ``attempt``, ``ack``) gives up:
    the error ``no_reply_<step>``."""
    deadline_s: float = 600.0
    """The process ends by itself after this many seconds, whatever happens."""
    seed: int = 0


@dataclass
class WindowReport:
    index: int
    members: int = 0
    arrived: int = 0
    joined: int = 0
    started: int = 0
    submitted: int = 0
    expired: int = 0
    drops: int = 0
    resumes: int = 0
    join_ms: list[float] = field(default_factory=list)
    start_ms: list[float] = field(default_factory=list)
    resume_ms: list[float] = field(default_factory=list)
    """Reconnect start -> the ``attempt`` sent back after ``welcome``."""
    ack_ms: list[float] = field(default_factory=list)
    ack_at: list[float] = field(default_factory=list)
    """Wall-clock time of each ack in ``ack_ms`` (same order), for the curves over time."""
    admitted: list[tuple[float, float, float]] = field(default_factory=list)
    """(wall-clock time, ms, arrival) per started attempt: ms from the member's arrival
    (its first connect) to its ``attempt``, the whole wait of a member who opens the
    round; arrival is the member's scheduled arrival, seconds after the go time."""
    accepted: list[tuple[str, str]] = field(default_factory=list)
    answer_times: list[float] = field(default_factory=list)
    """Wall-clock time of each accepted ack, for answers per second."""
    wrong_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    """The first few errors, spelled out."""

    def error(self, code: str, detail: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.samples) < 20:
            self.samples.append(f"{code}: {detail}")


# -- what the client reads of the server's frames (msgspec ignores the other fields)


class _Option(msgspec.Struct):
    id: str


class _Question(msgspec.Struct):
    id: str
    kind: str
    options: list[_Option] = []


class _Welcome(msgspec.Struct, tag="welcome", tag_field="type"):
    pass


class _Attempt(msgspec.Struct, tag="attempt", tag_field="type"):
    attempt: int
    state: str
    deadline: int
    questions: list[_Question]
    answers: dict[str, msgspec.Raw] = {}


class _Ack(msgspec.Struct, tag="ack", tag_field="type"):
    question: str
    accepted: bool
    seq: int = 0
    reason: str | None = None


class _Error(msgspec.Struct, tag="error", tag_field="type"):
    code: str
    message: str = ""


class _Other(msgspec.Struct):
    type: str


_decode = msgspec.json.Decoder(_Welcome | _Attempt | _Ack | _Error).decode
_decode_type = msgspec.json.Decoder(_Other).decode
_START = m.encode(m.StartAttempt())

# member phases
_PHASES = "waiting joining starting playing dropped resuming late submitting done".split()
_WAITING, _JOINING, _STARTING, _PLAYING, _DROPPED, _RESUMING, _LATE, _SUBMITTING, _DONE = range(9)


class _Member(WSListener):
    """One member's socket and attempt; picows calls :meth:`on_ws_frame` in the loop."""

    def __init__(self, swarm: _Swarm, member: str, token: str, arrival: float) -> None:
        super().__init__()
        self.swarm = swarm
        self.id = member
        self.token = token
        self.arrival = arrival
        self.transport: WSTransport | None = None
        self.phase = _WAITING
        self.t0 = 0.0
        """perf_counter at the start of the step being timed."""
        self.came = 0.0
        """perf_counter at the member's arrival."""
        self.questions: list[_Question] = []
        self.deadline_ms = 0
        self.next = 0
        """Index of the next question to answer."""
        self.acked: set[str] = set()
        self.sent_at: dict[int, float] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.close_code = 0
        """The close code the server sent, 0 if none (the connection dropped)."""
        self.guard: asyncio.TimerHandle | None = None
        """Fires if the reply the member waits for does not come."""
        rng = swarm.rng
        fate = rng.random()
        self.drop = fate < swarm.job.drop_share
        self.expire = not self.drop and fate < swarm.job.drop_share + swarm.job.expire_share
        self.stop_at = -1
        """Drop (or stop answering) once this many questions are answered (and acked)."""

    # -- picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            try:
                msg = _decode(payload)
            except msgspec.ValidationError:
                self.swarm.other(self, _decode_type(payload).type)
                return
            self.swarm.received(self, msg)
        elif kind is WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.transport = None
        self.swarm.gone(self)
        self.close_code = 0

    # -- sending

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.send(WSMsgType.TEXT, data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()


class _Swarm:
    """The members of this process and what they do on each frame."""

    def __init__(self, job: WindowJob, report: WindowReport) -> None:
        self.job = job
        self.report = report
        self.rng = random.Random(job.seed)
        self.loop = asyncio.get_running_loop()
        self.mu = math.log(max(job.think_ms, 1.0) / 1000.0)
        self.active = 0
        """Members arrived and not done."""
        self.pending = 0
        """Members not done (arrived or not)."""
        self.tasks: set[asyncio.Task[None]] = set()
        """Connects under way (the loop keeps only weak references to tasks)."""

    def spawn(self, member: _Member, resuming: bool) -> None:
        task = self.loop.create_task(self.connect(member, resuming))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def expect(self, member: _Member, step: str) -> None:
        """The member now waits for the reply to *step*, for ``reply_timeout_s`` at most."""
        if member.guard is not None:
            member.guard.cancel()
        member.guard = self.loop.call_later(self.job.reply_timeout_s, self.no_reply, member, step)

    def no_reply(self, member: _Member, step: str) -> None:
        member.guard = None
        self.report.error(f"no_reply_{step}", member.id)
        self.finish(member)

    # -- the steps of an attempt

    async def connect(self, member: _Member, resuming: bool) -> None:
        """Open the member's socket (retrying twice after a back-off, as an app does).

        Each try, TCP connect and handshake together, is bounded by ``reply_timeout_s``: a
        server whose SYNs are dropped would otherwise hold the member in the kernel's SYN
        retries for two minutes."""
        job, report = self.job, self.report
        member.phase = _RESUMING if resuming else _JOINING
        member.t0 = time.perf_counter()
        for attempt in range(3):
            try:
                await asyncio.wait_for(
                    ws_connect(
                        lambda: member,
                        f"{job.url}?token={member.token}",
                        websocket_handshake_timeout=None,  # wait_for bounds both
                        read_buffer_init_size=4096,
                        local_addr=(job.source, 0),
                    ),
                    job.reply_timeout_s,
                )
                if member.phase in (_JOINING, _RESUMING):
                    self.expect(member, "welcome")
                return
            except Exception as exc:
                if attempt < 2:
                    await asyncio.sleep(0.5 + attempt)
                    continue
                report.error("connect_failed", f"{member.id}: {exc!r}")
                self.finish(member)

    def arrive(self, member: _Member) -> None:
        member.came = time.perf_counter()
        self.report.arrived += 1
        self.active += 1
        self.spawn(member, resuming=False)

    def think(self) -> float:
        return max(0.05, self.rng.lognormvariate(self.mu, self.job.think_sigma))

    def schedule_answer(self, member: _Member) -> None:
        if member.next >= len(member.questions):
            self.submit(member)
            return
        if member.next == member.stop_at:
            if member.drop:
                self.drop(member)
                return
            if member.expire:
                self.wait_out(member)
                return
        left = (member.deadline_ms - time.time() * 1000.0) / 1000.0 - 1.0
        member.timer = self.loop.call_later(min(self.think(), max(0.0, left)), self.answer, member)

    def answer(self, member: _Member) -> None:
        member.timer = None
        if member.phase != _PLAYING:
            return
        question = member.questions[member.next]
        right, wrong = self.job.key.get(question.id, (None, None))
        value: Any = right
        if right is None or self.rng.random() < self.job.wrong_share:
            value = wrong if wrong is not None else _any_answer(question, self.rng)
            self.report.wrong_sent += 1
        seq = member.next + 1
        member.next += 1
        member.sent_at[seq] = time.perf_counter()
        member.send(m.encode(m.Answer(question=question.id, answer=value, seq=seq)))
        self.expect(member, "ack")

    def drop(self, member: _Member) -> None:
        """Lose the connection mid-attempt; come back in a moment."""
        member.phase = _DROPPED
        member.drop = False  # once
        self.report.drops += 1
        member.close()
        delay = 0.2 + self.rng.random() * 1.5
        member.timer = self.loop.call_later(delay, self.spawn, member, True)

    def wait_out(self, member: _Member) -> None:
        """Stop answering; hand in only after the deadline (the server closed it by then)."""
        member.phase = _LATE
        wait = (member.deadline_ms - time.time() * 1000.0) / 1000.0 + 1.5
        member.timer = self.loop.call_later(max(0.0, wait), self.submit, member)

    def submit(self, member: _Member) -> None:
        member.timer = None
        member.phase = _SUBMITTING
        prediction = self.rng.randint(0, self.job.max_prediction)
        member.send(m.encode(m.Submit(prediction=prediction)))
        self.expect(member, "submit")

    def finish(self, member: _Member) -> None:
        if member.phase == _DONE:
            return
        member.phase = _DONE
        for timer in (member.timer, member.guard):
            if timer is not None:
                timer.cancel()
        member.timer = member.guard = None
        self.active -= 1
        self.pending -= 1
        member.close()

    # -- frames

    def received(self, member: _Member, msg: _Welcome | _Attempt | _Ack | _Error) -> None:
        report = self.report
        if member.guard is not None:
            member.guard.cancel()
            member.guard = None
        match msg:
            case _Ack():
                sent = member.sent_at.pop(msg.seq, None)
                if sent is not None:
                    report.ack_ms.append((time.perf_counter() - sent) * 1000.0)
                    report.ack_at.append(time.time())
                if msg.accepted:
                    member.acked.add(msg.question)
                    report.accepted.append((member.id, msg.question))
                    report.answer_times.append(time.time())
                else:
                    report.error(msg.reason or "refused", f"{member.id} {msg.question}")
                if member.phase == _PLAYING:
                    self.schedule_answer(member)
            case _Attempt():
                self.attempt(member, msg)
            case _Welcome():
                if member.phase == _JOINING:
                    report.joined += 1
                    report.join_ms.append((time.perf_counter() - member.t0) * 1000.0)
                    member.phase = _STARTING
                    member.t0 = time.perf_counter()
                    member.send(_START)
                    self.expect(member, "start")
                elif member.phase == _RESUMING:
                    self.expect(member, "resume")  # the server follows with the attempt
            case _Error():
                report.error(msg.code, f"{member.id}: {msg.message}")
                self.finish(member)  # its request was refused: the member gives up

    def attempt(self, member: _Member, msg: _Attempt) -> None:
        report = self.report
        now = time.perf_counter()
        if member.phase == _STARTING:
            report.start_ms.append((now - member.t0) * 1000.0)
            report.admitted.append((time.time(), (now - member.came) * 1000.0, member.arrival))
            report.started += 1
            if msg.state != "open":
                report.error("start_not_open", f"{member.id}: {msg.state}")
                self.finish(member)
                return
            member.questions = msg.questions
            member.deadline_ms = msg.deadline
            if member.drop or member.expire:
                member.stop_at = self.rng.randint(1, max(1, len(msg.questions) - 1))
            member.phase = _PLAYING
            self.schedule_answer(member)
        elif member.phase == _RESUMING:
            report.resume_ms.append((now - member.t0) * 1000.0)
            report.resumes += 1
            missing = member.acked - set(msg.answers)
            if missing:
                report.error("resume_lost_answers", f"{member.id}: {sorted(missing)}")
            if msg.state != "open":
                report.error("resume_not_open", f"{member.id}: {msg.state}")
                self.finish(member)
                return
            member.questions = msg.questions
            member.next = len(msg.answers)
            member.phase = _PLAYING
            self.schedule_answer(member)
        elif member.phase == _SUBMITTING:
            if msg.state == "submitted" and not member.expire:
                report.submitted += 1
            elif msg.state == "expired" and member.expire:
                report.expired += 1
            else:
                report.error(f"submit_{msg.state}", f"{member.id}: expected otherwise")
            self.finish(member)

    def other(self, member: _Member, kind: str) -> None:
        if kind not in ("state", "closed", "pong"):
            self.report.error(f"unexpected_{kind}", member.id)

    def gone(self, member: _Member) -> None:
        if member.phase in (_DROPPED, _DONE):
            return
        code = f"connection_lost_{member.close_code or 1006}"
        self.report.error(code, f"{member.id} in phase {_PHASES[member.phase]}")
        self.finish(member)


def _any_answer(question: _Question, rng: random.Random) -> Any:
    """An answer of the right shape to a question the key does not know."""
    if question.kind == "true_false":
        return rng.random() < 0.5
    if question.kind == "multiple":
        return [rng.choice(question.options).id] if question.options else ["a"]
    if question.options:
        return rng.choice(question.options).id
    return rng.randint(0, 100)


def _counts(swarm: _Swarm) -> tuple[int, ...]:
    r = swarm.report
    return (
        r.arrived,
        swarm.active,
        r.started,
        len(r.accepted),
        r.submitted,
        r.expired,
        r.drops,
        r.resumes,
        sum(r.errors.values()),
    )


FREEZE_EVERY_S = 2.0
"""How often a client process freezes what it holds (:func:`_keep_frozen`)."""


async def _keep_frozen() -> None:
    """Keep this process's collector off what it holds: after a young collection,
    :func:`gc.freeze` everything every :data:`FREEZE_EVERY_S` seconds.

    A client process holds tens of thousands of members and every acked answer of the
    run; CPython's full collections walked them all, 0.1–0.8 s each, several a minute
    (measured in the tenth session), and an ack arriving meanwhile was timed that much
    late: the gateway's latency included the load client's own pauses. With everything
    frozen each full collection walks only what is younger than 2 s. The cost is that a
    reference cycle that became garbage only after it was frozen is kept until the
    process ends (a bounded run's few MB)."""
    while True:
        await asyncio.sleep(FREEZE_EVERY_S)
        gc.collect(1)
        gc.freeze()


async def _run(job: WindowJob, go: Any, progress: Any, stop: Any) -> WindowReport:
    watch = asyncio.create_task(_orphan_watch(os.getppid()))
    report = WindowReport(index=job.index, members=len(job.members))
    swarm = _Swarm(job, report)
    members = [_Member(swarm, mid, token, at) for mid, token, at in job.members]
    swarm.pending = len(members)
    gc.collect()
    gc.freeze()
    freezer = asyncio.create_task(_keep_frozen())
    loop = asyncio.get_running_loop()
    progress.put(("ready", job.index, *_counts(swarm)))
    ends = loop.time() + job.deadline_s
    while go.value == 0.0 and loop.time() < ends:
        await asyncio.sleep(0.05)
    # arrivals on the wall clock the orchestrator chose (shared by every process)
    offset = loop.time() - time.time()
    for member in members:
        loop.call_at(go.value + member.arrival + offset, swarm.arrive, member)
    while swarm.pending > 0 and loop.time() < ends and not stop.is_set():
        await asyncio.sleep(1.0)
        progress.put(("run", job.index, *_counts(swarm)))
    for member in members:
        if member.phase != _DONE and member.phase != _WAITING:
            report.error("unfinished", f"{member.id} in phase {_PHASES[member.phase]}")
        member.close()
    await asyncio.sleep(0.5)  # let the close frames go out
    watch.cancel()
    freezer.cancel()
    return report


def run_window_client(job: WindowJob, go: Any, progress: Any, results: Any, stop: Any) -> None:
    """Process entry point (``multiprocessing``): run the job, put the report in *results*.
    *go* is a shared double: the wall-clock time arrivals count from (0 until set)."""
    lift_nofile_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        report = asyncio.run(_run(job, go, progress, stop))
    else:
        report = uvloop.run(_run(job, go, progress, stop))
    results.put(report)
