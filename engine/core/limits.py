"""Per-connection limits, as pure objects that take the time in and read no clock.

* :class:`TokenBucket`: a member's message rate; ``rate`` tokens a second, up to ``burst``.
* :class:`Limits`: every limit a member's session enforces, built from the settings.
* :class:`AddressCounts`: connections not joined yet, per client address, with a cap;
  :func:`client_address` says whose a connection is (behind a trusted proxy, the
  address it forwards in ``Forwarded`` or ``X-Forwarded-For``).

The frame size limit is enforced by the gateway's WebSocket layer (picows' ``max_frame_size``
for one frame, the gateway for a fragmented message; both close with 1009), and the
connection limit per process is counted by the gateway; both are in :class:`Limits` so one
object describes the whole policy (docs/protocol.md lists it for app teams).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

import msgspec

from engine.core.settings import Settings

__all__ = [
    "OPEN_FILES_RESERVE",
    "AddressCounts",
    "Limits",
    "Network",
    "TokenBucket",
    "client_address",
    "connections_within",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Headers(Protocol):
    """Request headers with websockets' ``get_all`` (the gateway adapts picows' to it)."""

    def get_all(self, key: str) -> list[str]: ...


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
    max_unjoined_per_address: int = 64
    """Connections from one client address that have not joined yet; 0: no cap."""

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
            max_unjoined_per_address=settings.max_unjoined_per_address,
        )


OPEN_FILES_RESERVE = 1000
"""Open files a gateway keeps for what is not a member's socket: its Redis pools (the
answer batches keep up to 64 connections of their own), the relay's, listening sockets,
logs and metric files. The default ``max_connections`` (19,000) is the 20,000-file limit
of this workplace's processes less this."""


def connections_within(limits: Limits, open_files: int) -> Limits:
    """*limits* with ``max_connections`` no higher than *open_files* (the process's
    open-file limit) allows after :data:`OPEN_FILES_RESERVE`: past it the process would
    accept sockets it has no file left for its Redis connections on (EMFILE: members
    already joined would get ``unavailable``); within it a member past the cap gets close
    4001 and retries. A limit of 0 or less means unknown: *limits* unchanged.

    >>> connections_within(Limits(max_connections=50_000), 20_000).max_connections
    19000
    >>> connections_within(Limits(max_connections=5_000), 20_000).max_connections
    5000
    """
    ceiling = max(1, open_files - OPEN_FILES_RESERVE)
    if open_files <= 0 or limits.max_connections <= ceiling:
        return limits
    return msgspec.structs.replace(limits, max_connections=ceiling)


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


class AddressCounts:
    """Connections not joined yet, per client address, at most ``cap`` each (0: no cap).

    >>> counts = AddressCounts(cap=1)
    >>> counts.full("192.0.2.1"), counts.add("192.0.2.1"), counts.full("192.0.2.1")
    (False, None, True)
    >>> counts.remove("192.0.2.1"), counts.counts
    (None, {})
    """

    __slots__ = ("cap", "counts")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}

    def full(self, address: str) -> bool:
        return self.cap > 0 and self.counts.get(address, 0) >= self.cap

    def add(self, address: str) -> None:
        self.counts[address] = self.counts.get(address, 0) + 1

    def remove(self, address: str) -> None:
        left = self.counts.get(address, 0) - 1
        if left > 0:
            self.counts[address] = left
        else:
            self.counts.pop(address, None)


def client_address(peer: str, headers: Headers, trusted: tuple[Network, ...]) -> str:
    """Whose connection this is: *peer* (the socket's address), unless *peer* is a trusted
    proxy; then the rightmost hop of ``Forwarded`` (RFC 7239), or if there is none of
    ``X-Forwarded-For``, that is not a trusted proxy itself. Hops further left were written
    by the client and prove nothing. A hop that is not an IP address (RFC 7239's
    ``_hidden``) is taken as it is; if every hop is a trusted proxy, the leftmost."""
    if not _trusted(peer, trusted):
        return peer
    hops = _forwarded(headers.get_all("Forwarded")) or _hops(headers.get_all("X-Forwarded-For"))
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _hops(values: Iterable[str]) -> list[str]:
    return [hop for value in values for part in value.split(",") if (hop := _host(part))]


def _forwarded(values: Iterable[str]) -> list[str]:
    hops = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, hop = pair.partition("=")
                if name.strip().lower() == "for" and (host := _host(hop)):
                    hops.append(host)
    return hops


def _host(hop: str) -> str:
    """The address of one hop: quotes, an IPv6 address's brackets and a port taken off."""
    hop = hop.strip().strip('"').strip()
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:  # IPv4 (or a name) with a port; a bare IPv6 has several
        return hop.partition(":")[0]
    return hop
