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

import uvicorn

from tests.utils import timeout

__all__ = ["serve_app"]


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
