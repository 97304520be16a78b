"""How ``contest serve`` keeps its processes running: restart what dies, within limits.

* :class:`Backoff`: one process's recent deaths; how long to wait before its next restart
  (0.5 s, 1 s, 2 s, ... up to :data:`MAX_DELAY`), or ``None`` once it died more than
  ``restart_limit`` times in ``restart_window`` seconds (then serve stops, exit 1).
* :class:`Children`: the worker processes (``gateway-N``) and the conductor process, each
  restarted alone when it dies; the others keep serving. A restarted gateway binds the same
  ports (``SO_REUSEPORT``); a restarted conductor process takes its shows over once the
  dead one's leases expire (:mod:`engine.runtime.lease`).
* :class:`RedisKeeper`: a thread watching the embedded redis-server; when it dies it is
  started again on the same port and folder, so it reads its AOF back, and every
  process's clients reconnect to it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from engine.core.settings import Settings
from engine.runtime.redisconn import restart_embedded
from scoring.redis_server import RedisServer

__all__ = ["Backoff", "Children", "RedisKeeper", "how_it_ended"]

log = logging.getLogger("engine.serve")

FIRST_DELAY = 0.5
"""Seconds before a process's first restart; each further restart in the window doubles it."""
MAX_DELAY = 30.0
"""Longest wait before a restart."""


def how_it_ended(exitcode: int | None) -> str:
    """``exit code 1``, ``signal SIGKILL``: a process's end in words."""
    if exitcode is None:
        return "an unknown end"
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-exitcode).name}"
        return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class Backoff:
    """The restart policy of one process: at most *limit* restarts in *window* seconds."""

    def __init__(self, name: str, limit: int, window: float) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self.deaths: collections.deque[float] = collections.deque()

    def died(self, now: float) -> float | None:
        """Record a death at *now* (monotonic seconds): the seconds to wait before the
        restart, or ``None`` when it died too often (:meth:`gave_up` says so)."""
        while self.deaths and self.deaths[0] <= now - self.window:
            self.deaths.popleft()
        self.deaths.append(now)
        if len(self.deaths) > self.limit:
            return None
        return float(min(FIRST_DELAY * 2 ** (len(self.deaths) - 1), MAX_DELAY))

    def gave_up(self) -> str:
        times = "once" if len(self.deaths) == 1 else f"{len(self.deaths)} times"
        return (
            f"{self.name} died {times} in {self.window:g} s; stopping "
            f"(restart_limit {self.limit}): see the log above for why it died"
        )


def _forget_metrics(pid: int) -> None:
    """Drop a dead worker's live gauges (members online) from the shared Prometheus files."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class _Child:
    """One supervised process: how to start it, the current one, its restart policy."""

    def __init__(
        self, name: str, target: Callable[..., None], args: tuple[Any, ...], backoff: Backoff
    ) -> None:
        self.name = name
        self.target = target
        self.args = args
        self.backoff = backoff
        self.process: SpawnProcess | None = None
        self.restart_at: float | None = None
        """When a dead process is due to be started again (monotonic), or None."""

    def start(self, context: SpawnContext) -> None:
        self.process = context.Process(target=self.target, args=self.args, name=self.name)
        self.process.start()
        self.restart_at = None
        log.info("%s (pid %s) started", self.name, self.process.pid)


class Children:
    """The child processes of ``contest serve --workers N``, each restarted when it dies."""

    def __init__(self, context: SpawnContext, settings: Settings) -> None:
        self.context = context
        self.settings = settings
        self.children: list[_Child] = []

    def add(self, name: str, target: Callable[..., None], *args: Any) -> None:
        backoff = Backoff(name, self.settings.restart_limit, self.settings.restart_window)
        self.children.append(_Child(name, target, args, backoff))

    @property
    def processes(self) -> list[SpawnProcess]:
        """The current (last started) process of each child."""
        return [c.process for c in self.children if c.process is not None]

    def start(self, stopping: Callable[[], bool]) -> None:
        """Start every child (no more once *stopping* says so)."""
        for child in self.children:
            if stopping():
                return
            child.start(self.context)

    def signal(self, signum: int) -> None:
        for proc in self.processes:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def wait(self, seconds: float) -> None:
        """Sleep up to *seconds*, waking when a child ends."""
        sentinels = [p.sentinel for p in self.processes if p.is_alive()]
        if sentinels:
            multiprocessing.connection.wait(sentinels, seconds)
        else:
            time.sleep(seconds)

    def supervise(self, *, restart: bool) -> str | None:
        """Notice dead children and start those due again. Returns why serve must stop: a
        child died before serve was ready (*restart* False), or died too often."""
        now = time.monotonic()
        for child in self.children:
            proc = child.process
            if proc is None or proc.is_alive():
                continue
            if child.restart_at is None:  # a death not yet seen
                _forget_metrics(proc.pid or 0)
                ended = how_it_ended(proc.exitcode)
                if not restart:
                    return f"{child.name} (pid {proc.pid}) ended with {ended} while starting"
                delay = child.backoff.died(now)
                if delay is None:
                    log.error("%s (pid %s) died (%s)", child.name, proc.pid, ended)
                    return child.backoff.gave_up()
                log.error(
                    "%s (pid %s) died (%s); restarting it in %.1f s (restart %d of at most "
                    "%d in %g s)",
                    child.name,
                    proc.pid,
                    ended,
                    delay,
                    len(child.backoff.deaths),
                    child.backoff.limit,
                    child.backoff.window,
                )
                child.restart_at = now + delay
            if child.restart_at <= now:
                child.start(self.context)
        return None

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM every child, wait up to *grace* seconds each, then SIGKILL. Returns
        whether every one ended in time. An end not seen yet that was not the clean one
        (a crash just before the signal, a failure while stopping) is logged."""
        self.signal(signal.SIGTERM)
        in_time = True
        for child in self.children:
            proc = child.process
            if proc is None or proc.pid is None:  # never started
                continue
            seen = child.restart_at is not None  # its death is already logged
            proc.join(grace)
            if proc.is_alive():
                log.error("%s (pid %s) did not stop in %g s: killed", child.name, proc.pid, grace)
                proc.kill()
                proc.join()
                in_time = False
            elif not seen and proc.exitcode not in (0, -signal.SIGTERM):
                log.warning(
                    "%s (pid %s) ended with %s as serve stopped",
                    child.name,
                    proc.pid,
                    how_it_ended(proc.exitcode),
                )
        return in_time


class RedisKeeper:
    """A thread that restarts the embedded redis-server *server* whenever it dies.

    It checks every half second; a dead server is started again after a back-off
    (:class:`Backoff`, the same limits as the worker processes), on the same port and
    folder, and recorded in ``redis.json``. When it died too often, or cannot be started,
    :attr:`failure` says why and *give_up* is called (``contest serve`` then stops, exit 1).
    :meth:`stop` must be called before the server is stopped on purpose.
    """

    CHECK_EVERY = 0.5

    def __init__(self, server: RedisServer, settings: Settings, give_up: Callable[[], None]):
        self.server = server
        self.give_up = give_up
        self.backoff = Backoff(
            "the embedded redis-server", settings.restart_limit, settings.restart_window
        )
        self.failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-keeper", daemon=True)

    def start(self) -> RedisKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.CHECK_EVERY):
            proc = self.server.process
            if proc is None or proc.poll() is None:
                continue
            log.error(
                "embedded redis-server (pid %s) died (%s)", proc.pid, how_it_ended(proc.returncode)
            )
            if not self._restart():
                return

    def _restart(self) -> bool:
        """Start the server again, retrying with back-off; False once it gave up (or serve
        is stopping)."""
        while True:
            delay = self.backoff.died(time.monotonic())
            if delay is None:
                self.failure = self.backoff.gave_up()
                self.give_up()
                return False
            log.error(
                "embedded redis-server: restarting it on port %d in %.1f s (restart %d of at "
                "most %d in %g s); its AOF in %s is read back",
                self.server.port,
                delay,
                len(self.backoff.deaths),
                self.backoff.limit,
                self.backoff.window,
                self.server.data_dir,
            )
            if self._stop.wait(delay):
                return False
            try:
                pid = restart_embedded(self.server)
            except (RuntimeError, OSError) as exc:  # TimeoutError is an OSError
                log.error("embedded redis-server did not start again: %s", exc)
                continue
            log.warning("embedded redis-server (pid %d) restarted on %s", pid, self.server.url)
            return True
