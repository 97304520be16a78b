"""Health, readiness and Prometheus metrics; and the middleware counting HTTP requests.

==================  =====================================================================
``GET /healthz``    200 ``{"status": "ok"}`` while the process serves requests (liveness)
``GET /readyz``     200 ``{"status": "ready", "redis_ms": 0.4}`` when Redis answers a PING
                    within :data:`READY_TIMEOUT` seconds (on a Redis Cluster: and every
                    primary answers ``CLUSTER INFO`` with ``cluster_state:ok``), else 503
                    ``unavailable``
``GET /metrics``    Prometheus text exposition of every ``contest_*`` metric
                    (:mod:`engine.runtime.metrics`) plus the process collectors
==================  =====================================================================

None of them needs an API key: put them behind the deployment's own network rules.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.http.errors import error_response
from engine.runtime import metrics
from engine.runtime.redisconn import cluster_problem

__all__ = ["READY_TIMEOUT", "HttpMetrics", "routes"]

READY_TIMEOUT = 1.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    start = time.perf_counter()
    client = request.app.state.redis
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            with metrics.redis_timer("ping"):
                await client.ping()
            problem = await cluster_problem(client)
    except Exception as exc:  # any failure to reach Redis means "not ready"
        return error_response(503, "unavailable", f"Redis does not answer: {exc!r}")
    if problem is not None:
        return error_response(503, "unavailable", f"Redis Cluster is not usable: {problem}")
    elapsed = round((time.perf_counter() - start) * 1000, 3)
    return JSONResponse({"status": "ready", "redis_ms": elapsed})


async def metrics_endpoint(request: Request) -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


class HttpMetrics:
    """ASGI middleware: counts requests by method, route template and status, and times
    them by route (:data:`engine.runtime.metrics.HTTP_REQUESTS`,
    :data:`~engine.runtime.metrics.HTTP_SECONDS`).
    The route is the path template (``/api/contests/{id}``), never the raw path, so ids do
    not become label values; unmatched paths count as ``unmatched``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.HTTP_SECONDS.labels(path).observe(time.perf_counter() - start)


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]
