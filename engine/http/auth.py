"""Organiser authentication: bearer API keys, each scoped to one organisation.

Organiser endpoints call :func:`require_org` first::

    async def endpoint(request: Request) -> Response:
        org = await require_org(request)      # OrgId, or raises Unauthorized (401)

The request must carry ``Authorization: Bearer <key>`` with a key created by
``contest key create ORG`` (or installed from ``Settings.api_keys``). A missing, malformed,
unknown or revoked key raises :class:`engine.core.errors.Unauthorized`, which the app's error
handlers turn into a 401 JSON error with a ``WWW-Authenticate: Bearer`` header.

Keys listed in ``Settings.api_keys`` (``org:key,...``) are installed in Redis on the first
organiser request the app serves (:meth:`engine.directory.orgs.OrgStore.bootstrap`), so they work
however the app is started. Keys are looked up in Redis (``app.state.redis``, prefix
``app.state.settings.key_prefix``) on every request, so a revoked key stops working at once
on every process. If Redis lost its data (FLUSHALL, or restarted without its AOF), a key
from ``Settings.api_keys`` that is not found while its organisation is gone too is
installed again with the others; one revoked by hand (its organisation still there) stays
revoked.
"""

from __future__ import annotations

from starlette.requests import Request

from engine.core.errors import Unauthorized
from engine.directory.orgs import OrgStore, parse_api_keys
from question_bank.ids import OrgId

__all__ = ["bearer_key", "require_org"]


def bearer_key(request: Request) -> str:
    """The API key of an ``Authorization: Bearer <key>`` header; :class:`Unauthorized` if none."""
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <api key>'")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    return key.strip()


async def require_org(request: Request) -> OrgId:
    """The organisation whose API key authorised *request*; :class:`Unauthorized` otherwise."""
    key = bearer_key(request)
    state = request.app.state
    store = OrgStore(state.redis, state.settings.key_prefix)
    if state.settings.api_keys and not getattr(state, "api_keys_installed", False):
        # Keys from settings are installed once per app, on the first organiser request,
        # however the app is served (idempotent, so concurrent first requests are fine).
        await store.bootstrap(state.settings.api_keys)
        state.api_keys_installed = True
    org = await store.org_for_key(key)
    if org is None and state.settings.api_keys:
        owner = dict((k, o) for o, k in parse_api_keys(state.settings.api_keys)).get(key)
        if owner is not None and not await store.exists(owner):
            # Redis lost its data since they were installed: install them again.
            await store.bootstrap(state.settings.api_keys)
            org = await store.org_for_key(key)
    if org is None:
        raise Unauthorized("unknown or revoked API key")
    return org
