"""Small helpers the contest endpoints share: JSON answers and the stores of a request."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..contest_store import ContestStore

__all__ = ["json_response", "store_of"]

_ENCODER = msgspec.json.Encoder()


def json_response(
    value: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """*value* (msgspec Structs, lists, dicts...) as a JSON response."""
    return Response(
        _ENCODER.encode(value), status_code=status, media_type="application/json", headers=headers
    )


def store_of(request: Request) -> ContestStore:
    """The contest store over the app's Redis and key prefix."""
    return ContestStore(request.app.state.redis, request.app.state.settings.key_prefix)
