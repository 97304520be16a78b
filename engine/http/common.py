"""Small helpers the endpoints share: JSON answers, the stores of a request, number ranges."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from engine.contests.store import ContestStore
from engine.core import lifecycle
from engine.core.contest import located
from engine.core.errors import BadMessage, ContestInvalid, ErrorCode
from engine.core.lifecycle import State

__all__ = [
    "INT64",
    "attachment",
    "decode_body",
    "dotted",
    "json_response",
    "out_of_range",
    "state_param",
    "store_of",
]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()

INT64 = (-(2**63), 2**63 - 1)
"""The whole numbers a body may hold: JSON decodes any size, but Redis and msgspec's encoder
take 64 bits at most (a larger one would fail when the value is stored)."""


def json_response(
    value: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """*value* (msgspec Structs, lists, dicts...) as a JSON response."""
    return Response(
        _ENCODER.encode(value), status_code=status, media_type="application/json", headers=headers
    )


def attachment(body: bytes, media_type: str, name: str) -> Response:
    """*body* as a file to download, named *name*."""
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def store_of(request: Request) -> ContestStore:
    """The contest store over the app's Redis and key prefix."""
    return ContestStore(request.app.state.redis, request.app.state.settings.key_prefix)


def state_param(request: Request) -> State | None:
    """``?state=``: a lifecycle state, or ``None`` (absent or empty); :class:`BadMessage` if it
    names no state (a typo would otherwise filter everything out)."""
    raw = request.query_params.get("state")
    if not raw:
        return None
    if raw not in lifecycle.STATES:
        raise BadMessage(f"?state= must be one of: {', '.join(lifecycle.STATES)}; not {raw!r}")
    return raw


def out_of_range(value: object) -> list[tuple[str | int, ...]]:
    """The paths (keys and list indices) of every whole number in *value* (a Struct, or
    lists and dicts of them) outside :data:`INT64`."""
    found: list[tuple[str | int, ...]] = []

    def walk(item: object, path: tuple[str | int, ...]) -> None:
        if isinstance(item, bool):
            return
        if isinstance(item, int):
            if not INT64[0] <= item <= INT64[1]:
                found.append(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                walk(child, (*path, str(key)))
        elif isinstance(item, list | tuple):
            for index, child in enumerate(item):
                walk(child, (*path, index))

    walk(msgspec.to_builtins(value), ())
    return found


def dotted(path: tuple[str | int, ...]) -> str:
    """A path as the API names fields: ``draw.quotas[0].count``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


async def decode_body(
    request: Request, kind: type[T], *, invalid: type[ContestInvalid], max_bytes: int
) -> T:
    """The request's JSON body as *kind*: :class:`BadMessage` (``too_large``) past
    *max_bytes* (never held in memory), or not JSON; *invalid* (a
    :class:`ContestInvalid`) locating the field that does not fit, or a number outside
    :data:`INT64`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # never hold more than the limit
        size += len(chunk)
        if size > max_bytes:
            raise BadMessage(
                f"the request body is larger than {max_bytes} bytes", code=ErrorCode.TOO_LARGE
            )
        chunks.append(chunk)
    try:
        value = msgspec.json.decode(b"".join(chunks), type=kind)
    except msgspec.ValidationError as exc:
        raise invalid([located(exc)]) from exc
    except msgspec.DecodeError as exc:
        raise BadMessage(f"the request body is not valid JSON: {exc}") from exc
    too_big = out_of_range(value)
    if too_big:
        message = f"must be a whole number from {INT64[0]} to {INT64[1]}"
        raise invalid([{"field": dotted(path), "message": message} for path in too_big])
    return value
