"""HTTP error responses: every error is JSON ``{"error": {"code", "message", "problems"?}}``.

Handlers for each package's exception hierarchy are registered here, so endpoints simply
raise typed errors.
"""

from __future__ import annotations

import msgspec
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from engine.core.errors import BackendError, IllegalTransition, PeerError
from question_bank.errors import BankInvalid, BankNotFound, QuestionBankError, UnsupportedFormat
from scoring.errors import RedisUnavailable

__all__ = ["error_response", "install_error_handlers"]


def error_response(
    status: int, code: str, message: str, problems: list[dict[str, object]] | None = None
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if problems is not None:
        body["problems"] = problems
    return JSONResponse({"error": body}, status_code=status)


async def _bank_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, BankInvalid):
        return error_response(
            422,
            "bank_invalid",
            f"{len(exc.problems)} problem(s) in the bank",
            [msgspec.to_builtins(p) for p in exc.problems],
        )
    if isinstance(exc, BankNotFound):
        return error_response(404, "bank_not_found", str(exc))
    if isinstance(exc, UnsupportedFormat):
        return error_response(415, "unsupported_format", str(exc))
    return error_response(400, "bank_error", str(exc))


async def _peer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PeerError)
    problems = getattr(exc, "problems", None)
    response = error_response(
        exc.status,
        str(exc.code),
        exc.message,
        None
        if problems is None
        else [p if isinstance(p, dict) else {"message": p} for p in problems],
    )
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _engine_error(request: Request, exc: Exception) -> Response:
    """A lifecycle move the contest's state refuses (409); Redis unreachable (503)."""
    if isinstance(exc, IllegalTransition):
        return error_response(409, "illegal_transition", str(exc))
    return error_response(503, "unavailable", f"the engine cannot reach Redis: {exc}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail))
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed(request))
    return response


def _allowed(request: Request) -> list[str]:
    """Every method some route serves at the request's path (a path may have one route per
    method, so Starlette's own ``Allow`` names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match != Match.NONE:
                methods |= route.methods
    return sorted(methods)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Anything else: a bug of ours. The traceback goes to the server's log, never out."""
    return error_response(500, "internal", "an unexpected error on the engine's side")


def install_error_handlers(app: Starlette) -> None:
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(QuestionBankError, _bank_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PeerError, _peer_error)
    app.add_exception_handler(IllegalTransition, _engine_error)
    for unavailable in (
        BackendError,
        RedisUnavailable,
        RedisConnectionError,
        RedisTimeoutError,
        # A Redis Cluster failing over or with slots not served (SlotNotCoveredError,
        # RedisClusterUnreachableError are RedisClusterException, which is no RedisError).
        ClusterDownError,
        TryAgainError,
        RedisClusterException,
    ):
        app.add_exception_handler(unavailable, _engine_error)
