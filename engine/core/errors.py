"""The engine's exceptions, error codes and WebSocket close codes.

One hierarchy for the whole engine. :class:`PeerError` and its subclasses mean *the other
side sent something we refuse* (a member's frame or token, an organiser's request): they
carry a documented :class:`ErrorCode` and become an ``engine.core.messages.Error`` frame, a
close code or an HTTP error. :class:`UsageError` means *our own code misused a state
machine* (a bug, or a race another process won); :class:`BackendError` means Redis failed.

::

    EngineError
    ├── PeerError                 the peer sent bad input; .code, .status, .close
    │   ├── BadMessage            malformed frame, unknown type, wrong fields, too large
    │   ├── RateLimited           too many messages per second
    │   ├── TokenError            join token refused
    │   │   ├── TokenMalformed    not a JWT, or claims missing / of the wrong type
    │   │   ├── TokenForged       signature does not verify with our secret
    │   │   ├── TokenExpired      past its ``exp``
    │   │   ├── TokenNotYetValid  its ``nbf`` or ``iat`` is in the future (past the leeway)
    │   │   └── TokenWrongContest signed for another contest
    │   ├── NotEligible           the member's province / unit may not take this contest
    │   ├── AnswerRefused         an answer the scoring core refused (.code = the reason)
    │   ├── AttemptTooSoon        a window start before the round's minimum delay (.retry_after_ms)
    │   ├── Unauthorized          no or unknown organiser API key
    │   ├── Forbidden             the organiser does not own that contest / bank
    │   ├── ContestNotFound       no such contest
    │   ├── ContestInvalid        the contest definition has problems (.problems)
    │   ├── ContestConflict       the action is not allowed in the contest's state
    │   ├── CampaignNotFound      no such campaign
    │   ├── CampaignInvalid       the campaign or its schedule has problems (.problems)
    │   ├── CampaignExists        a campaign with that id already exists
    │   ├── ContestExists         a contest with that id already exists (ids are never reused)
    │   ├── BankExists            POST of a bank id the organisation already has (use PUT)
    │   ├── OrgNotFound           no such organisation (engine.directory.orgs)
    │   ├── OrgExists             an organisation with that id already exists
    │   ├── OrgInvalid            an organisation's settings have problems (a bad time zone)
    │   └── UnitsInvalid          a units file has problems (.problems, one per line)
    ├── UsageError                our code misused a state machine
    │   ├── IllegalTransition     TRANSITIONS[state] has no entry for the event
    │   └── LeaseLost             another process took a lease this one held (engine.runtime.lease)
    ├── BackendError              Redis failed or timed out (mapped at the boundary)
    └── ConfigError               settings that cannot work (for example a short secret)

Error codes are a closed, documented set (:data:`ERROR_DESCRIPTIONS`): clients and
dashboards switch on them. WebSocket close codes come in two ranges with a meaning
(centrifuge's ``disconnect.go`` does the same): **4000–4499: you may reconnect**
(after a back-off), **4500–4999: do not reconnect** (contest over, token for another
contest, not eligible). :func:`may_reconnect` tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any

__all__ = [
    "CLOSE_DESCRIPTIONS",
    "ERROR_DESCRIPTIONS",
    "AnswerRefused",
    "AttemptTooSoon",
    "BackendError",
    "BadMessage",
    "BankExists",
    "CampaignExists",
    "CampaignInvalid",
    "CampaignNotFound",
    "CloseCode",
    "ConfigError",
    "ContestConflict",
    "ContestExists",
    "ContestInvalid",
    "ContestNotFound",
    "EngineError",
    "ErrorCode",
    "Forbidden",
    "IllegalTransition",
    "LeaseLost",
    "NotEligible",
    "OrgExists",
    "OrgInvalid",
    "OrgNotFound",
    "PeerError",
    "RateLimited",
    "TokenError",
    "TokenExpired",
    "TokenForged",
    "TokenMalformed",
    "TokenNotYetValid",
    "TokenWrongContest",
    "Unauthorized",
    "UnitsInvalid",
    "UsageError",
    "may_reconnect",
]


class ErrorCode(StrEnum):
    """Every error code the engine sends, in a WebSocket ``error`` frame or an HTTP body."""

    # Frames and sessions (WebSocket).
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    # Join tokens.
    TOKEN_MALFORMED = "token_malformed"
    TOKEN_FORGED = "token_forged"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_WRONG_CONTEST = "token_wrong_contest"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    NOT_ELIGIBLE = "not_eligible"
    # Answers: the same strings as the scoring core's refusal reasons.
    NOT_OPEN = "not_open"
    CLOSED = "closed"
    LATE = "late"
    DUPLICATE = "duplicate"
    ELIMINATED = "eliminated"
    NOT_IN_ATTEMPT = "not_in_attempt"
    ATTEMPT_CLOSED = "attempt_closed"
    NO_ATTEMPT = "no_attempt"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    ATTEMPT_TOO_SOON = "attempt_too_soon"
    BAD_ANSWER = "bad_answer"
    CONTEST_NOT_OPEN = "contest_not_open"
    # Contests and the HTTP API.
    CONTEST_NOT_FOUND = "contest_not_found"
    CONTEST_INVALID = "contest_invalid"
    ILLEGAL_TRANSITION = "illegal_transition"
    CONTEST_EXISTS = "contest_exists"
    NOT_FINALIZED = "not_finalized"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    # Campaigns (engine.campaigns).
    CAMPAIGN_NOT_FOUND = "campaign_not_found"
    CAMPAIGN_INVALID = "campaign_invalid"
    CAMPAIGN_EXISTS = "campaign_exists"
    # Banks, organisations and units (engine.directory: banks, orgs, units).
    BANK_EXISTS = "bank_exists"
    ORG_NOT_FOUND = "org_not_found"
    ORG_EXISTS = "org_exists"
    ORG_INVALID = "org_invalid"
    UNITS_INVALID = "units_invalid"
    # Our side.
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


ERROR_DESCRIPTIONS: Mapping[ErrorCode, str] = {
    ErrorCode.BAD_MESSAGE: "The frame is not valid JSON or does not match the message's schema.",
    ErrorCode.UNKNOWN_TYPE: "The frame's `type` names no client message.",
    ErrorCode.TOO_LARGE: "The frame is larger than the gateway accepts (`max_frame_bytes`).",
    ErrorCode.RATE_LIMITED: "Too many messages per second; this one was dropped.",
    ErrorCode.NOT_JOINED: "A message other than `join` arrived before the member joined.",
    ErrorCode.ALREADY_JOINED: "A second `join` on a connection that has already joined.",
    ErrorCode.TOKEN_MALFORMED: "The join token is not a JWT, or a claim is missing or mistyped.",
    ErrorCode.TOKEN_FORGED: "The join token's signature does not verify with the shared secret.",
    ErrorCode.TOKEN_EXPIRED: "The join token is past its expiry; fetch a new one and rejoin.",
    ErrorCode.TOKEN_WRONG_CONTEST: "The join token was issued for another contest.",
    ErrorCode.TOKEN_NOT_YET_VALID: (
        "The join token's `nbf` or `iat` is more than 30 s in the future: the clock of the "
        "backend that signed it is ahead."
    ),
    ErrorCode.NOT_ELIGIBLE: "The contest is limited to provinces or units the member is not in.",
    ErrorCode.NOT_OPEN: "The question is unknown or not released yet.",
    ErrorCode.CLOSED: "The question is closed.",
    ErrorCode.LATE: "The answer arrived after the question's or attempt's deadline.",
    ErrorCode.DUPLICATE: "The member already answered this question; the first answer counts.",
    ErrorCode.ELIMINATED: "The member was eliminated from this live show and may only watch.",
    ErrorCode.NOT_IN_ATTEMPT: "The question is not part of the member's attempt.",
    ErrorCode.ATTEMPT_CLOSED: "The attempt was already submitted or expired.",
    ErrorCode.NO_ATTEMPT: "The member has no attempt in progress.",
    ErrorCode.ATTEMPTS_EXHAUSTED: "The member has used every attempt the round allows.",
    ErrorCode.ATTEMPT_TOO_SOON: (
        "The round's minimum delay since the member's previous attempt ended has not passed;"
        " `retry_after_ms` says how long to wait."
    ),
    ErrorCode.BAD_ANSWER: "The answer does not fit the question's kind (an unknown option...).",
    ErrorCode.CONTEST_NOT_OPEN: "The contest does not accept this now (not open or running).",
    ErrorCode.CONTEST_NOT_FOUND: "No such contest.",
    ErrorCode.CONTEST_INVALID: "The contest definition has problems; `problems` lists them.",
    ErrorCode.ILLEGAL_TRANSITION: "The contest's state does not allow that action.",
    ErrorCode.CONTEST_EXISTS: "A contest with that id exists (or existed: ids are never reused).",
    ErrorCode.NOT_FINALIZED: "The contest has no final standings yet: finalize it first.",
    ErrorCode.UNAUTHORIZED: "No organiser API key, or an unknown one.",
    ErrorCode.FORBIDDEN: "The contest or bank belongs to another organisation.",
    ErrorCode.CSRF_FAILED: (
        "A request authorised by the console's session cookie lacks its CSRF token."
    ),
    ErrorCode.CAMPAIGN_NOT_FOUND: "No such campaign.",
    ErrorCode.CAMPAIGN_INVALID: "The campaign or its schedule has problems; `problems` lists them.",
    ErrorCode.CAMPAIGN_EXISTS: "A campaign with that id exists (ids are never reused).",
    ErrorCode.BANK_EXISTS: "The organisation already has a bank with that id; PUT replaces it.",
    ErrorCode.ORG_NOT_FOUND: "No such organisation.",
    ErrorCode.ORG_EXISTS: "An organisation with that id already exists.",
    ErrorCode.ORG_INVALID: (
        "The organisation's settings have problems (a time zone that is not an IANA zone);"
        " `problems` lists them."
    ),
    ErrorCode.UNITS_INVALID: "The units file has problems; `problems` lists them by line.",
    ErrorCode.UNAVAILABLE: "The engine cannot reach its Redis; try again shortly.",
    ErrorCode.INTERNAL: "An unexpected error on the engine's side.",
}


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses besides the standard ones (1000, 1001, 1009...).

    4000–4499: the client may reconnect (after a back-off). 4500–4999: it must not.
    """

    SERVER_RESTART = 4000
    SERVER_FULL = 4001
    IDLE_TIMEOUT = 4002
    FLOOD = 4003
    BAD_PROTOCOL = 4004
    UNAVAILABLE = 4005
    ADDRESS_FULL = 4006
    TOKEN_EXPIRED = 4008
    CONTEST_OVER = 4500
    TOKEN_INVALID = 4501
    TOKEN_WRONG_CONTEST = 4502
    NOT_ELIGIBLE = 4503
    CONTEST_NOT_FOUND = 4504
    REPLACED = 4505


CLOSE_DESCRIPTIONS: Mapping[CloseCode, str] = {
    CloseCode.SERVER_RESTART: "The gateway is shutting down; reconnect (to any gateway).",
    CloseCode.SERVER_FULL: "This gateway process holds its maximum of connections; retry.",
    CloseCode.IDLE_TIMEOUT: "No frame from the client for `idle_timeout` seconds.",
    CloseCode.FLOOD: "The client kept sending past its rate limit; back off, then reconnect.",
    CloseCode.BAD_PROTOCOL: "Too many malformed frames, or no `join` in time.",
    CloseCode.UNAVAILABLE: (
        "A join arrived while the gateway cannot reach its Redis (after `error` "
        "`unavailable`); reconnect after a back-off. A member already joined is not closed "
        "when Redis goes away: each request gets `error` `unavailable` until it is back."
    ),
    CloseCode.ADDRESS_FULL: (
        "Too many connections from this address have not joined yet "
        "(`max_unjoined_per_address`); join or close them, then retry after a back-off. "
        "Usually refused earlier, with HTTP 429 at the handshake."
    ),
    CloseCode.TOKEN_EXPIRED: "The join token expired; fetch a new one, then reconnect.",
    CloseCode.CONTEST_OVER: (
        "Reserved, not sent today: a member joining a closed or finalized contest gets "
        "`welcome` and `closed` (their final standing) and may stay to read leaderboards."
    ),
    CloseCode.TOKEN_INVALID: (
        "The join token is malformed or forged, or not valid yet (`token_not_yet_valid`); "
        "do not retry with it."
    ),
    CloseCode.TOKEN_WRONG_CONTEST: "The join token names another contest.",
    CloseCode.NOT_ELIGIBLE: "The member is not eligible for this contest.",
    CloseCode.CONTEST_NOT_FOUND: (
        "No such contest (or it was deleted or cancelled, or it is a draft the organiser has "
        "not scheduled yet, or it vanished from the engine's Redis, which closes its joined "
        "members within about 5 s)."
    ),
    CloseCode.REPLACED: "The member joined again on another connection, which replaces this.",
}


def may_reconnect(code: int) -> bool:
    """Whether a client closed with *code* should reconnect: 4000–4499 and 1001/1006/1011-1014.

    Standard codes other than "going away" and abnormal or server-side failures mean the
    client did something wrong or was asked to leave: it should not reconnect blindly.
    """
    if 4000 <= code <= 4499:
        return True
    if 4500 <= code <= 4999:
        return False
    return code in (1001, 1006, 1011, 1012, 1013, 1014)


class EngineError(Exception):
    """Base class of every error the engine raises."""


class PeerError(EngineError):
    """The peer (a member's client or an organiser) sent something we refuse.

    ``code`` is the documented error code; ``status`` the HTTP status an API answers with;
    ``close`` the WebSocket close code when the gateway must end the connection, else
    ``None`` (the gateway answers with an error frame and keeps the connection).
    """

    code: ErrorCode = ErrorCode.BAD_MESSAGE
    status: int = 400
    close: CloseCode | None = None

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message or ERROR_DESCRIPTIONS[self.code])

    @property
    def message(self) -> str:
        return str(self)


class AttemptTooSoon(PeerError):
    """A window start before the round's ``min_seconds_between_attempts`` since the
    member's previous attempt ended; ``retry_after_ms`` is the wait left (Redis clock)."""

    code = ErrorCode.ATTEMPT_TOO_SOON
    status = 409

    def __init__(self, retry_after_ms: int) -> None:
        self.retry_after_ms = retry_after_ms
        seconds = -(-retry_after_ms // 1000)
        super().__init__(f"the next attempt may start in {seconds} s")


class BadMessage(PeerError):
    """A malformed frame, an unknown message type, a field of the wrong type, too large."""

    code = ErrorCode.BAD_MESSAGE


class RateLimited(PeerError):
    code = ErrorCode.RATE_LIMITED
    status = 429


class TokenError(PeerError):
    """A join token was refused; the gateway closes the connection with ``close``."""

    code = ErrorCode.TOKEN_MALFORMED
    status = 401
    close = CloseCode.TOKEN_INVALID


class TokenMalformed(TokenError):
    code = ErrorCode.TOKEN_MALFORMED
    close = CloseCode.TOKEN_INVALID


class TokenForged(TokenError):
    code = ErrorCode.TOKEN_FORGED
    close = CloseCode.TOKEN_INVALID


class TokenExpired(TokenError):
    code = ErrorCode.TOKEN_EXPIRED
    close = CloseCode.TOKEN_EXPIRED


class TokenNotYetValid(TokenError):
    code = ErrorCode.TOKEN_NOT_YET_VALID
    close = CloseCode.TOKEN_INVALID


class TokenWrongContest(TokenError):
    code = ErrorCode.TOKEN_WRONG_CONTEST
    status = 403
    close = CloseCode.TOKEN_WRONG_CONTEST


class NotEligible(PeerError):
    code = ErrorCode.NOT_ELIGIBLE
    status = 403
    close = CloseCode.NOT_ELIGIBLE


class AnswerRefused(PeerError):
    """An answer the scoring core refused; ``code`` is its reason (``late``, ``duplicate``...)."""

    code = ErrorCode.DUPLICATE
    status = 409

    def __init__(self, reason: str | ErrorCode, message: str = "") -> None:
        super().__init__(message, code=ErrorCode(reason))


class Unauthorized(PeerError):
    code = ErrorCode.UNAUTHORIZED
    status = 401


class Forbidden(PeerError):
    code = ErrorCode.FORBIDDEN
    status = 403


class ContestNotFound(PeerError):
    code = ErrorCode.CONTEST_NOT_FOUND
    status = 404
    close = CloseCode.CONTEST_NOT_FOUND


class ContestInvalid(PeerError):
    """The contest definition has problems; ``problems`` lists every one (field + message)."""

    code = ErrorCode.CONTEST_INVALID
    status = 422

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.get('field', '')}: {p['message']}" for p in problems))


class ContestConflict(PeerError):
    """The action is not allowed in the contest's current state (HTTP 409)."""

    code = ErrorCode.ILLEGAL_TRANSITION
    status = 409


class BankExists(PeerError):
    code = ErrorCode.BANK_EXISTS
    status = 409


class OrgNotFound(PeerError):
    code = ErrorCode.ORG_NOT_FOUND
    status = 404


class OrgExists(PeerError):
    code = ErrorCode.ORG_EXISTS
    status = 409


class UnitsInvalid(PeerError):
    """A units file has problems; ``problems`` lists every one as ``file:line: message``."""

    code = ErrorCode.UNITS_INVALID
    status = 422

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ContestExists(PeerError):
    code = ErrorCode.CONTEST_EXISTS
    status = 409


class UsageError(EngineError):
    """Our own code misused a state machine: a bug, or a race another process won."""


class IllegalTransition(UsageError):
    """``TRANSITIONS[state]`` has no entry for ``event``."""

    def __init__(self, state: str, event: str) -> None:
        self.state = state
        self.event = event
        super().__init__(f"cannot {event} a contest that is {state}")


class LeaseLost(UsageError):
    """A lease this process held was taken by another (it paused past the lease's ttl, or
    lost Redis for that long); the work it guarded was stopped (see ``engine.runtime.lease``)."""


class BackendError(EngineError):
    """Redis failed or timed out; raised at the boundary in place of redis-py's errors."""

    code = ErrorCode.UNAVAILABLE


class ConfigError(EngineError):
    """Settings that cannot work (a token secret shorter than 32 bytes, ...)."""


class CampaignNotFound(PeerError):
    code = ErrorCode.CAMPAIGN_NOT_FOUND
    status = 404


class CampaignInvalid(ContestInvalid):
    """The campaign or its schedule has problems; ``problems`` lists every one."""

    code = ErrorCode.CAMPAIGN_INVALID


class OrgInvalid(ContestInvalid):
    """An organisation's settings have problems (a bad time zone); ``problems`` lists each."""

    code = ErrorCode.ORG_INVALID


class CampaignExists(PeerError):
    code = ErrorCode.CAMPAIGN_EXISTS
    status = 409
