"""Locust scenarios for the contest engine.

Run headless against a deployment (see docs/loadtest.md)::

    locust -f loadtest/locustfile.py --headless -u 500 -r 50 -t 5m \\
        --host ws://127.0.0.1:8765 --csv out/run --html out/run.html

Settings come from the environment (``make loadtest`` sets them itself):

``LOADTEST_TOKENS``
    A JSON-lines file of members, one ``{"member", "token", "province", "unit",
    "contest"}`` per line, as ``contest token --count N --json`` prints it. Each simulated
    member takes the next line; members are spread over provinces and units by the command.
``LOADTEST_ABUSER_TOKENS``
    The same, for the :class:`Abuser` users: members of their own, so that whatever an
    abuser does to its own attempt, the honest members' results can be checked untouched.
``LOADTEST_HTTP``
    Base URL of the HTTP API for the leaderboard readers (``http://127.0.0.1:8080``).
``LOADTEST_ACKS``
    Folder where every process writes the answers the server acknowledged (JSON lines),
    so that a check after the run can compare them with the audit stream.
``LOADTEST_WRONG_SHARE``, ``LOADTEST_DROP_SHARE``, ``LOADTEST_THINK``
    Share of deliberately random answers, share of members who drop their connection once
    mid-attempt and resume, and the mean think time in seconds.

Scenarios (user classes; pick with ``locust ... WindowMember LiveMember``):

* :class:`WindowMember`: a round opening: start an attempt, answer with human think times
  and a realistic share of wrong answers, sometimes drop and resume, submit with a
  prediction.
* :class:`LiveMember`: joins before the show and answers each question inside its window,
  most in the first seconds (a log-normal delay).
* :class:`LeaderboardReader`: HTTP reads of leaderboards and statistics.
* :class:`Abuser`: bad frames, second answers, late answers, forged tokens; it must have no
  effect on honest members' results.
"""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, User, between, events, task
from locust.exception import StopUser

from engine.core import messages as m
from loadtest.member import choose_answer
from loadtest.wsclient import EngineSocket, RequestFailed

WRONG_SHARE = float(os.environ.get("LOADTEST_WRONG_SHARE", "0.3"))
DROP_SHARE = float(os.environ.get("LOADTEST_DROP_SHARE", "0.1"))
THINK = float(os.environ.get("LOADTEST_THINK", "2.0"))


class _Members:
    """The members' tokens, handed out one per simulated user (thread/greenlet safe).

    Rows are indexed by mode once, on first use; each mode hands out its own rows in turn,
    so no two users share a token until a mode's rows run out.
    """

    def __init__(self, variable: str) -> None:
        self.variable = variable
        self._lock = threading.Lock()
        self._by_mode: dict[str | None, list[dict[str, str]]] | None = None
        self._next: dict[str | None, int] = {}

    def _load(self) -> dict[str | None, list[dict[str, str]]]:
        path = os.environ.get(self.variable)
        if not path:
            raise StopUser(f"set {self.variable} to a file from `contest token --count N --json`")
        with open(path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        by_mode: dict[str | None, list[dict[str, str]]] = {None: rows}
        for row in rows:
            by_mode.setdefault(row.get("mode"), []).append(row)
        return by_mode

    def take(self, contest_mode: str | None = None) -> dict[str, str]:
        with self._lock:
            if self._by_mode is None:
                self._by_mode = self._load()
            rows = self._by_mode.get(contest_mode, [])
            if not rows:
                raise StopUser(f"no tokens for mode {contest_mode!r}")
            turn = self._next.get(contest_mode, 0)
            self._next[contest_mode] = turn + 1
            return rows[turn % len(rows)]


MEMBERS = _Members("LOADTEST_TOKENS")
ABUSERS = _Members("LOADTEST_ABUSER_TOKENS")


def _record_acks(sock: EngineSocket, member: str, contest: str) -> None:
    """Append the member's sent answers and accepted acks to this process's file."""
    folder = os.environ.get("LOADTEST_ACKS")
    if not folder or not (sock.acked or sock.sent):
        return
    path = Path(folder) / f"acks-{os.getpid()}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        for ack in sock.acked:
            row = {"contest": contest, "member": member, "question": ack.question, "acked": True}
            fh.write(json.dumps(row) + "\n")
        for question in sock.sent:
            row = {"contest": contest, "member": member, "question": question, "acked": False}
            fh.write(json.dumps(row) + "\n")
    sock.acked.clear()
    sock.sent.clear()


class _MemberUser(User):
    abstract = True
    mode = "window"
    pool = MEMBERS

    def on_start(self) -> None:
        self.rng = random.Random()
        self.row = self.pool.take(self.mode)
        base = (self.host or "ws://127.0.0.1:8765").rstrip("/")
        self.url = f"{base}/ws/{self.row['contest']}"
        self.sock = EngineSocket(self.environment, self.url)
        self.sock.connect(self.row["token"])

    def on_stop(self) -> None:
        _record_acks(self.sock, self.row["member"], self.row["contest"])
        self.sock.close()

    def think(self) -> None:
        gevent.sleep(self.rng.expovariate(1.0 / THINK) if THINK > 0 else 0)


class WindowMember(_MemberUser):
    """A member taking a window round: start, answer, maybe drop and resume, submit."""

    mode = "window"
    wait_time = between(1, 5)

    @task
    def take_attempt(self) -> None:
        try:
            state = self.sock.request("start_attempt", m.encode(m.StartAttempt()), "attempt")
        except RequestFailed:
            raise StopUser() from None  # attempts used up or round closed: this member is done
        assert isinstance(state, m.AttemptState)
        will_drop = self.rng.random() < DROP_SHARE
        drop_at = self.rng.randrange(len(state.questions)) if state.questions else -1
        for i, question in enumerate(state.questions):
            if question.id in state.answers:
                continue
            self.think()
            if will_drop and i == drop_at:
                self.sock.drop()
                _record_acks(self.sock, self.row["member"], self.row["contest"])
                self.sock = EngineSocket(self.environment, self.url)
                self.sock.connect(self.row["token"])
                resumed = self.sock.request("resume", m.encode(m.Resume()), "attempt")
                assert isinstance(resumed, m.AttemptState)
                if question.id in resumed.answers:
                    continue
            try:
                self.sock.answer(question.id, choose_answer(question, self.rng, WRONG_SHARE))
            except RequestFailed:
                pass
            _record_acks(self.sock, self.row["member"], self.row["contest"])
        prediction = self.rng.randint(0, 2000) if state.questions else None
        self.sock.request("submit", m.encode(m.Submit(prediction=prediction)), "attempt")
        _record_acks(self.sock, self.row["member"], self.row["contest"])
        raise StopUser()


class LiveMember(_MemberUser):
    """A member in a live show: answers each released question inside its window."""

    mode = "live"
    wait_time = between(0, 0)

    @task
    def play(self) -> None:
        question = self.sock.wait_for("question", timeout=120)
        if question is None or self.sock.state.closed is not None:
            raise StopUser()
        assert isinstance(question, m.Question)
        window_ms = question.deadline - self.sock.state.server_now()
        # People answer early: log-normal around ~2.5 s, a few late ones past the deadline.
        delay = min(self.rng.lognormvariate(0.9, 0.6), max(0.0, window_ms / 1000.0 + 0.5))
        gevent.sleep(delay)
        try:
            self.sock.answer(question.id, choose_answer(question, self.rng, WRONG_SHARE))
        except RequestFailed:
            pass
        _record_acks(self.sock, self.row["member"], self.row["contest"])


class LeaderboardReader(HttpUser):
    """Reads leaderboards and statistics over HTTP, as the app's result pages do."""

    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        # locust's --host names the WebSocket side; the readers use the HTTP API's own URL
        # (absolute URLs bypass the session's base URL).
        self.http = os.environ.get("LOADTEST_HTTP", "http://127.0.0.1:8080").rstrip("/")
        self.row = MEMBERS.take()

    @task(5)
    def global_board(self) -> None:
        self.client.get(
            f"{self.http}/public/contests/{self.row['contest']}/leaderboard?limit=100",
            name="/public/contests/[id]/leaderboard",
        )

    @task(2)
    def province_board(self) -> None:
        self.client.get(
            f"{self.http}/public/contests/{self.row['contest']}/leaderboard"
            f"?scope=province&key={self.row['province']}",
            name="/public/contests/[id]/leaderboard?scope=province",
        )

    @task(1)
    def info(self) -> None:
        self.client.get(
            f"{self.http}/public/contests/{self.row['contest']}", name="/public/contests/[id]"
        )


class Abuser(_MemberUser):
    """Bad frames, second answers, late answers and forged tokens: must change nothing."""

    mode = "window"
    pool = ABUSERS
    wait_time = between(0.2, 1)

    @task(3)
    def garbage(self) -> None:
        if not self.sock.connected:
            self.sock = EngineSocket(self.environment, self.url)
            self.sock.connect(self.row["token"])
        payload: Any = self.rng.choice(
            ['{"type":"answer"', '{"type":"nope"}', "[]", "null", '{"type":"answer","question":1}']
        )
        self.sock.send_raw(payload)

    @task(2)
    def answer_twice(self) -> None:
        if not self.sock.connected:
            return
        try:
            state = self.sock.request("abuse: start_attempt", m.encode(m.StartAttempt()), "attempt")
        except RequestFailed:
            return
        assert isinstance(state, m.AttemptState)
        if state.questions:
            question = state.questions[0]
            for _ in range(2):
                try:
                    self.sock.answer(
                        question.id, choose_answer(question, self.rng, 1.0), name="abuse: answer"
                    )
                except RequestFailed:
                    pass

    @task(1)
    def forged_token(self) -> None:
        forged = self.row["token"][:-4] + (
            "AAAA" if not self.row["token"].endswith("AAAA") else "BBBB"
        )
        sock = EngineSocket(self.environment, self.url, timeout=5)
        try:
            sock.connect(forged, name="abuse: forged token")
        except Exception:  # refused, as it must be; locust records it as a failed join
            pass
        finally:
            sock.close()


def _summary(environment: Any, **_: Any) -> None:
    stats = environment.stats
    for name in ("question", "reveal"):  # protocol 2: the reveal carries the board
        entry = stats.entries.get((name, "BROADCAST"))
        if entry is not None and entry.num_requests:
            print(
                f"broadcast {name}: n={entry.num_requests} "
                f"p50={entry.get_response_time_percentile(0.5):.0f} ms "
                f"p99={entry.get_response_time_percentile(0.99):.0f} ms"
            )


events.quitting.add_listener(_summary)  # type: ignore[no-untyped-call]
