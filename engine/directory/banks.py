"""Versioned question-bank storage in Redis.

Every bank belongs to one organisation, which sees only its own banks. Keys (see
:class:`scoring.keys.GlobalKeys`)::

    P:bank:<org>:<bank>:versions   hash  version number -> msgpack-encoded Bank
    P:banks:<org>                  hash  bank id -> latest version number (live banks only)

Versions are immutable: :meth:`BankStore.put` always writes a *new* version number (one
more than the highest ever stored for that id) and never rewrites an existing one, so a
contest created from version 3 keeps reading exactly version 3. The stored bank's
``version`` field is set by the store when it reads the bank: the hash field it is
stored under decides (so a bank encoded before its number is known, in a worker
process, is stored as it is).

Delete hides, it does not destroy: :meth:`BankStore.delete` removes the bank from its
organisation's index, so :meth:`~BankStore.list`, :meth:`~BankStore.versions` and
:meth:`~BankStore.get` without a version no longer see it, but every stored version stays
readable with an explicit ``get(org, id, version=n)`` -- contests pinned to it keep
running. Putting the same id again later continues the numbering (the next version after
the highest stored), so a version number never means two different banks.

Writes touch one key at a time (the versions hash under WATCH, then the index with a
compare-and-set script), so they also work on Redis Cluster where the two keys live on
different slots.

The store does not validate banks: callers pass banks that came out of
:func:`question_bank.formats.loads` (which validates) or were built in code.

Parsing and validating a bank file is CPU work that grows with the file (a 9 MB CSV takes
seconds): :class:`BankWorkers` runs it in worker processes, so the event loop of the
process -- which also serves members -- stays free. Processes, not threads: a parse in a
thread holds the GIL, and ``python -m bench.bank_import`` measured the loop's timers late
by 9 ms at the median and 122 ms at worst during a 9 MB parse in a thread, 0.2 ms and
14 ms with a worker process (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import builtins
import multiprocessing
import multiprocessing.util
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

import msgspec
from redis.exceptions import WatchError

from engine.core.errors import BankExists
from engine.runtime.redisconn import AsyncRedis
from question_bank.errors import BankInvalid, BankNotFound, Location, Problem
from question_bank.formats import Written, dumps, load_bank
from question_bank.ids import STORED_ID_PATTERN, BankId, OrgId
from question_bank.models import Bank
from scoring.keys import DEFAULT_PREFIX, GlobalKeys

__all__ = [
    "ID_PATTERN",
    "MAX_CONCURRENT_PARSES",
    "BankStore",
    "BankSummary",
    "BankWorkers",
    "Prepared",
    "check_bank_id",
]

MAX_CONCURRENT_PARSES = 2
"""Bank files one engine process parses (or exports) at once, each in a worker process;
more uploads wait for a free one."""

_T = TypeVar("_T")

ID_PATTERN = STORED_ID_PATTERN
"""Bank (and organisation) ids: they become parts of Redis key names, so no ``:``."""

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Bank)

_CLAIM_MS = 10_000
"""Life of the claim :meth:`BankStore.create` holds while it checks and stores a new id."""

# KEYS[1] = bank index hash; ARGV[1] = bank id; ARGV[2] = version just written.
# Sets index[id] = version unless it already holds a higher one. Returns the index value.
_RAISE_INDEX = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local version = tonumber(ARGV[2])
if version > current then
  redis.call('HSET', KEYS[1], ARGV[1], version)
  return version
end
return current
"""


def check_bank_id(bank_id: str) -> None:
    """Raise :class:`BankInvalid` unless *bank_id* matches :data:`ID_PATTERN`."""
    if not ID_PATTERN.fullmatch(bank_id):
        raise BankInvalid(
            [
                Problem(
                    code="bad_bank_id",
                    message=f"bank id {bank_id!r} must be 1-64 letters, digits, '_', '.' or '-'"
                    " and start with a letter or digit",
                    where=Location(field="id"),
                )
            ]
        )


class BankSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a listing shows of a bank: its latest version's headline."""

    id: BankId
    title: str
    language: str
    version: int
    questions: int


class BankStore:
    """Banks of every organisation in one Redis, under key prefix *prefix*."""

    def __init__(self, redis_client: AsyncRedis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.keys = GlobalKeys(prefix)
        self._raise_index = redis_client.register_script(_RAISE_INDEX)

    async def put(self, org: OrgId, bank: Bank) -> int:
        """Store *bank* as a new version of ``bank.id`` in *org*; return the version number.

        :class:`BankInvalid` if the id is not a valid :data:`ID_PATTERN`.
        """
        return await self.put_encoded(org, bank.id, _ENCODER.encode(bank))

    async def put_encoded(self, org: OrgId, bank_id: BankId, blob: bytes) -> int:
        """:meth:`put` of a bank already encoded (msgpack) whose id is *bank_id*."""
        check_bank_id(bank_id)
        versions_key = self.keys.bank_versions(org, bank_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(versions_key)
                    stored: Any = await pipe.hkeys(versions_key)
                    version = max((int(v) for v in stored), default=0) + 1
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(versions_key, str(version), blob)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._raise_index(keys=[self.keys.bank_index(org)], args=[bank_id, version])
        return version

    async def create(self, org: OrgId, bank: Bank) -> int:
        """Store *bank* as version 1 of a new id in *org* (or the next version, if a deleted
        bank had the id); :class:`~engine.core.errors.BankExists` if *org* has a bank with that
        id, also when another upload of the same id is being stored at this moment.

        The check and the store are two steps on keys of different Redis Cluster slots, so
        a short claim key (SET NX, expiring by itself if this process dies) makes
        concurrent creations of one id take turns: exactly one of them stores the bank.
        """
        return await self.create_encoded(org, bank.id, _ENCODER.encode(bank))

    async def create_encoded(self, org: OrgId, bank_id: BankId, blob: bytes) -> int:
        """:meth:`create` of a bank already encoded (msgpack) whose id is *bank_id*."""
        check_bank_id(bank_id)
        claim = f"{self.keys.bank_versions(org, bank_id)}:creating"
        if not await self.redis.set(claim, "1", nx=True, px=_CLAIM_MS):
            raise BankExists(f"bank {bank_id!r} is being created by another upload")
        try:
            if await self.exists(org, bank_id):
                raise BankExists(
                    f"bank {bank_id!r} already exists; PUT /api/banks/{bank_id} replaces it"
                )
            return await self.put_encoded(org, bank_id, blob)
        finally:
            await self.redis.delete(claim)

    async def latest_version(self, org: OrgId, bank_id: BankId) -> int:
        """Latest version of a live (not deleted) bank; :class:`BankNotFound` otherwise."""
        raw: Any = await self.redis.hget(self.keys.bank_index(org), bank_id)
        if raw is None:
            raise BankNotFound(f"no bank {bank_id!r} in organisation {org!r}")
        return int(raw)

    async def get(self, org: OrgId, bank_id: BankId, version: int | None = None) -> Bank:
        """A bank of *org*: the latest version, or exactly *version* (even of a deleted bank)."""
        return _decode(*await self.get_encoded(org, bank_id, version))

    async def get_encoded(
        self, org: OrgId, bank_id: BankId, version: int | None = None
    ) -> tuple[bytes, int]:
        """:meth:`get`'s bank as stored (msgpack) and its version number, for
        :meth:`BankWorkers.export`."""
        if version is None:
            version = await self.latest_version(org, bank_id)
        raw: Any = await self.redis.hget(self.keys.bank_versions(org, bank_id), str(version))
        if raw is None:
            raise BankNotFound(f"no version {version} of bank {bank_id!r} in organisation {org!r}")
        return bytes(raw), version

    async def exists(self, org: OrgId, bank_id: BankId, version: int | None = None) -> bool:
        """Whether :meth:`get` with the same arguments would find a bank."""
        try:
            await self.get(org, bank_id, version)
        except BankNotFound:
            return False
        return True

    async def list(self, org: OrgId) -> builtins.list[BankSummary]:
        """The live banks of *org*, sorted by id, each with its latest version's headline."""
        index: Any = await self.redis.hgetall(self.keys.bank_index(org))
        ids = sorted(BankId(k.decode()) for k in index)
        async with self.redis.pipeline(transaction=False) as pipe:
            for bank_id in ids:
                pipe.hget(self.keys.bank_versions(org, bank_id), index[bank_id.encode()])
            blobs: builtins.list[bytes | None] = await pipe.execute()
        summaries = []
        for bank_id, blob in zip(ids, blobs, strict=True):
            if blob is None:  # index written but version missing: cannot happen via put()
                continue
            bank = _decode(blob, int(index[bank_id.encode()]))
            summaries.append(
                BankSummary(
                    id=bank.id,
                    title=bank.title,
                    language=bank.language,
                    version=bank.version,
                    questions=len(bank.questions),
                )
            )
        return summaries

    async def versions(self, org: OrgId, bank_id: BankId) -> builtins.list[int]:
        """Every stored version of a live bank, oldest first; :class:`BankNotFound` if none."""
        await self.latest_version(org, bank_id)
        stored: Any = await self.redis.hkeys(self.keys.bank_versions(org, bank_id))
        return sorted(int(v) for v in stored)

    async def delete(self, org: OrgId, bank_id: BankId) -> None:
        """Hide a bank from its organisation (versions stay readable by number)."""
        removed: int = await self.redis.hdel(self.keys.bank_index(org), bank_id)
        if not removed:
            raise BankNotFound(f"no bank {bank_id!r} in organisation {org!r}")


def _decode(blob: bytes, version: int) -> Bank:
    """A stored bank, its ``version`` the number it is stored under."""
    bank = _DECODER.decode(blob)
    return bank if bank.version == version else msgspec.structs.replace(bank, version=version)


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """An uploaded bank as a worker process leaves it: ready to store, and its headline."""

    summary: BankSummary
    """Its headline (``version`` 0: not stored yet)."""
    warnings: list[Problem] = []
    blob: bytes
    """The bank, encoded as :class:`BankStore` stores it."""


_PREPARED = msgspec.msgpack.Decoder(Prepared)

_pool: ProcessPoolExecutor | None = None
"""This process's worker processes, started on first use (after any fork of the server)."""


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: a fork of a process running an event loop, Redis clients and threads is
        # not safe.
        context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(
            MAX_CONCURRENT_PARSES, mp_context=context, initializer=_ignore_interrupts
        )
        # A gateway worker is itself a multiprocessing child: on its way out it joins its
        # children *before* concurrent.futures tells the pool's workers to stop, so it
        # would wait for them for ever. A finalizer of priority >= 0 runs before that join.
        multiprocessing.util.Finalize(None, _shutdown_pool, exitpriority=100)
    return _pool


def _shutdown_pool() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C in a terminal reaches the whole process group; the server
    decides when its workers stop (at its exit, :func:`_shutdown_pool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare(data: bytes, fmt: str, force_id: str | None, **kwargs: Any) -> bytes:
    """In a worker: :func:`load_bank` (its id *force_id* when given), encoded for the store,
    with its headline. The caller never decodes the bank: 60,000 questions took 1.4 s to
    unpickle and 0.5-1.1 s to decode from msgpack, each a stretch holding the GIL."""
    loaded = load_bank(data, fmt, **kwargs)
    bank = loaded.bank
    if force_id is not None and bank.id != force_id:
        bank = msgspec.structs.replace(bank, id=BankId(force_id))
    summary = BankSummary(
        id=bank.id,
        title=bank.title,
        language=bank.language,
        version=0,
        questions=len(bank.questions),
    )
    return _ENCODER.encode(
        Prepared(summary=summary, warnings=loaded.warnings, blob=_ENCODER.encode(bank))
    )


def _export(blob: bytes, fmt: str) -> Written:
    """In a worker: a stored bank (msgpack) written in *fmt*."""
    return dumps(_DECODER.decode(blob), fmt)


class BankWorkers:
    """Runs bank parsing and export off the event loop, at most *limit* at once.

    One per application (its semaphore belongs to the loop serving it); the worker
    processes are shared by the whole process. A function's exceptions (``BankInvalid``
    with its problems) are raised in the caller as they were raised in the worker. Banks
    cross between processes as msgpack, never pickled Structs (see :func:`_prepare`).
    """

    def __init__(self, limit: int = MAX_CONCURRENT_PARSES) -> None:
        self._slots = asyncio.Semaphore(limit)

    async def prepare(
        self, data: bytes, fmt: str, *, force_id: str | None = None, **kwargs: Any
    ) -> Prepared:
        """An uploaded file parsed and validated in a worker
        (:func:`question_bank.formats.load_bank` with *kwargs*), ready for
        :meth:`BankStore.put_encoded`; its id is *force_id* when given."""
        return _PREPARED.decode(await self.run(_prepare, data, fmt, force_id, **kwargs))

    async def export(self, blob: bytes, fmt: str) -> Written:
        """A stored bank (:meth:`BankStore.get_encoded`) written in *fmt*, in a worker."""
        return await self.run(_export, blob, fmt)

    async def run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in a worker process (*fn* and its arguments pickle)."""
        global _pool
        async with self._slots:
            pool = _executor()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    pool, partial(fn, *args, **kwargs)
                )
            except BrokenProcessPool:
                if _pool is pool:  # a worker died (killed, out of memory): start afresh
                    _pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                raise
