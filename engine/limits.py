"""Per-connection limits, as pure objects that take the time in and read no clock.

* :class:`TokenBucket`: a member's message rate; ``rate`` tokens a second, up to ``burst``.
* :class:`Limits`: every limit a member's session enforces, built from the settings.

The frame size limit is websockets' own ``max_size`` (it closes with 1009), and the
connection limit per process is counted by the gateway; both are in :class:`Limits` so one
object describes the whole policy (docs/protocol.md lists it for app teams).
"""

from __future__ import annotations

import msgspec

from .settings import Settings

__all__ = ["Limits", "TokenBucket"]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """What one member's connection may do. Times in milliseconds."""

    max_frame_bytes: int = 4096
    messages_per_second: float = 20.0
    burst: float = 40.0
    """Messages a client may send at once after a quiet spell."""
    flood_strikes: int = 40
    """Messages refused for rate in a row before the connection is closed (4003)."""
    bad_frame_strikes: int = 10
    """Malformed or unknown frames in a row before the connection is closed (4004)."""
    idle_ms: int = 120_000
    """No frame from the client for this long closes the connection (4002)."""
    join_ms: int = 10_000
    """A connection that has not joined within this long is closed (4004)."""
    ping_interval_ms: int = 20_000
    max_connections: int = 19_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        rate = settings.max_messages_per_second
        return cls(
            max_frame_bytes=settings.max_frame_bytes,
            messages_per_second=rate,
            burst=max(1.0, 2 * rate),
            flood_strikes=max(1, int(2 * rate)),
            idle_ms=int(settings.idle_timeout * 1000),
            ping_interval_ms=int(settings.ping_interval * 1000),
            max_connections=settings.max_connections,
        )


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked; each message takes one.

    >>> bucket = TokenBucket(rate=1.0, burst=2.0, now=0)
    >>> [bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(1000)]
    [True, True, False, True]
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, *, rate: float, burst: float, now: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: int) -> bool:
        """Take one token at *now* (ms); ``False`` if the bucket is empty."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate / 1000.0)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
