"""Join tokens: HS256 JWTs the member app's backend signs and the gateway verifies.

The engine stores no passwords: the member app already knows who the member is and hands
the engine a token signed with a secret both share (``Settings.token_secret``). Claims::

    sub   member id                      name  display name
    prov  province id                    unit  unit id
    cid   contest id the token is for    iat   issued at (seconds, optional)
    exp   expiry (seconds since the epoch, as JWT says)
    nbf   not before (seconds, optional)

:func:`verify` checks, in this order: the token is a JWT with HS256 (``TokenMalformed``),
its signature (``TokenForged``), the claims' presence and types (``TokenMalformed``), the
contest (``TokenWrongContest``), the expiry (``TokenExpired``), then that neither ``nbf``
nor ``iat`` is more than :data:`LEEWAY_SECONDS` ahead of the engine's clock
(``TokenNotYetValid``: the signing backend's clock is ahead, or the token was made to be
used later). It reads no clock of its own when given ``now_ms``, so tests and replays are
exact.

The secret must be at least 32 bytes (RFC 7518 §3.2: an HS256 key at least as long as the
hash); a shorter one raises :class:`~engine.core.errors.ConfigError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import time
from typing import Annotated, Any

import jwt
import msgspec

from engine.core.errors import (
    ConfigError,
    TokenExpired,
    TokenForged,
    TokenMalformed,
    TokenNotYetValid,
    TokenWrongContest,
)
from question_bank.ids import ContestId, MemberId, ProvinceId, UnitId

__all__ = [
    "ALGORITHM",
    "DEFAULT_TTL_SECONDS",
    "LEEWAY_SECONDS",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MIN_SECRET_BYTES",
    "Member",
    "issue",
    "verify",
]

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
DEFAULT_TTL_SECONDS = 6 * 3600
LEEWAY_SECONDS = 30
"""How far a token's ``nbf`` or ``iat`` may be ahead of the engine's clock (clock skew
between the backend that signs tokens and Redis's clock, which the gateway uses)."""


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """Who a verified token says the member is."""

    id: MemberId
    name: str
    province: ProvinceId
    unit: UnitId
    contest: ContestId
    expires_ms: int
    """Expiry of the token, milliseconds since the epoch."""


MAX_ID_CHARS = 128
"""Longest member, province, unit or contest id a token may carry."""
MAX_NAME_CHARS = 200
"""Longest display name a token may carry."""

_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]


class _Claims(msgspec.Struct, frozen=True):
    sub: _Id
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
    prov: _Id
    unit: _Id
    cid: _Id
    exp: int
    iat: int | None = None
    nbf: int | None = None
    jti: str | msgspec.UnsetType = msgspec.UNSET
    aud: Any = None
    """A token for an audience is refused, as PyJWT refuses it when none is expected."""

    def text(self) -> tuple[str, ...]:
        return (self.sub, self.name, self.prov, self.unit, self.cid)


def _unicode(text: str) -> bool:
    """Whether *text* can be stored and sent as UTF-8 (JSON may carry a lone surrogate
    such as ``"\\ud83d"``, from a name cut in the middle of an emoji)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the token secret is {len(key)} bytes; HS256 needs at least {MIN_SECRET_BYTES}"
        )
    return key


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_decode_header = msgspec.json.Decoder(dict[str, Any]).decode
_decode_claims = msgspec.json.Decoder(_Claims).decode


def _b64(segment: str) -> bytes:
    """Base64url without padding, as JWS writes it (RFC 7515 §2)."""
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenMalformed("the join token is not valid base64url") from exc


@functools.lru_cache(maxsize=64)
def _check_header(segment: str) -> None:
    """The JOSE header must be a JSON object saying HS256 and ask for no extension. Every
    token one backend signs has the same header, so a checked one is remembered."""
    try:
        header = _decode_header(_b64(segment))
    except msgspec.DecodeError as exc:  # also not an object
        raise TokenMalformed(f"the join token's header is not a JSON object: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenMalformed(f"the join token must be signed with {ALGORITHM}")
    if "crit" in header or "b64" in header:  # RFC 7515 §4.1.11, RFC 7797: no extensions
        raise TokenMalformed("the join token asks for header extensions (crit, b64)")
    if not isinstance(header.get("kid", ""), str):
        raise TokenMalformed("the join token's key id (kid) is not a string")


def _checked_claims(token: str | bytes, key: bytes) -> _Claims:
    """The claims of *token* if it is a compact JWS signed with HS256 under *key*.

    This is the check PyJWT's ``jwt.decode`` makes for HS256 (header, then signature, then
    the payload as a JSON object), written out for the one algorithm because the gateway
    makes it on every join: 9 µs against PyJWT's 60 µs (``bench/window_start.py
    --tokens``). ``tests/test_engine_tokens.py`` checks that both accept and refuse the
    same tokens."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise TokenMalformed("the join token is not ASCII") from exc
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenMalformed("the join token is not a JWT: not three segments")
    header, payload, signature = parts
    _check_header(header)
    expected = hmac.digest(key, f"{header}.{payload}".encode("ascii"), "sha256")
    if not hmac.compare_digest(expected, _b64(signature)):
        raise TokenForged()
    try:
        claims = _decode_claims(_b64(payload))
    except msgspec.ValidationError as exc:
        raise TokenMalformed(f"the join token's claims are wrong: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise TokenMalformed(f"the join token's claims are not a JSON object: {exc}") from exc
    if claims.aud:
        raise TokenMalformed("the join token is for an audience; the engine expects none")
    return claims


def issue(
    secret: str | bytes,
    *,
    contest: ContestId | str,
    member: MemberId | str,
    name: str,
    province: ProvinceId | str,
    unit: UnitId | str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now_ms: int | None = None,
) -> str:
    """A signed join token for *member* in *contest*, valid for *ttl_seconds*."""
    issued = (_now_ms() if now_ms is None else now_ms) // 1000
    payload: dict[str, Any] = {
        "sub": str(member),
        "name": name,
        "prov": str(province),
        "unit": str(unit),
        "cid": str(contest),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(payload, _key(secret), algorithm=ALGORITHM)


def verify(
    token: str | bytes,
    secret: str | bytes,
    contest: ContestId | str,
    *,
    now_ms: int | None = None,
) -> Member:
    """The member *token* names, if it is genuine, for *contest*, and not expired.

    Raises :class:`TokenMalformed`, :class:`TokenForged`, :class:`TokenWrongContest`,
    :class:`TokenExpired` or :class:`TokenNotYetValid` (all
    :class:`~engine.core.errors.TokenError`).
    """
    key = _key(secret)
    if not isinstance(token, str | bytes) or not token:
        raise TokenMalformed("the join token is empty")
    claims = _checked_claims(token, key)
    if not claims.sub or not claims.cid:
        raise TokenMalformed("the join token names no member or no contest")
    if not all(_unicode(text) for text in claims.text()):
        raise TokenMalformed("the join token's claims are not valid Unicode text")
    if claims.cid != contest:
        raise TokenWrongContest(f"the join token is for contest {claims.cid!r}, not {contest!r}")
    now = _now_ms() if now_ms is None else now_ms
    expires_ms = claims.exp * 1000
    if now >= expires_ms:
        raise TokenExpired()
    for name, seconds in (("nbf", claims.nbf), ("iat", claims.iat)):
        if seconds is not None and seconds * 1000 > now + LEEWAY_SECONDS * 1000:
            raise TokenNotYetValid(
                f"the join token's {name} is {seconds * 1000 - now} ms ahead of the server's "
                f"clock (at most {LEEWAY_SECONDS} s is allowed)"
            )
    return Member(
        id=MemberId(claims.sub),
        name=claims.name,
        province=ProvinceId(claims.prov),
        unit=UnitId(claims.unit),
        contest=ContestId(claims.cid),
        expires_ms=expires_ms,
    )
