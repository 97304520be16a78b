"""The calling organisation: ``/api/org``.

===================  ===============================================================
``GET   /api/org``   the organisation of the API key: id, name, kind, province, zone
``PATCH /api/org``   change its name or time zone (``OrgChange``; absent: unchanged)
===================  ===============================================================

The time zone is an IANA zone (default ``Asia/Ho_Chi_Minh``): the console shows and reads
every time in it, and a new campaign takes it unless its definition names another. A zone
that is not an IANA zone answers ``422 org_invalid`` and changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.core.errors import OrgInvalid
from engine.directory.orgs import OrgChange, OrgStore
from engine.http.auth import require_org
from engine.http.common import decode_body, json_response

__all__ = ["MAX_BODY_BYTES", "routes"]

MAX_BODY_BYTES = 4 * 1024


def _store(request: Request) -> OrgStore:
    return OrgStore(request.app.state.redis, request.app.state.settings.key_prefix)


async def show(request: Request) -> Response:
    org = await require_org(request)
    return json_response(await _store(request).get(org))


async def change(request: Request) -> Response:
    org = await require_org(request)
    wanted = await decode_body(request, OrgChange, invalid=OrgInvalid, max_bytes=MAX_BODY_BYTES)
    return json_response(await _store(request).change(org, wanted))


routes: list[BaseRoute] = [
    Route("/api/org", show, methods=["GET"]),
    Route("/api/org", change, methods=["PATCH"]),
]
