"""The engine's one typed settings object.

Every field has a default and a docstring, and is read from the environment with the
prefix ``CONTEST_`` (``CONTEST_REDIS_URL``, ``CONTEST_WS_PORT``, ...). Command-line options
of ``contest serve`` override the environment. docs/operations.md lists every setting.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["DEV_TOKEN_SECRET", "ENV_PREFIX", "Settings", "trusted_networks"]

ENV_PREFIX = "CONTEST_"

DEV_TOKEN_SECRET = "dev-secret-change-me-32-bytes-or-more"
"""The default ``token_secret``: public (it is in this file), so anyone can sign join tokens
with it. ``contest serve`` warns when it is in use and refuses it outside a local setup
(see :attr:`Settings.insecure_dev_secret`)."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    redis_url: str | None = None
    """Redis to use (``redis://host:port/db``), or a Redis Cluster
    (``redis+cluster://host:port[,host:port...]``, :mod:`engine.runtime.redisconn`). ``None``:
    start an embedded redis-server with AOF in ``data_dir`` and stop it on exit."""
    data_dir: str = "./var"
    """Folder for the embedded redis-server's AOF and logs."""
    key_prefix: str = "ce"
    """Prefix of every Redis key the engine writes, so several engines can share one Redis."""
    host: str = "127.0.0.1"
    """Address the WebSocket gateway and the HTTP API listen on."""
    ws_port: int = 8765
    """Port of the member WebSocket gateway."""
    http_port: int = 8080
    """Port of the organiser and public HTTP API."""
    workers: int = 1
    """Gateway processes sharing ``ws_port`` with SO_REUSEPORT."""
    token_secret: str = DEV_TOKEN_SECRET
    """HS256 secret shared with the member app's backend, which signs join tokens; at least
    32 bytes (RFC 7518 section 3.2), else ``engine.directory.tokens`` raises ``ConfigError``."""
    insecure_dev_secret: bool = False
    """Let ``contest serve`` run with the development ``token_secret`` although it uses an
    external Redis (``redis_url``) or listens on a non-loopback ``host``; without it, it
    refuses to start there (it only warns on a local setup, and ``contest demo`` always
    runs)."""
    max_frame_bytes: int = 4096
    """Largest WebSocket frame a member may send; larger closes the connection (1009)."""
    max_messages_per_second: float = 20.0
    """Per-connection message rate (token bucket, burst of twice this); excess is refused."""
    idle_timeout: float = 120.0
    """Seconds without any frame from a member before the gateway closes the connection."""
    ping_interval: float = 20.0
    """Seconds without a frame either way (a broadcast to the member's contest counts)
    after which the gateway sends a connection a WebSocket ping (one timer for all
    connections, at most ``engine.gateway.server.pings_per_sweep`` a tick); 0: none. Dead
    connections are closed by ``idle_timeout``."""
    max_write_buffer: int = 262_144
    """Bytes a gateway may hold unsent for one connection, beyond what the kernel buffers.
    A member whose app stopped reading (a dead network, or a client that sends but never
    reads) passes it; the next sweep drops that connection without a close handshake (the
    member sees 1006, reconnects and gets its state back). 0: no limit."""
    max_connections: int = 19_000
    """Connections one gateway process accepts; past it new members are refused (close 4001).
    Keep below the process's open-file limit."""
    max_unjoined_per_address: int = 64
    """Connections from one client address that have not joined yet; past it a new one
    from that address is refused at the handshake with HTTP 429. Joined members do not
    count. 0: no cap."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (``10.0.0.0/8,::1``) of reverse proxies in
    front of the gateway. A connection from one of them counts against the address it
    forwards (``Forwarded``, else ``X-Forwarded-For``) for ``max_unjoined_per_address``;
    empty: those headers are ignored."""
    answer_batch_ms: float = 2.0
    """How long the gateway gathers answers before sending them to Redis as one pipeline."""
    redis_pool_size: int = 16
    """Redis connections one gateway process holds for the scoring path."""
    conductor_lease_ms: int = 3000
    """Time-to-live of the live-show conductor's lease; another process takes over after it."""
    conductor_process: bool = True
    """With ``workers`` > 1: run the scheduler and the live-show conductors in one more
    process that holds no sockets, so a show's timing and its lease renewals never wait
    behind thousands of members' frames. False: every gateway worker runs them (as a single
    worker always does), under the same leases."""
    restart_limit: int = 5
    """``contest serve`` restarts a worker process, its conductor process or its embedded
    redis-server when it dies, at most this many times in ``restart_window`` seconds each
    (waiting 0.5 s, then 1 s, 2 s, ... up to 30 s between restarts); one more death in that
    window stops serve with exit code 1. 0: any death stops serve."""
    restart_window: float = 60.0
    """Seconds over which ``restart_limit`` counts a process's deaths."""
    api_keys: str = ""
    """Organiser API keys to install at start, as ``org:key,org:key`` (development and tests;
    production creates keys with ``contest key create``)."""

    def __post_init__(self) -> None:
        trusted_networks(self.trusted_proxies)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``CONTEST_*`` variables, then *overrides* (``None`` values ignored)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return msgspec.convert(values, cls, strict=False)


def trusted_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a ``trusted_proxies`` setting; ``ValueError`` naming the bad entry."""
    networks = []
    for entry in text.split(","):
        if entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                name = f"trusted_proxies ({ENV_PREFIX}TRUSTED_PROXIES)"
                problem = f"{entry.strip()!r} is not an IP address or network"
                raise ValueError(f"{name}: {problem}") from None
    return tuple(networks)
