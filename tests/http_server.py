"""Serve an ASGI app with uvicorn on a real free loopback port, inside the test's event loop.

Usage, in an async test or fixture::

    from tests.http_server import serve_app

    async with serve_app(app) as base_url:          # "http://127.0.0.1:PORT"
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.get("/api/banks")

The server runs as a task on the running loop, so the app may use asyncio clients
(``redis.asyncio``) created by the test on the same loop. The socket is bound before the
server starts (port 0), so there is no race for the port; on exit the server shuts down
gracefully and the socket is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio
import uvicorn

from tests.utils import timeout

__all__ = ["Api", "serve_api", "serve_app"]


@asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve *app* on a free port of *host*; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws="none", lifespan="auto", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    # The test process owns signal handling: do not let uvicorn install its own.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(timeout(10)):
            while not server.started:
                if task.done():
                    task.result()  # raises the server's start-up error
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(timeout(10)):
                await task
        finally:
            sock.close()


class Api:
    """Two organisations' clients (``a``: central, ``b``: a province) and an anonymous one,
    on one served app."""

    def __init__(self, base: str, key_a: str, key_b: str, redis_client: redis.asyncio.Redis):
        def client(headers: dict[str, str]) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout(10))

        self.a = client({"Authorization": f"Bearer {key_a}"})
        self.b = client({"Authorization": f"Bearer {key_b}"})
        self.anon = client({})
        self.redis = redis_client

    async def aclose(self) -> None:
        for client in (self.a, self.b, self.anon):
            await client.aclose()


@asynccontextmanager
async def serve_api(
    redis_client: redis.asyncio.Redis, key_prefix: str, routes: tuple[Any, ...] = ()
) -> AsyncIterator[Api]:
    """The engine's HTTP app (plus *routes*) served with organisations ``central`` and
    ``hanoi-org`` (province ``hanoi``), each with an API key: an :class:`Api` on it."""
    from engine.core.settings import Settings
    from engine.http.app import create_app
    from tests.contest_helpers import setup_org

    key_a = await setup_org(redis_client, key_prefix, "central")
    key_b = await setup_org(redis_client, key_prefix, "hanoi-org", province="hanoi")
    app = create_app(Settings(key_prefix=key_prefix), redis_client)
    app.router.routes.extend(routes)
    async with serve_app(app) as base:
        api = Api(base, key_a, key_b, redis_client)
        try:
            yield api
        finally:
            await api.aclose()
