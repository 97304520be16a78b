"""The Lua scripts of the scoring core: loading, calling by SHA, and batches of calls.

Every script is one file ``scoring/lua/<name>.lua`` whose header names each ``KEYS[i]``
and ``ARGV[i]``. A script whose header has the line ``-- uses: _lib`` gets the shared
prelude ``scoring/lua/_lib.lua`` (board updates, points, participation, audit) prepended;
the SHA is that of the combined text.

:class:`Scripts` binds the scripts to one client (``redis.asyncio.Redis`` or
``RedisCluster``): :meth:`Scripts.call` runs one script with redis-py's ``register_script``
(EVALSHA, SCRIPT LOAD and retry on NOSCRIPT); :meth:`Scripts.run_batch` runs many calls as
one non-transactional pipeline of EVALSHA, loading any script Redis reports missing and
re-running only those calls (a NOSCRIPT call did nothing, so this is safe), and returns
each call's result or its mapped :class:`~scoring.errors.ScoringError` in order.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import redis.asyncio
import redis.asyncio.cluster
import redis.exceptions
from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.commands.core import AsyncScript

from .errors import REDIS_FAILURES, UnknownScript, map_redis_error, map_redis_errors

__all__ = [
    "KEPT_CONNECTIONS",
    "LUA_DIR",
    "PRELUDE",
    "AnyRedis",
    "ScriptCall",
    "Scripts",
    "node_time_ms",
    "script_names",
    "script_source",
]

LUA_DIR = Path(__file__).parent / "lua"
KEPT_CONNECTIONS = 64
"""Most connections a :class:`Scripts` keeps between batches, per pool (an
:class:`~scoring.batcher.AnswerBatcher` has at most its ``connections`` batches in flight;
the rest go back to the pool)."""
PRELUDE = "_lib"
_USES_PRELUDE = f"-- uses: {PRELUDE}"

AnyRedis: TypeAlias = "redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"
"""A client the scripts run on: one Redis, or a Redis Cluster."""


async def node_time_ms(client: AnyRedis, key: str | None = None) -> int:
    """Redis's clock (``TIME``) in ms. On a cluster, that of the node holding *key*'s slot:
    the clock the scripts on that key read (nodes' clocks may differ a little); without
    *key*, any node's."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster) and key is not None:
        await client.initialize()
        seconds, micros = await client.time(target_nodes=client.get_node_from_key(key))
    else:
        seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


class ScriptCall(NamedTuple):
    """One script call of a batch: script name, KEYS and ARGV."""

    name: str
    keys: Sequence[str]
    args: Sequence[str | int | float | bytes]
    repeats: bool = True
    """Whether the ARGV after the first tend to repeat from call to call (an answer's: the
    question, the place, the choice), so that the batch encoder caches their encoding;
    ``False`` for calls whose ARGV are new each time (a start's draw, a join's profile),
    which would only push the answers' entries out of the cache."""


def script_names() -> list[str]:
    """Names of every script (the prelude excluded)."""
    return sorted(p.stem for p in LUA_DIR.glob("*.lua") if p.stem != PRELUDE)


@cache
def script_source(name: str) -> str:
    """Full text of script *name*, with the prelude prepended if its header asks for it."""
    path = LUA_DIR / f"{name}.lua"
    if name == PRELUDE or not path.is_file():
        raise UnknownScript(f"no Lua script {name!r} in {LUA_DIR}")
    text = path.read_text(encoding="utf-8")
    header = text.split("\n\n", 1)[0]
    if any(line.strip() == _USES_PRELUDE for line in header.splitlines()):
        prelude = (LUA_DIR / f"{PRELUDE}.lua").read_text(encoding="utf-8")
        text = f"{prelude}\n-- ---- {name}.lua ----\n{text}"
    return text


@cache
def _sha(name: str) -> str:
    return hashlib.sha1(script_source(name).encode("utf-8")).hexdigest()


class Scripts:
    """The scoring scripts bound to one client (single Redis or Redis Cluster)."""

    def __init__(self, client: AnyRedis) -> None:
        self.client = client
        self._registered: dict[str, AsyncScript] = {}
        self._kept: dict[Any, list[Any]] = {}
        """Connections of earlier batches, by the pool they came from, kept for the next."""

    def script(self, name: str) -> AsyncScript:
        """redis-py's script object for *name* (EVALSHA with reload on NOSCRIPT)."""
        found = self._registered.get(name)
        if found is None:
            found = self.client.register_script(script_source(name))
            self._registered[name] = found
        return found

    def sha(self, name: str) -> str:
        """SHA1 of the script's full text, as EVALSHA names it."""
        return _sha(name)

    async def load(self, names: Sequence[str] | None = None) -> None:
        """SCRIPT LOAD the scripts (all by default), so the first calls need no reload."""
        with map_redis_errors():
            for name in names if names is not None else script_names():
                await self.client.script_load(script_source(name))

    async def call(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[str | int | float | bytes],
    ) -> Any:
        """Run one script; redis-py errors are raised as :class:`ScoringError`."""
        with map_redis_errors():
            return await self.script(name)(keys=list(keys), args=list(args))

    async def run_batch(
        self, calls: Sequence[ScriptCall], client: AnyRedis | None = None
    ) -> list[Any]:
        """Run *calls* as one pipeline (no transaction); each item is a result or an error.

        An error item is a :class:`~scoring.errors.ScoringError` instance (returned, not
        raised); a failure of the whole pipeline (connection lost) is raised.
        """
        if not calls:
            return []
        target = client if client is not None else self.client
        results = await self._pipeline(target, calls)
        missing = [
            i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)
        ]
        if missing:
            with map_redis_errors():
                for name in {calls[i].name for i in missing}:
                    await target.script_load(script_source(name))
            retried = await self._pipeline(target, [calls[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return [map_redis_error(r) if isinstance(r, BaseException) else r for r in results]

    async def _pipeline(self, target: AnyRedis, calls: Sequence[ScriptCall]) -> list[Any]:
        if isinstance(target, redis.asyncio.Redis):
            return await self._send_packed(target, calls)
        with map_redis_errors():
            async with target.pipeline(transaction=False) as pipe:
                for call in calls:
                    # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks
                    # the evalsha method but routes an EVALSHA command by its first key.
                    pipe.execute_command(
                        "EVALSHA", _sha(call.name), len(call.keys), *call.keys, *call.args
                    )
                return list(await pipe.execute(raise_on_error=False))

    async def _send_packed(
        self, target: redis.asyncio.Redis, calls: Sequence[ScriptCall]
    ) -> list[Any]:
        """One Redis: the whole batch encoded here in one buffer, written at once, and the
        replies read in order on one connection (redis-py's per-argument encoder was most
        of the batch path's time). Any failure midway drops the connection, so a
        half-read reply never reaches the next user of the pool.

        The connection is one this object kept from an earlier batch when there is one
        (:meth:`_connection`), and is kept again after it: a checkout from redis-py's
        pool and its release (a lock, a condition, a timeout and its bookkeeping) cost
        about as much as the rest of a small batch's Python. The payload is written to the
        connection's stream and the replies read under one timeout, rather than through
        ``send_packed_command``, which runs each write in a task of its own
        (``asyncio.wait_for``) when the client has a socket timeout."""
        payload = b"".join([_pack(call) for call in calls])
        pool: Any = target.connection_pool
        expired: list[bool] = []
        """Set by the batch's timer when it fired."""
        try:
            connection: Any = await self._connection(pool)
            try:
                writer = connection._writer
                if writer is None or writer.transport.is_closing():
                    raise redis.exceptions.ConnectionError("the connection was closed")
                # The replies are read straight from the connection's parser (hiredis),
                # under one timeout for the batch, rather than through read_response's
                # per-reply timeout and bookkeeping. Error replies come back as values.
                # The timeout is one timer that aborts the connection (the write or read
                # under way then fails): asyncio.timeout's object, cancellation and
                # bookkeeping cost a small batch more than its timer.
                timeout = connection.socket_timeout
                timer = None
                if timeout is not None:
                    timer = asyncio.get_running_loop().call_later(
                        timeout, _time_out, writer.transport, expired
                    )
                try:
                    writer.write(payload)
                    await writer.drain()
                    replies = await _read_replies(connection._parser, len(calls))
                finally:
                    if timer is not None:
                        timer.cancel()
            except BaseException as exc:
                await _drop(pool, connection)
                if expired or isinstance(exc, TimeoutError):
                    raise redis.exceptions.TimeoutError("timeout reading a batch") from exc
                if isinstance(exc, OSError):
                    raise redis.exceptions.ConnectionError(f"reading a batch: {exc}") from exc
                raise
            kept = self._kept.setdefault(pool, [])
            if expired:  # read whole as its timer fired: the replies stand, not the connection
                await _drop(pool, connection)
            elif len(kept) < KEPT_CONNECTIONS:
                kept.append(connection)
            else:
                await pool.release(connection)
            return replies
        except REDIS_FAILURES as exc:  # as map_redis_errors() does, without its generator
            raise map_redis_error(exc) from exc

    async def _connection(self, pool: Any) -> Any:
        """A connection for a batch: one kept from an earlier batch on *pool* that is
        still connected and has nothing unread (checked without I/O, as the pool's own
        check does), else one from the pool."""
        kept = self._kept.get(pool)
        while kept:
            connection = kept.pop()
            try:
                if connection.is_connected and not await connection.can_read():
                    return connection
            except (redis.exceptions.ConnectionError, OSError):
                pass
            await _drop(pool, connection)
        return await pool.get_connection()

    async def release_kept(self) -> None:
        """Give the connections kept between batches back to their pools."""
        kept, self._kept = self._kept, {}
        for pool, connections in kept.items():
            for connection in connections:
                await pool.release(connection)


def _time_out(transport: asyncio.BaseTransport, expired: list[bool]) -> None:
    """A batch's timer: mark it expired and abort its connection."""
    expired.append(True)
    transport.abort()  # type: ignore[attr-defined]


async def _drop(pool: Any, connection: Any) -> None:
    """Disconnect *connection* (it may hold half a reply) and give it back to *pool*."""
    try:
        await connection.disconnect()
    finally:
        await pool.release(connection)


async def _read_replies(parser: Any, count: int) -> list[Any]:
    """Read *count* replies: with hiredis straight from its reader, refilled from the
    socket only when it runs dry (one ``gets`` per reply instead of one coroutine per
    reply); with redis-py's Python parser, reply by reply."""
    if not isinstance(parser, _AsyncHiredisParser):
        return [await parser.read_response() for _ in range(count)]
    reader: Any = parser._reader
    refill: Any = parser.read_from_socket
    push_type = parser._hiredis_PushNotificationType
    gets = reader.gets
    results: list[Any] = []
    append = results.append
    while len(results) < count:
        reply = gets()
        if reply is _NOT_ENOUGH_DATA:
            await refill()
        elif isinstance(reply, redis.exceptions.ConnectionError):
            raise reply
        elif push_type is not None and isinstance(reply, push_type):
            await parser.handle_push_response(reply)  # not a reply to one of ours
        else:
            append(reply)
    return results


_STR_ONLY = {str}


def _data(value: str | int | float | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, float):
        return repr(value).encode()
    return str(value).encode()


def _bulk_new(value: str | int | float | bytes) -> bytes:
    """RESP of one argument, without the cache."""
    data = _data(value)
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _bulk(value: str | int | float | bytes) -> bytes:
    if type(value) is float:  # not cached: 0.0 == -0.0 would share an entry
        return _bulk_new(value)
    return _bulk_cached(value)


@lru_cache(maxsize=4096, typed=True)  # question ids, provinces, keys... repeat
def _bulk_cached(value: str | int | float | bytes) -> bytes:
    data = _data(value)
    return b"$%d\r\n%b\r\n" % (len(data), data)


@lru_cache(maxsize=4096)
def _bulk_strs(values: tuple[str, ...]) -> bytes:
    """RESP of several str arguments (cached: one question's arguments but the member
    repeat; str only, as a tuple key does not tell 1 from 1.0 or True)."""
    return b"".join([_bulk(v) for v in values])


@lru_cache(maxsize=8192)
def _packed_head(name: str, keys: tuple[str, ...], nargs: int) -> bytes:
    """RESP of ``*N EVALSHA sha numkeys key...`` (cached: one question's keys repeat)."""
    parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + nargs), _bulk(_sha(name))]
    parts += [_bulk(len(keys)), *[_bulk(k) for k in keys]]
    return b"".join(parts)


def _pack(call: ScriptCall) -> bytes:
    """RESP encoding of one EVALSHA call. The first argument (by convention the member,
    new in almost every call) is encoded without the cache; the rest, when all str, as one
    cached piece (each argument without the cache if :attr:`ScriptCall.repeats` is false)."""
    keys, args = call.keys, call.args
    head = _packed_head(call.name, keys if type(keys) is tuple else tuple(keys), len(args))
    if not args:
        return head
    first = _data(args[0])
    rest = tuple(args[1:])
    if not call.repeats:
        tail = b"".join([_bulk_new(a) for a in rest])
    elif set(map(type, rest)) <= _STR_ONLY:
        tail = _bulk_strs(rest)  # all str, checked above
    else:
        tail = b"".join([_bulk(a) for a in rest])
    return b"%b$%d\r\n%b\r\n%b" % (head, len(first), first, tail)
