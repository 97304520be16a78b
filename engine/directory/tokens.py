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
    try:
        raw = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenForged() from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenMalformed(f"the join token must be signed with {ALGORITHM}") from exc
    except jwt.PyJWTError as exc:
        raise TokenMalformed(f"the join token is not a valid JWT: {exc}") from exc
    try:
        claims = msgspec.convert(raw, _Claims)
    except msgspec.ValidationError as exc:
        raise TokenMalformed(f"the join token's claims are wrong: {exc}") from exc
    except UnicodeEncodeError as exc:  # msgspec, on a mistyped claim with a lone surrogate
        raise TokenMalformed("the join token's claims are not valid Unicode text") from exc
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
