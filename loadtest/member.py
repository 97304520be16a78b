"""A simulated member's protocol state, without I/O.

Shared by the locust user (gevent, blocking websocket-client) and the swarm (asyncio,
websockets): both feed it every frame they receive and ask it what to send. It keeps the
time-sync offset to the server's clock, numbers answers, matches acks to answers, keeps
the member's live standing as a protocol 2 app does (total and streak from its acks, rank
from each reveal's score histogram), and measures broadcast delivery delay (server send
time to receipt, corrected by the offset).

Only :mod:`engine.core.messages` is imported from the engine: load tests talk over the wire.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from engine.core import messages as m

__all__ = ["Delivery", "MemberState", "choose_answer", "now_ms"]


def now_ms() -> float:
    """The local wall clock in milliseconds (float, for sub-millisecond delays)."""
    return time.time() * 1000.0


@dataclass(slots=True)
class Delivery:
    """A broadcast as received: what it was and how long it took to arrive."""

    kind: str
    delay_ms: float


@dataclass(slots=True)
class MemberState:
    """What one simulated member knows; fed by :meth:`receive`."""

    offset_ms: float = 0.0
    """Server clock minus local clock, learned from ping/pong (best round trip wins)."""
    best_rtt_ms: float = float("inf")
    seq: int = 0
    pending: dict[int, float] = field(default_factory=dict)
    """seq -> local send time of answers not yet acked."""
    acks: list[m.Ack] = field(default_factory=list)
    welcome: m.Welcome | None = None
    question: m.Question | None = None
    attempt: m.AttemptState | None = None
    closed: m.Closed | None = None
    errors: list[m.Error] = field(default_factory=list)
    reveals: int = 0
    total: int = 0
    """Live: the total the latest accepted ack gave."""
    ranked: bool = False
    """Live: the member has an accepted answer (only then does it have a rank)."""
    rank: int | None = None
    """Live: the rank after the latest reveal (1 + the members with a higher total)."""

    # -- sending

    def ping(self) -> bytes:
        return m.encode(m.Ping(t=int(now_ms())))

    def answer(self, question: str, value: m.AnswerValue) -> tuple[int, bytes]:
        self.seq += 1
        self.pending[self.seq] = now_ms()
        return self.seq, m.encode(m.Answer(question=question, answer=value, seq=self.seq))

    # -- receiving

    def receive(self, frame: str | bytes) -> tuple[m.ServerMessage, float | None, Delivery | None]:
        """Decode a frame; return it, the ack latency (ms) if it is an ack of ours, and the
        delivery delay if it is a broadcast carrying its send time."""
        local = now_ms()
        msg = m.decode_server(frame)
        latency: float | None = None
        delivery: Delivery | None = None
        match msg:
            case m.Pong(t=t, server_time=server_time):
                rtt = local - t
                if rtt <= self.best_rtt_ms:
                    self.best_rtt_ms = rtt
                    self.offset_ms = server_time - (t + local) / 2
            case m.Ack(seq=seq):
                sent = self.pending.pop(seq, None)
                if sent is not None:
                    latency = local - sent
                self.acks.append(msg)
                if msg.accepted and self.attempt is None:  # a live show's answer
                    self.total, self.ranked = msg.total, True
            case m.Welcome():
                self.welcome = msg
                self.offset_ms = msg.server_time - local
            case m.Question(sent_at=sent_at):
                self.question = msg
                if sent_at and msg.attempt == 0:
                    delivery = Delivery("question", local + self.offset_ms - sent_at)
            case m.Reveal(sent_at=sent_at):
                self.reveals += 1
                if self.ranked:
                    self.rank = m.rank_of(msg.scores, self.total)
                if sent_at:
                    delivery = Delivery("reveal", local + self.offset_ms - sent_at)
            case m.AttemptState():
                self.attempt = msg
            case m.Closed():
                self.closed = msg
            case m.Error():
                self.errors.append(msg)
            case _:
                pass
        return msg, latency, delivery

    def server_now(self) -> float:
        return now_ms() + self.offset_ms


def choose_answer(question: m.Question, rng: random.Random, wrong_share: float) -> m.AnswerValue:
    """A plausible answer to *question*: right or wrong is left to chance and the bank.

    The simulated member does not know the correct answer (questions carry none); it picks
    among the options, so the share of wrong answers follows the options' count. For kinds
    without options it sends a value of the right shape.
    """
    options = [o.id for o in question.options]
    match question.kind:
        case "single":
            return rng.choice(options) if options else "a"
        case "multiple":
            k = rng.randint(1, max(1, len(options)))
            return sorted(rng.sample(options, k)) if options else ["a"]
        case "true_false":
            return rng.random() >= wrong_share / 2
        case "numeric":
            return rng.randint(0, 100)
        case "short_text":
            return rng.choice(["Hà Nội", "ha noi", "không biết", "1945"])
        case _:
            return rng.randint(0, 1000)
