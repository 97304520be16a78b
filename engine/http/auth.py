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

The organiser console (``/console``) signs in with the same keys: :func:`sign_in` checks a
key and keeps only its SHA-256 in the console's session (a cookie signed with a secret
derived from ``Settings.token_secret``, HttpOnly, SameSite=Strict: :func:`session_middleware`).
A request without ``Authorization`` is then authorised by that session, the hash looked up
in the key store again on **every** request, so a revoked key ends the console's session at
once. A session-authorised request with an unsafe method (POST, PUT, DELETE...) must also
carry the session's CSRF token in the ``X-CSRF-Token`` header (or a ``csrf`` form field, for
the console's own forms): else **403** ``csrf_failed``. A bearer key needs no CSRF token
(a browser never adds one by itself).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from engine.core.errors import ErrorCode, Forbidden, Unauthorized
from engine.core.settings import Settings
from engine.directory.orgs import OrgStore, hash_key, parse_api_keys
from question_bank.ids import OrgId

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "bearer_key",
    "check_csrf",
    "csrf_token",
    "org_for_key",
    "require_org",
    "session_middleware",
    "sign_in",
    "sign_out",
]

SESSION_COOKIE = "ce_console"
"""Name of the console's session cookie."""
SESSION_SECONDS = 12 * 3600
"""A console session lasts at most this long after its last change (then sign in again)."""
CSRF_HEADER = "x-csrf-token"
"""Header carrying the session's CSRF token on unsafe requests the console's scripts send."""
CSRF_FIELD = "csrf"
"""Form field carrying it on the console's own HTML forms (sign in, sign out)."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_middleware(settings: Settings) -> Middleware:
    """Starlette's signed-cookie sessions for the console: HttpOnly, SameSite=Strict, the
    signing secret derived from ``settings.token_secret`` (never the secret itself, so a
    session cookie tells nothing about the join-token secret)."""
    secret = hmac.new(
        settings.token_secret.encode(), b"contest-engine console session", hashlib.sha256
    ).hexdigest()
    return Middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_SECONDS,
        same_site="strict",
    )


def _session(request: Request) -> dict[str, Any] | None:
    """The request's session, or ``None`` when the app has no session middleware."""
    session: dict[str, Any] | None = request.scope.get("session")
    return session


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made at first use (pages put it in their forms)."""
    session = _session(request)
    if session is None:
        raise RuntimeError("the application has no session middleware")
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    """:class:`Forbidden` (``csrf_failed``) unless *sent* is the session's CSRF token."""
    session = _session(request) or {}
    expected = session.get("csrf")
    if not (isinstance(expected, str) and sent and hmac.compare_digest(sent, expected)):
        raise Forbidden(
            "a request authorised by the console's session must carry its CSRF token"
            f" (header {CSRF_HEADER!r})",
            code=ErrorCode.CSRF_FAILED,
        )


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
    """The organisation whose API key authorised *request*, by its bearer key or by the
    console's session (re-checked against the key store; unsafe methods need the CSRF
    token); :class:`Unauthorized` (or :class:`Forbidden` ``csrf_failed``) otherwise."""
    session = _session(request)
    if "authorization" not in request.headers and session and "key_hash" in session:
        org = await _org_for_hash(request, str(session["key_hash"]))
        if org is None or org != session.get("org"):
            session.clear()  # the key was revoked: the session ends now
            raise Unauthorized("the console session's API key was revoked; sign in again")
        if request.method not in _SAFE_METHODS:
            check_csrf(request, request.headers.get(CSRF_HEADER))
        return org
    org = await org_for_key(request, bearer_key(request))
    if org is None:
        raise Unauthorized("unknown or revoked API key")
    return org


async def _org_for_hash(request: Request, key_hash: str) -> OrgId | None:
    state = request.app.state
    store = OrgStore(state.redis, state.settings.key_prefix)
    raw: Any = await store.redis.hget(store.keys.api_keys, key_hash)
    return None if raw is None else OrgId(raw.decode())


async def sign_in(request: Request, key: str) -> OrgId | None:
    """Start a console session for *key*'s organisation (a fresh session: a new CSRF token,
    the language choice kept); ``None``, and the session unchanged, if the key is unknown."""
    org = await org_for_key(request, key.strip())
    session = _session(request)
    if org is None or session is None:
        return None
    lang = session.get("lang")
    session.clear()
    session.update(key_hash=hash_key(key.strip()), org=org, csrf=secrets.token_urlsafe(32))
    if lang is not None:
        session["lang"] = lang
    return org


def sign_out(request: Request) -> None:
    """End the console session (the cookie is cleared in the answer)."""
    session = _session(request)
    if session is not None:
        lang = session.get("lang")
        session.clear()
        if lang is not None:
            session["lang"] = lang


async def org_for_key(request: Request, key: str) -> OrgId | None:
    """The organisation of API key *key*, or ``None`` (unknown or revoked); installs the
    keys of ``Settings.api_keys`` on first use (see the module's docstring)."""
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
    return org
