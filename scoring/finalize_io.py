"""The raw Redis I/O of a finalize (:mod:`scoring.finalize`) on a plain Redis client.

A finalize of millions of members moves hundreds of MB between Python and one Redis
core: the HSCAN of ``P:{C}:best``, the snapshot of it (HSET into ``P:{C}:final:tmp``) and
the ranks (ZADD into ``P:{C}:final:order:tmp``). Three helpers keep redis-py's
per-argument encoding and reply callbacks out of that path and keep both cores busy:

* :class:`Link`: commands encoded here (RESP) and written one after another on one
  pooled connection; replies read as hiredis gives them (no callback, no dict built).
* :func:`hscan_chunks`: a hash, chunk by chunk, the next HSCAN sent as soon as a chunk
  has arrived, before the caller decodes it.
* :class:`Snapshot`: the HSET commands of the snapshot, encoded during the read and
  written to Redis **while Python ranks**: from a thread, on a blocking connection of its
  own. One ``sendall`` of the whole buffer is one system call that releases the GIL, so
  Redis stores the snapshot on its core while the sort runs on the other (the sort never
  releases the GIL; a write from the event loop would wait for it). A connection this
  module cannot open blocking (TLS, or anything but host:port and unix socket) writes
  the snapshot on a pooled connection instead, after the read.

Nothing here is a public API: :class:`~scoring.finalize.Finalizer` is.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import redis.asyncio
import redis.asyncio.connection
import redis.connection

__all__ = ["Link", "Snapshot", "hscan_chunks"]

_HSET_PAIR = b"$%d\r\n%b\r\n$%d\r\n%b\r\n"
"""RESP of one ``field value`` pair of an HSET, filled with (length, field, length, value)."""


def command_head(command: bytes, key: str, items: int) -> bytes:
    """RESP of ``*N command key`` for a command of *items* arguments after the key."""
    keyb = key.encode()
    return b"*%d\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        2 + items,
        len(command),
        command,
        len(keyb),
        keyb,
    )


class Link:
    """Commands of many arguments written one after another on one pooled connection of
    a plain Redis client, encoded by the caller (RESP), while Redis runs the ones before;
    the replies are read at :meth:`finish` (or one by one with :meth:`read`). Nothing is
    awaited per command but the socket write, so a big write costs Redis its commands and
    Python its encoding, overlapped, and Redis is never blocked by one long command."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.pool: Any = client.connection_pool
        self.connection: Any = None
        self.sent = 0

    async def send(self, command: bytes, key: str, body: bytes, items: int) -> None:
        """One *command* on *key* with *items* arguments already encoded in *body*; its
        reply is read by :meth:`finish`."""
        await self.send_raw(command_head(command, key, items) + body)
        self.sent += 1

    async def send_raw(self, packed: bytes) -> None:
        """Write one command already encoded (RESP); its reply is read by :meth:`read`."""
        if self.connection is None:
            self.connection = await self.pool.get_connection()
        try:
            await self.connection.send_packed_command(packed, check_health=False)
        except BaseException:
            await self.close(broken=True)
            raise

    async def read(self) -> Any:
        """The next reply of a command written by :meth:`send_raw` (no reply callback)."""
        try:
            return await self.connection.read_response()
        except BaseException:
            await self.close(broken=True)
            raise

    async def finish(self) -> None:
        """Read the reply of every command written by :meth:`send` (an error reply raises)."""
        try:
            for _ in range(self.sent):
                await self.connection.read_response()
        except BaseException:
            await self.close(broken=True)
            raise
        await self.close()

    async def close(self, *, broken: bool = False) -> None:
        if self.connection is not None:
            if broken:  # never hand a half-read reply to the pool
                await self.connection.disconnect()
            await self.pool.release(self.connection)
            self.connection = None


async def hscan_chunks(
    client: redis.asyncio.Redis, key: str, count: int
) -> AsyncGenerator[tuple[list[bytes], list[bytes]], None]:
    """The fields and values of hash *key*, chunk by chunk (HSCAN of *count*), on one
    pooled connection: the next HSCAN is written as soon as a chunk has arrived, so Redis
    scans it while the caller decodes this one. Close it (``contextlib.aclosing``) if
    the loop may stop early: an HSCAN may then be in flight, and the connection is
    dropped rather than handed back to the pool."""
    link = Link(client)
    keyb = key.encode()
    head = b"*5\r\n$5\r\nHSCAN\r\n$%d\r\n%b\r\n" % (len(keyb), keyb)
    tail = b"$5\r\nCOUNT\r\n$%d\r\n%d\r\n" % (len(b"%d" % count), count)
    try:
        await link.send_raw(head + b"$1\r\n0\r\n" + tail)
        while True:
            cursor, flat = await link.read()
            if cursor != b"0":
                await link.send_raw(head + b"$%d\r\n%b\r\n" % (len(cursor), cursor) + tail)
            yield flat[0::2], flat[1::2]
            if cursor == b"0":
                break
    except BaseException:
        await link.close(broken=True)
        raise
    await link.close()


def _blocking_twin(client: redis.asyncio.Redis) -> Any:
    """A new blocking (synchronous) connection to the server of *client*, with its
    database and credentials (a ``redis.connection`` object, not connected yet); ``None``
    for a kind this module does not open (TLS...)."""
    pool: Any = client.connection_pool
    kind, kw = pool.connection_class, pool.connection_kwargs
    common: dict[str, Any] = {
        "db": kw.get("db", 0),
        "username": kw.get("username"),
        "password": kw.get("password"),
        "credential_provider": kw.get("credential_provider"),
        "client_name": kw.get("client_name"),
        "socket_connect_timeout": kw.get("socket_connect_timeout"),
        "socket_timeout": None,  # blocking: one sendall is one system call (timeouts below)
    }
    sync: Any = redis.connection  # untyped constructors
    if kind is redis.asyncio.connection.Connection:
        return sync.Connection(host=kw["host"], port=kw["port"], **common)
    if kind is redis.asyncio.connection.UnixDomainSocketConnection:
        return sync.UnixDomainSocketConnection(path=kw["path"], **common)
    return None


class Snapshot:
    """The HSET commands of a finalize's snapshot (``P:{C}:final:tmp``), encoded chunk by
    chunk as the read goes (:meth:`add`) and written by :meth:`start` while the caller
    ranks; :meth:`wait` reads the replies (an error reply raises)."""

    def __init__(self, client: redis.asyncio.Redis, key: str, timeout: float = 60.0) -> None:
        self.client = client
        self.key = key
        self.timeout = timeout
        """Seconds Redis may leave the thread's connection without progress."""
        self.buffer = bytearray()
        self.commands = 0
        self.pending: asyncio.Future[None] | None = None
        self.link: Link | None = None

    def add(self, fields: Sequence[bytes], values: Sequence[bytes]) -> None:
        """``HSET key field value ...`` of one chunk, appended to the buffer."""
        if not fields:
            return
        pairs = zip(map(len, fields), fields, map(len, values), values, strict=True)
        self.buffer += command_head(b"HSET", self.key, 2 * len(fields))
        self.buffer += b"".join(map(_HSET_PAIR.__mod__, pairs))
        self.commands += 1

    async def start(self) -> None:
        """Start writing: from a thread on a blocking connection of its own when one can
        be opened (Redis then works while the event loop's thread sorts), else now, on a
        pooled connection."""
        if not self.commands:
            return
        twin = _blocking_twin(self.client)
        if twin is not None:
            loop = asyncio.get_running_loop()
            self.pending = loop.run_in_executor(None, self._write_blocking, twin)
            return
        self.link = Link(self.client)
        await self.link.send_raw(bytes(self.buffer))
        self.link.sent = self.commands
        self.buffer = bytearray()

    def _write_blocking(self, twin: Any) -> None:
        try:
            twin.connect()
            sock: socket.socket = twin._sock
            # a blocking socket that gives up after `timeout` s without progress
            span = struct.pack("ll", int(self.timeout), int(self.timeout % 1 * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, span)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, span)
            with memoryview(self.buffer) as view:
                sock.sendall(view)
            for _ in range(self.commands):
                twin.read_response()
        finally:
            twin.disconnect()

    async def wait(self) -> None:
        """Wait until every HSET has been stored (or raise its error)."""
        try:
            if self.pending is not None:
                await self.pending
            elif self.link is not None:
                await self.link.finish()
        finally:
            self.pending = None
            self.buffer = bytearray()
            if self.link is not None:
                await self.link.close(broken=True)
                self.link = None
