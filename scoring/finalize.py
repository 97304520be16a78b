"""Finalize: the final standings of a round, computed once it closes.

Window rounds rank every member by their counted attempt (rule 5 of docs/scoring.md: the
best by default; the last or the first if the round says so) with the tie-break chain of
:mod:`scoring.ranking`: score (desc) -> distance of the prediction from the true figure
(asc; none ranks last) -> time used (asc) -> submitted at (asc; never submitted ranks last)
-> the round's further keys (``earliest_start``, ``fewest_attempts``) -> member id (listing
only). Equal keys share a rank (1, 2, 2, 4). Live shows rank by score (desc) then time
used (asc).

With the default rule (``best``, no further keys) the figures are those of ``P:{C}:best``;
otherwise every attempt of every member is read (``P:{C}:attn`` gives how many, each
attempt hash its figures, pipelined per chunk of members) and the counted attempt picked
by :func:`~scoring.ranking.counted_attempt`.

The true figure of the prediction question is measured at close (``measure``):

* ``perfect_scores``: members whose counted attempt has every question fully correct;
* ``participants``: members who started an attempt;
* ``completed``: members with a completed attempt (submitted, or closed by the deadline
  with every question answered: ``P:{C}:done``).

Storage (built under temporary names and swapped into place by one script call,
``final_swap.lua``, so a reader sees the old standings or the new ones, never a mix; one
script also because redis-py's cluster pipeline refuses COPY and RENAME):

* ``P:{C}:final:order`` zset member -> rank: ``ZRANGE`` lists the standings in order (ties
  by member id, as Redis orders equal scores);
* ``P:{C}:final`` hash member -> the figures ranked, as :class:`~scoring.attempts.BestAttempt`
  JSON (window rounds: a snapshot of ``P:{C}:best`` as finalize read it; on a cluster
  client, a ``COPY`` of it);
* ``P:{C}:final:info`` JSON :class:`FinalInfo` (mode, measure, truth, ranked, at).

A member-sharded live show (``shards`` S > 1) is finalized from every shard's totals and
times, merged, into the standings on the contest's own slot (``final``, ``final:order``,
``final:info``): readers see one contest. Window rounds have one shard.

Finalize is idempotent: run twice on the same data, it stores the same standings (only
``at`` changes).

Speed (1,000,000 members in a few seconds, ``bench/finalize.py``; docs/benchmarks.md,
"Seventh session"): the best attempts are read with HSCAN as hiredis parses it and decoded
in one msgspec call per chunk while Redis scans the next; the keys are packed into one
integer per member (:func:`~scoring.ranking.head_key`; the part without the true figure
during the read, :mod:`scoring.finalize_heads`) so the sort compares ints, not tuples; the
snapshot is written from a thread while Python sorts and the ranks streamed as encoded
RESP (:mod:`scoring.finalize_io`), so Redis and Python work on their two cores at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Sequence
from contextlib import aclosing
from typing import Literal, cast

import msgspec
import redis.asyncio

from question_bank.ids import ContestId, MemberId
from question_bank.models import PredictionMeasure

from .attempt_model import time_used_of
from .attempts import Attempts, BestAttempt
from .errors import CorruptData, ScoringUsageError, map_redis_errors
from .finalize_heads import ChunkedHeads
from .finalize_io import Link, Snapshot, hscan_chunks
from .keys import DEFAULT_PREFIX
from .ranking import (
    AttemptFigures,
    Counts,
    Entry,
    TieBreak,
    entry_from,
    entry_of,
    extend_heads,
    head_key,
    heads_of,
    rank_entries,
    rank_order,
    summary_of,
    true_figure,
)
from .replies import text
from .scripts import AnyRedis, Scripts, node_time_ms
from .shards import contest_shards

__all__ = [
    "Entry",
    "FinalInfo",
    "Finalizer",
    "Standing",
    "head_key",
    "heads_of",
    "rank_entries",
    "rank_order",
    "true_figure",
]

Mode = Literal["window", "live"]


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One member's final standing, as :meth:`Finalizer.standings` returns it."""

    rank: int
    score: int
    prediction: int | None
    distance: int | None
    """``|prediction - truth|``; ``None`` without a prediction or a prediction question."""
    time_used: int
    submitted: int
    """Ms since the epoch; 0 if never submitted (closed at the deadline, or a live show)."""
    attempt: int
    """The counted attempt's number (the best by default; 0 in live shows)."""


class FinalInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`Finalizer.finalize_window` / ``finalize_live`` computed."""

    mode: Mode
    measure: PredictionMeasure | None = None
    truth: int | None = None
    """The true figure of the prediction question (``None`` without one)."""
    ranked: int = 0
    at: int = 0
    """Redis time of the finalize, ms."""


_ATTEMPT_FIELDS = (
    "state",
    "started",
    "deadline",
    "last",
    "submitted",
    "score",
    "correct",
    "prediction",
    "qs",
)
_qs_decoder = msgspec.json.Decoder(list[str])


def _number(raw: bytes | None) -> int | None:
    return None if raw is None or raw == b"" else int(float(raw))


def attempt_figures(n: int, values: Sequence[bytes | None]) -> AttemptFigures | None:
    """An attempt's figures from the HMGET of :data:`_ATTEMPT_FIELDS` (``None``: no hash)."""
    state_raw, started_raw, deadline_raw, last, submitted, score, correct, prediction, qs = values
    if state_raw is None or started_raw is None:
        return None
    started, deadline = int(started_raw), _number(deadline_raw) or 0
    submitted_at = _number(submitted)
    return AttemptFigures(
        n=n,
        score=_number(score) or 0,
        time_used=time_used_of(state_raw.decode(), started, deadline, _number(last), submitted_at),
        started=started,
        submitted=submitted_at or 0,
        prediction=_number(prediction),
        correct=_number(correct) or 0,
        nq=0 if qs is None else len(_qs_decoder.decode(qs)),
    )


_bests_decoder = msgspec.json.Decoder(list[BestAttempt], strict=False)
_best_decoder = msgspec.json.Decoder(BestAttempt, strict=False)
_info_decoder = msgspec.json.Decoder(FinalInfo)
_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


def _rank_format(ranked: int) -> bytes:
    """A ``%`` template of the RESP of ``rank member`` for standings of *ranked* members,
    to be filled with (rank, length of the member, the member as bytes): the rank
    zero-padded to one width, so one template serves every member (Redis reads ``007``
    as 7) and one ``%`` encodes a member."""
    width = len(b"%d" % max(1, ranked))
    return b"$%d\r\n%%0%dd\r\n$%%d\r\n%%b\r\n" % (width, width)


async def _mapped(waiting: Awaitable[None]) -> None:
    with map_redis_errors():
        await waiting


class Finalizer:
    """Final standings of one contest."""

    def __init__(
        self,
        client: AnyRedis,
        contest: ContestId,
        *,
        prefix: str = DEFAULT_PREFIX,
        chunk: int = 10_000,
        scripts: Scripts | None = None,
        shards: int = 1,
    ) -> None:
        self.client = client
        self.shards = contest_shards(contest, prefix, shards)
        self.keys = self.shards.contest
        """The contest's own keys (best, final, ...): those of :attr:`shards`."""
        self.chunk = chunk
        self.scripts = scripts if scripts is not None else Scripts(client)

    # ----------------------------------------------------------------------- reading

    async def _scan_hash(self, key: str) -> dict[bytes, bytes]:
        """Every field of a hash, read with HSCAN in chunks (never one huge HGETALL)."""
        out: dict[bytes, bytes] = {}
        cursor = 0
        with map_redis_errors():
            while True:
                cursor, part = await self.client.hscan(key, cursor, count=self.chunk)
                out.update(cast(dict[bytes, bytes], part))
                if cursor == 0:
                    return out

    async def _read_bests(
        self, snapshot: Snapshot | None = None, heads: ChunkedHeads | None = None
    ) -> tuple[list[bytes], list[BestAttempt]]:
        """Every member's best attempt (``P:{C}:best``), read with HSCAN: the members as
        Redis gave them (bytes) and their figures, in the same order. Each chunk is
        decoded while Redis scans the next one (the scan is most of Redis's part of a
        read, the decode most of Python's). HSCAN may return a field twice; it is kept
        once (its first reading). With *snapshot*, each chunk is also encoded as the HSET
        of the snapshot of the figures ranked (a field read twice is written twice, the
        same); with *heads*, the heads of the ranking are begun (:mod:`.finalize_heads`)."""
        raw: list[bytes] = []
        bests: list[BestAttempt] = []
        key = self.keys.best
        with map_redis_errors():
            async with aclosing(self._hscan(key)) as chunks:
                async for members, values in chunks:
                    if snapshot is not None:
                        snapshot.add(members, values)
                    try:
                        part = _bests_decoder.decode(b"[" + b",".join(values) + b"]")
                    except msgspec.DecodeError as exc:
                        raise CorruptData(f"bad best attempt in {key}: {exc}") from exc
                    if heads is not None:
                        heads.add(part)
                    bests += part
                    raw += members
        if len(set(raw)) < len(raw):  # rare: a field returned twice
            firsts: dict[bytes, int] = {}
            for i, m in enumerate(raw):
                firsts.setdefault(m, i)
            keep = sorted(firsts.values())
            raw, bests = [raw[i] for i in keep], [bests[i] for i in keep]
            if heads is not None:
                heads.drop()
        return raw, bests

    async def _hscan(self, key: str) -> AsyncGenerator[tuple[list[bytes], list[bytes]], None]:
        """The fields and values of hash *key*, chunk by chunk (:attr:`chunk` a call),
        the next HSCAN sent before a chunk is handed over (a cluster client: through its
        ``hscan``)."""
        if isinstance(self.client, redis.asyncio.Redis):
            async with aclosing(hscan_chunks(self.client, key, self.chunk)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        pending = asyncio.ensure_future(self.client.hscan(key, 0, count=self.chunk))
        try:
            while True:
                cursor, part = await pending
                if cursor != 0:
                    pending = asyncio.ensure_future(
                        self.client.hscan(key, cursor, count=self.chunk)
                    )
                    for _ in range(3):  # let the next HSCAN be written before the decode
                        await asyncio.sleep(0)
                fields = cast(dict[bytes, bytes], part)
                yield list(fields), list(fields.values())
                if cursor == 0:
                    return
        finally:
            pending.cancel()

    async def window_entries(self) -> list[Entry]:
        """One entry per member with a best attempt (``P:{C}:best``)."""
        raw, bests = await self._read_bests()
        return [entry_from(m.decode(), b) for m, b in zip(raw, bests, strict=True)]

    async def counted_entries(self, counts: Counts) -> list[Entry]:
        """One entry per member who started an attempt (``P:{C}:attn``): the attempt that
        counts under *counts*, its start and the attempts taken to reach its score."""
        k = self.keys
        started = await self._scan_hash(k.attempt_counts)
        rows = [(m.decode(), int(c)) for m, c in started.items() if int(c) > 0]
        entries: list[Entry] = []
        try:
            for start in range(0, len(rows), max(1, self.chunk // 4)):
                part = rows[start : start + max(1, self.chunk // 4)]
                with map_redis_errors():
                    async with self.client.pipeline(transaction=False) as pipe:
                        for member, count in part:
                            for n in range(1, count + 1):
                                pipe.hmget(k.attempt(member, n), list(_ATTEMPT_FIELDS))
                        replies = await pipe.execute()
                at = 0
                for member, count in part:
                    figures = [attempt_figures(n, replies[at + n - 1]) for n in range(1, count + 1)]
                    at += count
                    entry = entry_of(member, [f for f in figures if f is not None], counts)
                    if entry is not None:
                        entries.append(entry)
        except (ValueError, msgspec.DecodeError) as exc:
            raise CorruptData(f"bad attempt in {k.base}: {exc}") from exc
        return entries

    async def live_entries(self) -> list[Entry]:
        """One entry per member on the live show's board (``totals``, ``times``; of every
        shard, a member being on one)."""
        entries: list[Entry] = []
        for keys in self.shards.keys:
            totals = await self._scan_hash(keys.totals)
            times = await self._scan_hash(keys.times)
            try:
                entries += [
                    Entry(member=m.decode(), score=int(s), time_used=int(times.get(m, b"0")))
                    for m, s in totals.items()
                ]
            except ValueError as exc:
                raise CorruptData(f"bad total or time in {keys.base}: {exc}") from exc
        return entries

    # ----------------------------------------------------------------------- finalize

    async def finalize_window(
        self,
        measure: PredictionMeasure | None = "perfect_scores",
        *,
        truth: int | None = None,
        force: bool = False,
        counts: Counts = "best",
        tie_break: Sequence[TieBreak] = (),
    ) -> FinalInfo:
        """Close what is due, measure the true figure, rank and store the standings.

        *measure* ``None``: the round has no prediction question (predictions ignored).
        *truth* overrides the measured figure. Refuses (:class:`ScoringUsageError`) while
        an attempt is still open, unless *force* (then open attempts rank as they stand).
        *counts* and *tie_break*: the round's ranking rules (the module docstring).
        """
        k = self.keys
        if self.shards.sharded:
            raise ScoringUsageError("a window round has one shard: no sharded window finalize")
        attempts = Attempts(self.client, k.contest, prefix=k.prefix, scripts=self.scripts)
        await attempts.expire_due()
        with map_redis_errors():
            still_open = int(await self.client.zcard(k.deadlines))
            completed = int(await self.client.scard(k.completed_members))
        if still_open and not force:
            raise ScoringUsageError(
                f"{still_open} attempts of {k.contest} are still open: "
                "finalize after the round closes (or force)"
            )
        if still_open:
            # Forced: open attempts rank as they stand, also where board_updates "attempt"
            # has not written them to P:{C}:best yet.
            await attempts.settle_open()
        if counts != "best" or tie_break:
            entries = await self.counted_entries(counts)
            if measure is None:
                truth = None
            elif truth is None:
                truth = true_figure(entries, measure, completed)
            heads = extend_heads(heads_of(entries, truth), entries, tie_break)
            order, ranks = rank_order([e.member for e in entries], heads)
            await self._write_summaries(entries)
            info = FinalInfo(mode="window", measure=measure, truth=truth)
            return await self._store([e.member.encode() for e in entries], order, ranks, info)
        # The snapshot of the figures ranked (nothing writes P:{C}:best once every attempt
        # is closed): with a plain Redis, encoded as the read goes and written while Python
        # ranks (scoring.finalize_io.Snapshot); with a cluster client, one COPY meanwhile.
        copy: asyncio.Future[None]
        begun = ChunkedHeads()
        if isinstance(self.client, redis.asyncio.Redis):
            with map_redis_errors():
                await self.client.unlink(f"{k.final}:tmp")
            snapshot = Snapshot(self.client, f"{k.final}:tmp")
            raw, bests = await self._read_bests(snapshot, begun)
            with map_redis_errors():
                await snapshot.start()
            copy = asyncio.ensure_future(_mapped(snapshot.wait()))
        else:
            raw, bests = await self._read_bests(heads=begun)
            copy = asyncio.ensure_future(self._copy(k.best, f"{k.final}:tmp"))
        try:
            if measure is None:
                truth = None
            elif truth is None:
                truth = true_figure(bests, measure, completed)
            # Ties are listed by member id: UTF-8 bytes compare as their text does (code
            # point order), so the members are ranked as Redis gave them, not decoded.
            order, ranks = rank_order(cast("list[str]", raw), begun.heads(bests, truth))
            del bests, begun
        finally:
            await copy
        info = FinalInfo(mode="window", measure=measure, truth=truth)
        return await self._store(raw, order, ranks, info)

    async def finalize_live(self) -> FinalInfo:
        """Rank a live show's members by score (desc) then time used (asc) and store it."""
        entries = await self.live_entries()
        members = [e.member for e in entries]
        order, ranks = rank_order(members, heads_of(entries, None))
        await self._write_summaries(entries)
        names = [m.encode() for m in members]
        return await self._store(names, order, ranks, FinalInfo(mode="live"))

    async def _write_summaries(self, entries: Sequence[Entry]) -> None:
        """The figures ranked, as :class:`BestAttempt` JSON, into ``P:{C}:final:tmp``."""
        tmp = f"{self.keys.final}:tmp"
        with map_redis_errors():
            await self.client.delete(tmp)
        for start in range(0, len(entries), self.chunk):
            flat: list[str] = []
            for e in entries[start : start + self.chunk]:
                summary = summary_of(e)
                flat += [e.member, _json.encode(summary).decode()]
            await self._write(tmp, "HSET", flat)

    async def _copy(self, source: str, target: str) -> None:
        await self.scripts.call("final_swap", [source, target], ["copy"])

    async def _write(self, key: str, command: str, flat: list[str] | list[int | str]) -> None:
        # Lua's cmsgpack reads no MessagePack "bin": every item is a str or an int.
        await self.scripts.call("final_write", [key], [command, _msgpack.encode(flat)])

    async def _zadd_streamed(
        self, key: str, names: Sequence[bytes], order: list[int], ranks: list[int]
    ) -> None:
        """``ZADD key rank member ...`` in chunks, encoded here and written one after
        another on one connection while Redis runs the ones before (the replies are read
        at the end): Redis spends about 1 µs a member on it where the Lua chunk writer
        (:meth:`_write`) spent 2, and the encoding overlaps it."""
        assert isinstance(self.client, redis.asyncio.Redis)
        writer = Link(self.client)
        template = _rank_format(len(order))
        with map_redis_errors():
            try:
                for start in range(0, len(order), self.chunk):
                    stop = min(start + self.chunk, len(order))
                    named = list(map(names.__getitem__, order[start:stop]))
                    pairs = zip(ranks[start:stop], map(len, named), named, strict=True)
                    body = b"".join(map(template.__mod__, pairs))
                    await writer.send(b"ZADD", key, body, 2 * (stop - start))
                await writer.finish()
            finally:
                await writer.close(broken=True)

    async def _store(
        self, names: Sequence[bytes], order: list[int], ranks: list[int], info: FinalInfo
    ) -> FinalInfo:
        """Write the standings under temporary names and swap them into place; *names*:
        the members (UTF-8), *order* and *ranks* as :func:`rank_order` gives them."""
        k = self.keys
        tmp_final, tmp_order = f"{k.final}:tmp", f"{k.final_order}:tmp"
        with map_redis_errors():
            await self.client.unlink(tmp_order)
        if isinstance(self.client, redis.asyncio.Redis):
            await self._zadd_streamed(tmp_order, names, order, ranks)
        else:  # a cluster client: one script call per chunk (its node by the key)
            for start in range(0, len(order), self.chunk):
                part = range(start, min(start + self.chunk, len(order)))
                flat = [x for p in part for x in (ranks[p], names[order[p]].decode())]
                await self._write(tmp_order, "ZADD", flat)
        with map_redis_errors():
            now = await node_time_ms(self.client, tmp_order)
            info = msgspec.structs.replace(info, ranked=len(order), at=now)
        await self.scripts.call(
            "final_swap",
            [tmp_final, k.final, tmp_order, k.final_order, k.final_info],
            ["swap", _json.encode(info), "1" if order else "0"],
        )
        return info

    # ----------------------------------------------------------------------- reading back

    async def info(self) -> FinalInfo | None:
        """The last finalize's summary, or ``None`` if the contest was never finalized."""
        with map_redis_errors():
            raw = await self.client.get(self.keys.final_info)
        return None if raw is None else _info_decoder.decode(raw)

    @staticmethod
    def _standing(rank: int, raw: bytes, truth: int | None) -> Standing:
        b = _best_decoder.decode(raw)
        distance = None
        if truth is not None and b.prediction is not None:
            distance = abs(b.prediction - truth)
        return Standing(
            rank=rank,
            score=b.score,
            prediction=b.prediction,
            distance=distance,
            time_used=b.time_used,
            submitted=b.submitted,
            attempt=b.n,
        )

    async def standing(self, member: MemberId) -> Standing | None:
        """One member's final standing (``None`` if not ranked)."""
        return (await self.standings_of([member]))[0]

    async def standings_of(
        self, members: Sequence[MemberId], chunk: int = 2000
    ) -> list[Standing | None]:
        """Many members' final standings at once (``None`` for one not ranked), in order:
        one pipelined ZMSCORE + HMGET per *chunk* members, not a round trip per member."""
        k = self.keys
        out: list[Standing | None] = []
        truth: int | None = None
        for start in range(0, len(members), chunk):
            part: list[str] = list(members[start : start + chunk])
            with map_redis_errors():
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.zmscore(k.final_order, part)
                    pipe.hmget(k.final, part)
                    if start == 0:
                        pipe.get(k.final_info)
                    replies = await pipe.execute()
            ranks, rows = replies[0], replies[1]
            if start == 0:
                if replies[2] is None:
                    return [None] * len(members)  # not finalized
                truth = _info_decoder.decode(replies[2]).truth
            for rank, row in zip(ranks, rows, strict=True):
                out.append(
                    None if rank is None or row is None else self._standing(int(rank), row, truth)
                )
        return out

    async def standings(self, start: int = 0, stop: int = -1) -> list[tuple[MemberId, Standing]]:
        """Standings at positions *start*..*stop* (inclusive, 0-based, like ``ZRANGE``)."""
        k = self.keys
        with map_redis_errors():
            ranked = cast(
                list[tuple[bytes, float]],
                await self.client.zrange(k.final_order, start, stop, withscores=True),
            )
            if not ranked:
                return []
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(k.final, [m for m, _ in ranked])
                pipe.get(k.final_info)
                rows, info_raw = await pipe.execute()
        truth = None if info_raw is None else _info_decoder.decode(info_raw).truth
        out: list[tuple[MemberId, Standing]] = []
        for (m, rank), row in zip(ranked, rows, strict=True):
            if row is None:
                raise CorruptData(f"{text(m)!r} is in final:order but not in final")
            out.append((MemberId(text(m)), self._standing(int(rank), row, truth)))
        return out
