"""Every Prometheus metric of the engine, defined once; each part imports what it records.

Names start with ``contest_``. Labels are few and bounded (a message type, a refusal
reason, a close code, a Redis operation): never a member or contest id, so a national
round does not create a time series per member.

=====================================  =========  =====================================
metric                                 kind       labels
=====================================  =========  =====================================
contest_ws_connections                 gauge      (open member connections, this process)
contest_ws_connects_total              counter    (connections accepted)
contest_ws_closes_total                counter    code (WebSocket close code)
contest_ws_refused_total               counter    reason (server_full, ...)
contest_ws_dropped_total               counter    reason (slow_reader: unsent bytes past the cap)
contest_messages_in_total              counter    type (join, answer, ..., invalid)
contest_messages_out_total             counter    type (welcome, question, ack, ...)
contest_errors_total                   counter    code (an ``engine.core.errors.ErrorCode``)
contest_answers_accepted_total         counter    mode (live, window)
contest_answers_refused_total          counter    reason (late, duplicate, closed, ...)
contest_answer_batch_size              histogram  (answers per Redis pipeline)
contest_broadcast_seconds              histogram  kind (publish -> written to local sockets)
contest_broadcast_recipients_total     counter    kind (frames handed to sockets)
contest_redis_seconds                  histogram  op (answers, leaderboard, ...)
contest_redis_errors_total             counter    op
contest_http_requests_total            counter    method, route, status
contest_http_request_seconds           histogram  route
contest_conductor_steps_total          counter    step (release, close, reveal, leaderboard)
contest_conductor_leases               gauge      (live shows this process conducts)
contest_scheduler_transitions_total    counter    event (open, start, close, finalize)
contest_scheduler_ticks_total          counter    lease (held, standby)
contest_attempts_expired_total         counter    (window attempts closed at their deadline)
contest_gc_pause_seconds               histogram  generation (1, 2: the loop stood still)
=====================================  =========  =====================================

Several processes: every gateway worker exposes its own numbers in a single-process
deployment. With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder, wiped before start,
set in the shell that starts ``contest serve``), ``/metrics`` aggregates all workers
(:func:`render`); the connection gauges use ``livesum`` then.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "ANSWERS_ACCEPTED",
    "ANSWERS_REFUSED",
    "ANSWER_BATCH_SIZE",
    "ATTEMPTS_EXPIRED",
    "BROADCAST_RECIPIENTS",
    "BROADCAST_SECONDS",
    "CONDUCTOR_LEASES",
    "CONDUCTOR_STEPS",
    "CONTENT_TYPE",
    "ERRORS",
    "GC_PAUSES",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "MESSAGES_IN",
    "MESSAGES_OUT",
    "REDIS_ERRORS",
    "REDIS_SECONDS",
    "SCHEDULER_TICKS",
    "SCHEDULER_TRANSITIONS",
    "WS_CLOSES",
    "WS_DROPPED",
    "WS_CONNECTIONS",
    "WS_CONNECTS",
    "WS_REFUSED",
    "redis_timer",
    "render",
    "watch_gc",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Buckets (seconds) for Redis calls: sub-millisecond to a stall."""
_BROADCAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
"""Buckets (seconds) for broadcast delivery; the target is 1 s to 100,000 members."""

WS_CONNECTIONS = Gauge(
    "contest_ws_connections",
    "Member WebSocket connections open in this process.",
    multiprocess_mode="livesum",
)
WS_CONNECTS = Counter("contest_ws_connects", "Member WebSocket connections accepted.")
WS_CLOSES = Counter("contest_ws_closes", "Member connections closed, by close code.", ["code"])
WS_DROPPED = Counter(
    "contest_ws_dropped",
    "Connections dropped without a close handshake, by reason (slow_reader).",
    ["reason"],
)
WS_REFUSED = Counter(
    "contest_ws_refused", "Connections refused before the handshake, by reason.", ["reason"]
)
MESSAGES_IN = Counter(
    "contest_messages_in", "Frames received from members, by message type.", ["type"]
)
MESSAGES_OUT = Counter(
    "contest_messages_out",
    "Messages sent to members, by message type (a broadcast counts once per socket).",
    ["type"],
)
ERRORS = Counter(
    "contest_errors", "Errors answered to members or organisers, by error code.", ["code"]
)
ANSWERS_ACCEPTED = Counter("contest_answers_accepted", "Answers accepted, by mode.", ["mode"])
ANSWERS_REFUSED = Counter(
    "contest_answers_refused", "Answers refused, by reason (late, duplicate, ...).", ["reason"]
)
ANSWER_BATCH_SIZE = Histogram(
    "contest_answer_batch_size",
    "Answers sent to Redis in one pipeline.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
BROADCAST_SECONDS = Histogram(
    "contest_broadcast_seconds",
    "Time from a broadcast's publication to its frame being written to this process's sockets.",
    ["kind"],
    buckets=_BROADCAST,
)
BROADCAST_RECIPIENTS = Counter(
    "contest_broadcast_recipients", "Broadcast frames handed to member sockets.", ["kind"]
)
REDIS_SECONDS = Histogram(
    "contest_redis_seconds", "Latency of Redis calls, by operation.", ["op"], buckets=_FAST
)
REDIS_ERRORS = Counter("contest_redis_errors", "Redis calls that failed, by operation.", ["op"])
HTTP_REQUESTS = Counter(
    "contest_http_requests",
    "HTTP API requests, by route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "contest_http_request_seconds", "HTTP API request latency, by route.", ["route"], buckets=_FAST
)
CONDUCTOR_STEPS = Counter(
    "contest_conductor_steps", "Live-show steps the conductor performed, by step.", ["step"]
)
CONDUCTOR_LEASES = Gauge(
    "contest_conductor_leases",
    "Live shows whose conductor lease this process holds.",
    multiprocess_mode="livesum",
)
SCHEDULER_TRANSITIONS = Counter(
    "contest_scheduler_transitions", "Lifecycle transitions the scheduler fired.", ["event"]
)
SCHEDULER_TICKS = Counter(
    "contest_scheduler_ticks",
    "Scheduler rounds ended, by whether this process held the scheduler lease in them.",
    ["lease"],
)
ATTEMPTS_EXPIRED = Counter(
    "contest_attempts_expired", "Window attempts closed automatically at their deadline."
)
GC_PAUSES = Histogram(
    "contest_gc_pause_seconds",
    "Garbage collections of generation 1 and 2 in this process, by generation: the event "
    "loop stands still for each.",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def watch_gc() -> None:
    """Time this process's collections of generations 1 and 2 into :data:`GC_PAUSES` (a
    :data:`gc.callbacks` entry, added once per process). Generation 0's, hundreds a second
    under load and each well under a millisecond, are not timed. A gateway's full
    collections are what stalled it in the sixth and tenth sessions' runs."""
    if _gc_callback in gc.callbacks:
        return
    gc.callbacks.append(_gc_callback)


_gc_started = [0.0]
_gc_children = (GC_PAUSES.labels("1"), GC_PAUSES.labels("2"))


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    generation = info["generation"]
    if not generation:
        return
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _gc_children[generation - 1].observe(time.perf_counter() - _gc_started[0])


@contextmanager
def redis_timer(op: str) -> Iterator[None]:
    """Time a Redis call into :data:`REDIS_SECONDS`; count it in :data:`REDIS_ERRORS` if it
    raises (the exception propagates)."""
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        REDIS_ERRORS.labels(op).inc()
        raise
    finally:
        REDIS_SECONDS.labels(op).observe(time.perf_counter() - start)


def render() -> bytes:
    """The exposition text of every metric: this process's, or every worker's when
    ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
