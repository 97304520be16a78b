"""``contest serve``: N gateway worker processes on one WebSocket port and one HTTP port.

::

    contest serve [--workers N] [--redis-url URL] [--host H] [--ws-port P] [--http-port P]
                  [--data-dir DIR] [--insecure-dev-secret]

* Start-up checks: the development token secret is warned about, and refused with an
  external Redis or a non-loopback host unless ``--insecure-dev-secret``; both ports must
  be free and Redis must answer; Redis's persistence settings are logged
  (:mod:`scoring.durability`).
* Redis: ``--redis-url`` (or ``CONTEST_REDIS_URL``); without one an embedded redis-server
  is started with AOF in ``--data-dir`` (:mod:`engine.runtime.redisconn`), restarted on its AOF
  if it dies, and stopped on exit.
* Workers: each is a process with its own event loop (uvloop when installed), its own
  listening sockets bound with ``SO_REUSEPORT`` to the same WebSocket port and the same
  HTTP port (the kernel spreads new connections over them), its own Redis connections,
  a :class:`~engine.gateway.server.Gateway` and the HTTP API (Starlette under uvicorn).
* The background loops (scheduler, live-show conductors; their leases in Redis make
  exactly one process active per contest) run in one more process with no sockets
  (``conductor_process``, the default), so a show's clock and lease renewals never queue
  behind tens of thousands of members' frames; or, with ``CONTEST_CONDUCTOR_PROCESS=0``,
  in every worker.
* ``--workers 1`` runs the one worker, background loops included, in this process.
* A worker or the conductor process that dies is restarted alone, with back-off; one that
  dies more than ``restart_limit`` times in ``restart_window`` seconds stops serve, exit 1
  (:mod:`engine.cli.supervise`).
* SIGINT / SIGTERM: every worker stops accepting, closes its members with 4000 ("server
  restart": reconnect, to any gateway), finishes in-flight Redis calls and exits; then the
  embedded Redis (if any) is stopped, AOF flushed.

With several workers, Prometheus metrics of all of them are served by every worker's
``/metrics`` through ``PROMETHEUS_MULTIPROC_DIR`` (``<data-dir>/metrics`` unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from engine.cli._common import fail, load_settings, log_to_stderr, say
from engine.cli.supervise import Children, RedisKeeper
from engine.core.settings import DEV_TOKEN_SECRET, ENV_PREFIX, Settings

__all__ = ["ServeInfo", "bind_reuseport", "redacted", "register", "run_worker", "serve"]

log = logging.getLogger("engine.serve")

BACKGROUND_MODULES = ("engine.scheduling.background",)
"""Modules with ``async def run(settings, redis_client, stop: asyncio.Event)``: the
conductor and scheduler loops every worker runs (skipped if the module does not exist)."""


class ServeInfo:
    """Where a started server listens."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url

    @property
    def ws_url(self) -> str:
        return f"ws://{url_host(self.settings.host)}:{self.settings.ws_port}/ws/"

    @property
    def http_url(self) -> str:
        return f"http://{url_host(self.settings.host)}:{self.settings.http_port}"


def url_host(host: str) -> str:
    """*host* as a URL's host that a client can connect to: a wildcard bind (``0.0.0.0``,
    ``::``) is reached on loopback from this machine; an IPv6 address goes in brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def bind_reuseport(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A listening TCP socket on *host*:*port* that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _new_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


async def run_worker(
    settings: Settings,
    redis_url: str,
    stop: asyncio.Event,
    *,
    ready: Callable[[], None] | None = None,
    background: bool = True,
) -> None:
    """One worker: gateway + HTTP API (+ the background loops unless *background* is False)
    until *stop* is set."""
    import uvicorn

    from engine.gateway.server import Gateway
    from engine.http.app import create_app
    from engine.runtime.redisconn import connect

    # A blocking pool on one Redis: a storm of joins waits for a free connection instead of
    # failing with MaxConnectionsError (which members would see as "unavailable"). A cluster
    # client opens connections to each node as they are needed.
    client = connect(redis_url, pool_size=max(64, settings.redis_pool_size * 4), blocking=True)
    ws_sock = bind_reuseport(settings.host, settings.ws_port)
    http_sock = bind_reuseport(settings.host, settings.http_port)
    gateway = Gateway(settings, client)
    config = uvicorn.Config(
        create_app(settings, client), lifespan="off", log_level="warning", access_log=False
    )
    http = uvicorn.Server(config)
    tasks: list[asyncio.Task[None]] = []
    try:
        await gateway.start(sock=ws_sock)
        config.load()
        http.lifespan = config.lifespan_class(config)
        await http.startup(sockets=[http_sock])
        if background:
            tasks.extend(_start_background(settings, client, stop))
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        await _cancel(tasks)
        if http.started:
            http.should_exit = True
            await http.shutdown(sockets=[http_sock])
        else:
            http_sock.close()
        await gateway.close()
        ws_sock.close()
        await client.aclose()


def _start_background(
    settings: Settings, client: Any, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """Start the loops of :data:`BACKGROUND_MODULES` (scheduler, conductors)."""
    tasks = []
    for name in BACKGROUND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        tasks.append(asyncio.create_task(module.run(settings, client, stop)))
    return tasks


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_conductor(settings: Settings, redis_url: str, stop: asyncio.Event) -> None:
    """The background loops alone (no sockets) until *stop* is set: ``--workers N``'s
    conductor process (``conductor_process``)."""
    from engine.runtime.redisconn import connect

    client = connect(redis_url)
    tasks = _start_background(settings, client, stop)
    try:
        await stop.wait()
    finally:
        await _cancel(tasks)
        await client.aclose()


def _conductor_process(settings: Settings, redis_url: str) -> None:
    """Entry point of the conductor process (spawned)."""
    log_to_stderr("conductor")

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop(stop)
        await run_conductor(settings, redis_url, stop)

    with _new_loop_runner() as runner:
        runner.run(main())


def _install_stop(stop: asyncio.Event, early: _EarlyStop | None = None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if early is not None and early.requested:
        stop.set()


class _EarlyStop:
    """SIGINT/SIGTERM before the server's own handlers are in place (while the embedded
    Redis starts, the event loop is made, the workers are spawned): remembered, and honoured
    once the server can stop cleanly. Without it a SIGTERM then killed ``contest serve`` and
    left its embedded redis-server running (it has a session of its own), and a Ctrl-C
    printed a KeyboardInterrupt traceback."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set in the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, previous)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def _worker_process(
    settings: Settings, redis_url: str, index: int, background: bool = True
) -> None:
    """Entry point of a worker process (spawned: a fresh interpreter)."""
    log_to_stderr(f"w{index}")

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop(stop)
        await run_worker(settings, redis_url, stop, background=background)

    with _new_loop_runner() as runner:
        runner.run(main())


def serve(
    settings: Settings,
    *,
    on_ready: Callable[[ServeInfo], Coroutine[Any, Any, None] | None] | None = None,
    demo: bool = False,
) -> int:
    """Serve until SIGINT/SIGTERM. *on_ready* runs once everything listens (``contest demo``
    uses it to load data and print URLs); it may be a coroutine function. *demo* allows
    the development token secret anywhere (:func:`_dev_secret_problem`)."""
    from engine.runtime import redisconn

    if settings.workers < 1:
        return fail(f"workers must be at least 1, not {settings.workers}")
    if settings.ws_port == 0 or settings.http_port == 0:
        try:
            settings = msgspec.structs.replace(
                settings,
                ws_port=settings.ws_port or _free_port(settings.host),
                http_port=settings.http_port or _free_port(settings.host),
            )
        except OSError as exc:
            reason = exc.strerror or exc
            return fail(f"cannot listen on {settings.host}: {reason}")
    problem = _cannot_listen(settings) or _dev_secret_problem(settings, demo)
    if problem:
        return fail(problem)
    early = _EarlyStop()
    early.install()
    try:
        with redisconn.embedded_server(settings) as (url, server):
            info = ServeInfo(settings, url)
            if early.requested:
                return 0
            problem = _cannot_reach(url)
            if problem:
                return fail(problem)
            _check_durability(url)
            keeper = None
            if server is not None:
                keeper = RedisKeeper(server, settings, _stop_serving).start()
            try:
                if settings.workers <= 1:
                    code = _serve_here(settings, info, on_ready, early)
                else:
                    code = _serve_workers(settings, info, on_ready, early)
            finally:
                if keeper is not None:
                    keeper.stop()  # before the server is stopped on purpose
            if keeper is not None and keeper.failure is not None:
                return fail(keeper.failure)
            return code
    finally:
        early.restore()


def _stop_serving() -> None:
    """Stop ``contest serve`` as SIGTERM would (from the thread that gave up on Redis)."""
    os.kill(os.getpid(), signal.SIGTERM)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dev_secret_problem(settings: Settings, demo: bool) -> str | None:
    """Why serve must not start with the development token secret, which anyone can read
    in the source and sign join tokens with: an external Redis (a deployment: other hosts
    share it) or a non-loopback address (members of other machines), unless
    ``insecure_dev_secret`` or the demo says so. Otherwise the secret in use is only
    warned about, on stderr."""
    if settings.token_secret != DEV_TOKEN_SECRET:
        return None
    where = []
    if settings.redis_url:
        where.append("with an external Redis (--redis-url)")
    if not _is_loopback(settings.host):
        where.append(f"listening on {settings.host}")
    if where and not (demo or settings.insecure_dev_secret):
        return (
            f"refusing the development token secret {' and '.join(where)}: anyone can sign "
            f"join tokens with it. Set {ENV_PREFIX}TOKEN_SECRET to a secret of at least 32 "
            "bytes shared with the member app's backend, or pass --insecure-dev-secret "
            f"({ENV_PREFIX}INSECURE_DEV_SECRET=1) to run with it anyway"
        )
    sys.stderr.write(
        "warning: the development token secret is in use: anyone can sign join tokens for "
        f"this server. Set {ENV_PREFIX}TOKEN_SECRET (at least 32 bytes, shared with the "
        "member app's backend) before members use it.\n"
    )
    sys.stderr.flush()
    return None


def _check_durability(url: str) -> None:
    """Log what a crash of the Redis at *url* could lose (:mod:`scoring.durability`): an
    error without AOF or with an evicting memory policy. Nothing refuses to start."""
    from engine.runtime.redisconn import connect
    from scoring.durability import check_durability, log_findings
    from scoring.errors import ScoringError

    async def findings() -> list[Any]:
        client = connect(url, timeout=5)
        try:
            return await check_durability(client)
        finally:
            await client.aclose()

    try:
        found = asyncio.run(findings())
    except (ScoringError, OSError) as exc:  # e.g. a managed Redis without CONFIG
        log.warning("cannot check Redis's persistence settings: %s", exc)
        return
    log_findings(found, log)


def _cannot_listen(settings: Settings) -> str | None:
    """Why the workers could not listen on the two ports (checked before anything starts, so
    the operator gets one line instead of a traceback from every worker)."""
    if settings.ws_port == settings.http_port:
        return f"the WebSocket and HTTP ports must differ (both {settings.ws_port})"
    for what, port in (("WebSocket", settings.ws_port), ("HTTP", settings.http_port)):
        try:
            bind_reuseport(settings.host, port).close()
        except (OSError, OverflowError) as exc:  # in use, no such address, port > 65535
            reason = getattr(exc, "strerror", None) or exc
            return f"cannot listen on {settings.host}:{port} ({what}): {reason}"
    return None


def _cannot_reach(url: str) -> str | None:
    """Why Redis at *url* does not answer (each worker would otherwise die with a traceback
    at its first command, and the conductor process log a failed tick every second)."""
    import redis

    from engine.runtime.redisconn import cluster_usable, connect_sync

    try:
        client = connect_sync(url, timeout=5)
        try:
            client.ping()
            problem = cluster_usable(client)
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        return f"cannot reach Redis at {redacted(url)}: {exc}"
    if problem:
        return f"Redis at {redacted(url)} is not usable: {problem}"
    return None


def _serve_here(
    settings: Settings,
    info: ServeInfo,
    on_ready: Callable[[ServeInfo], Coroutine[Any, Any, None] | None] | None,
    early: _EarlyStop | None = None,
) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        _install_stop(stop, early)
        started = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, info.redis_url, stop, ready=started.set))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait([worker, waiter], return_when=asyncio.FIRST_COMPLETED)
        if started.is_set() and not stop.is_set():
            _announce(info)
            if on_ready is not None:
                result = on_ready(info)
                if result is not None:
                    await result
        else:
            waiter.cancel()
        await worker

    with _new_loop_runner() as runner:
        runner.run(main())
    if early is not None:
        early.install()  # the loop's handlers are gone; a signal while Redis stops is noted
    return 0


def _serve_workers(
    settings: Settings,
    info: ServeInfo,
    on_ready: Callable[[ServeInfo], Coroutine[Any, Any, None] | None] | None,
    early: _EarlyStop | None = None,
) -> int:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = Path(settings.data_dir) / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    children = Children(multiprocessing.get_context("spawn"), settings)
    separate = settings.conductor_process
    for i in range(settings.workers):
        children.add(f"gateway-{i}", _worker_process, settings, info.redis_url, i, not separate)
    if separate:
        children.add("conductor", _conductor_process, settings, info.redis_url)
    stopping = early is not None and early.requested

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        children.signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    failure: str | None = None
    in_time = True
    try:
        children.start(lambda: stopping)
        if stopping:  # a signal while a worker started: its pid may have come too late
            forward(signal.SIGTERM, None)
        ready = not stopping and _wait_listening(settings, children.processes)
        if ready and not stopping:
            _announce(info)
            if on_ready is not None:
                result = on_ready(info)
                if result is not None:
                    with _new_loop_runner() as runner:
                        runner.run(result)
        # Until a signal: restart each process that dies (the others keep serving); one
        # that dies while starting, or too often, stops them all.
        while not stopping:
            failure = children.supervise(restart=ready)
            if failure is not None:
                break
            children.wait(0.5)
    finally:
        stopping = True
        in_time = children.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure is not None:
        return fail(failure)
    return 0 if in_time else 1


def _wait_listening(settings: Settings, workers: list[Any], timeout: float = 30.0) -> bool:
    """Wait until the WebSocket and HTTP ports accept connections (some worker is up)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(p.is_alive() for p in workers):
            return False
        try:
            for port in (settings.ws_port, settings.http_port):
                with socket.create_connection((settings.host, port), timeout=0.5):
                    pass
            return True
        except OSError:
            time.sleep(0.1)
    return False


def redacted(url: str) -> str:
    """*url* without its password (``redis://:secret@host`` -> ``redis://:***@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _announce(info: ServeInfo) -> None:
    workers = info.settings.workers
    say(
        f"contest engine: {workers} worker(s); members: {info.ws_url}<contest>"
        f"?token=...; HTTP API: {info.http_url}; Redis: {redacted(info.redis_url)}"
    )


def _settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(
        workers=args.workers,
        redis_url=args.redis_url,
        host=args.host,
        ws_port=args.ws_port,
        http_port=args.http_port,
        data_dir=args.data_dir,
        insecure_dev_secret=args.insecure_dev_secret,
    )


def _serve_command(args: argparse.Namespace) -> int:
    log_to_stderr()
    return serve(_settings_from_args(args))


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options ``serve`` and ``demo`` share (each overrides its ``CONTEST_*`` variable)."""
    parser.add_argument("--workers", type=int, help="gateway processes on one port (default 1)")
    parser.add_argument(
        "--redis-url",
        help="Redis to use (redis://HOST:PORT/DB, or a Redis Cluster: "
        "redis+cluster://HOST:PORT[,HOST:PORT...]); default: an embedded redis-server",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--ws-port", type=int, help="member WebSocket port (default 8765)")
    parser.add_argument("--http-port", type=int, help="HTTP API port (default 8080)")
    parser.add_argument("--data-dir", help="folder of the embedded Redis's AOF (default ./var)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the gateway and HTTP API (N workers on one port)"
    )
    add_serve_options(parser)
    parser.add_argument(
        "--insecure-dev-secret",
        action="store_true",
        default=None,
        help="run with the development token secret even with --redis-url or a non-loopback "
        "--host (refused otherwise; set CONTEST_TOKEN_SECRET instead)",
    )
    parser.set_defaults(func=_serve_command)
