"""Contests in Redis: create, read, edit drafts, move through the lifecycle.

Keys (``P`` = key prefix; ``C`` = contest id)::

    P:contests        hash  contest id -> msgpack Contest (the definition; never removed,
                            so an id is never reused)
    P:{C}:meta        hash  what scripts and gateways read (see Contest.meta()), and
                            ``state``: the contest's lifecycle state (authoritative)
    P:{C}:history     list  JSON {"event", "state", "at"} per transition, oldest first
    P:contests:active set   ids of contests not yet finalized, cancelled or deleted (what
                            the scheduler reads every second: list(active_only=True))

The state lives in the contest's own ``meta`` hash, not in the definition, so a transition
is one Lua compare-and-set on one key's slot (it also runs on Redis Cluster) that appends
to the history in the same call, with Redis's clock: two processes firing the same event
(the scheduler in every gateway, an organiser) move the contest once; the loser sees the
new state and gets :class:`~engine.core.errors.IllegalTransition`. Every transition publishes
``engine.core.messages.StateChanged`` on the contest's channel, which every gateway relays.

Only a ``draft`` may be edited. Deleting hides the contest (``deleted``) and removes its
scoring data (boards, answers, attempts); the definition, ``meta`` and history stay.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec

from engine.contests.modes import mode_of
from engine.core import lifecycle, messages
from engine.core.contest import Contest, ContestSpec, Eligibility, Transition, check_spec
from engine.core.errors import (
    ContestExists,
    ContestInvalid,
    ContestNotFound,
    Forbidden,
    IllegalTransition,
    OrgNotFound,
)
from engine.core.lifecycle import Event, State
from engine.directory.banks import BankStore
from engine.directory.orgs import OrgStore
from engine.modes.base import Runner
from engine.runtime.lease import Lease
from engine.runtime.redisconn import AsyncRedis, on_node, publish
from question_bank.errors import BankNotFound
from question_bank.ids import ContestId, OrgId
from question_bank.models import Bank
from scoring.keys import DEFAULT_PREFIX, ContestKeys, ContestShards, GlobalKeys

__all__ = ["FINALIZE_LEASE_MS", "ContestStore", "active_key", "history_key"]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Contest)
_TRANSITION = msgspec.json.Decoder(Transition)

# KEYS[1] = P:{C}:meta, KEYS[2] = P:{C}:history
# ARGV[1] = expected state, ARGV[2] = new state, ARGV[3] = event,
# ARGV[4] = "1" if a missing state counts as the expected one (meta not written yet)
# Returns {1, new state, at} if moved, else {0, current state or ""}.
_MOVE = """
local current = redis.call('HGET', KEYS[1], 'state')
if current == false then
  if ARGV[4] ~= '1' then return {0, ''} end
elseif current ~= ARGV[1] then
  return {0, current}
end
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('RPUSH', KEYS[2],
  '{"event":"' .. ARGV[3] .. '","state":"' .. ARGV[2] .. '","at":' .. at .. '}')
return {1, ARGV[2], at}
"""

# KEYS[1] = P:{C}:deadlines; ARGV[1] = P:{C} (the contest's key base), ARGV[2] = close time
# Every open window attempt whose deadline is after the round's close ends at the close
# (never before it started): its hash's deadline and its entry in the deadline queue move,
# so the attempt script refuses later answers as late and the sweep expires it.
# Returns {attempts cut, Redis now}.
FINALIZE_LEASE_MS = 10_000
"""Time-to-live of a contest's finalize lease (renewed while finalize runs): how long a
finalize that died holds the next one off."""

_KEEP_ON_DELETE = (":meta", ":history", ":online")


def active_key(prefix: str = DEFAULT_PREFIX) -> str:
    """set: ids of contests in a state that may still move on its own (not terminal)."""
    return f"{prefix}:contests:active"


def history_key(contest: ContestId, prefix: str = DEFAULT_PREFIX) -> str:
    """list: the contest's lifecycle transitions (same hash tag as the contest)."""
    return f"{ContestKeys(contest, prefix).base}:history"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _definition(spec: ContestSpec, version: int) -> dict[str, Any]:
    """The fields of a :class:`Contest` that its checked *spec* defines, with the bank pinned
    to *version*: what :meth:`ContestStore.create` sets and :meth:`ContestStore.update`
    replaces."""
    return {
        "title": spec.title,
        "description": spec.description,
        "mode": spec.mode,
        "bank": spec.bank,
        "bank_version": version,
        "draw": spec.draw,
        "live": spec.live,
        "window": spec.window,
        "scoring": spec.scoring,
        "eligibility": spec.eligibility,
        "shards": spec.shards,
    }


class ContestStore:
    """Every organisation's contests in one Redis, under key prefix *prefix*."""

    def __init__(self, redis_client: AsyncRedis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self.keys = GlobalKeys(prefix)
        self.banks = BankStore(redis_client, prefix)
        self._move = redis_client.register_script(_MOVE)

    # ------------------------------------------------------------------ reading

    async def now_ms(self) -> int:
        """Redis's clock, the one every deadline is checked against."""
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def get(self, contest_id: ContestId | str, *, include_deleted: bool = False) -> Contest:
        """A contest with its current state; :class:`ContestNotFound` if none (or deleted)."""
        raw: Any = await self.redis.hget(self.keys.contests, contest_id)
        if raw is None:
            raise ContestNotFound(f"no contest {contest_id!r}")
        (contest,) = await self._complete([_DECODER.decode(raw)])
        if contest.state == "deleted" and not include_deleted:
            raise ContestNotFound(f"contest {contest_id!r} was deleted")
        return contest

    async def get_owned(self, org: OrgId, contest_id: ContestId | str) -> Contest:
        """A contest of *org*; :class:`Forbidden` if it belongs to another organisation."""
        contest = await self.get(contest_id)
        if not contest.owned_by(org):
            raise Forbidden(f"contest {contest_id!r} belongs to another organisation")
        return contest

    async def list(
        self,
        org: OrgId | None = None,
        *,
        include_deleted: bool = False,
        active_only: bool = False,
    ) -> builtins.list[Contest]:
        """Contests (of *org*, or all), oldest first (ties in the same millisecond by id).
        *active_only*: only those not yet finalized, cancelled or deleted, read through the
        active index (cheap however many contests have ever existed)."""
        blobs: builtins.list[Any]
        if active_only:
            ids = sorted(await self.redis.smembers(active_key(self.prefix)))
            blobs = await self.redis.hmget(self.keys.contests, ids) if ids else []
        else:
            raw: dict[Any, Any] = await self.redis.hgetall(self.keys.contests)
            blobs = list(raw.values())
        found = [_DECODER.decode(cast(bytes, blob)) for blob in blobs if blob is not None]
        found = [c for c in found if org is None or c.org == org]
        contests = await self._complete(found)
        if active_only:
            contests = [c for c in contests if not lifecycle.is_terminal(c.state)]
        elif not include_deleted:
            contests = [c for c in contests if c.state != "deleted"]
        return sorted(contests, key=lambda c: (c.created_at, c.id))

    async def due(self, now_ms: int) -> builtins.list[tuple[Contest, Event]]:
        """Contests whose timed lifecycle event is due at *now_ms*, with that event."""
        due: builtins.list[tuple[Contest, Event]] = []
        for contest in await self.list(active_only=True):
            event = contest.due_event(now_ms)
            if event is not None:
                due.append((contest, event))
        return due

    async def bank(self, contest: Contest) -> Bank:
        """The bank version the contest is pinned to."""
        return await self.banks.get(contest.org, contest.bank, contest.bank_version)

    async def _complete(self, contests: builtins.list[Contest]) -> builtins.list[Contest]:
        """Overlay each definition with its state and history from the contest's keys."""
        if not contests:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for contest in contests:
                pipe.hget(ContestKeys(contest.id, self.prefix).meta, "state")
                pipe.lrange(history_key(contest.id, self.prefix), 0, -1)
            replies: builtins.list[Any] = await pipe.execute()
        completed = []
        for i, contest in enumerate(contests):
            state, history = replies[2 * i], replies[2 * i + 1]
            completed.append(
                msgspec.structs.replace(
                    contest,
                    state=contest.state if state is None else _text(state),
                    history=[_TRANSITION.decode(entry) for entry in history],
                )
            )
        return completed

    # ------------------------------------------------------------------ writing

    async def _checked(self, org: OrgId, spec: ContestSpec, now: int) -> tuple[int, ContestSpec]:
        """The bank version to pin and *spec* with defaults filled in; ContestInvalid if bad."""
        version = spec.bank_version
        bank: Bank | None = None
        bank_problem = None
        try:
            if version is None:
                version = await self.banks.latest_version(org, spec.bank)
            bank = await self.banks.get(org, spec.bank, version)
        except BankNotFound as exc:
            bank_problem = f"{exc} (an organisation runs contests from its own banks only)"
        if not spec.eligibility.restricted:
            try:
                owner = await OrgStore(self.redis, self.prefix).get(org)
            except OrgNotFound:
                owner = None
            if owner is not None and owner.kind == "province" and owner.province:
                spec = msgspec.structs.replace(
                    spec, eligibility=Eligibility(provinces=[owner.province])
                )
        problems = check_spec(spec, bank, now_ms=now, bank_problem=bank_problem)
        if problems:
            raise ContestInvalid(problems)
        assert version is not None
        return version, spec

    async def create(
        self, org: OrgId, spec: ContestSpec, *, campaign: ContestId | None = None
    ) -> Contest:
        """Store a new ``draft`` contest of *org*, pinned to a bank version (a round of
        *campaign* when given: only the campaign store passes one).

        :class:`ContestInvalid` lists every problem; :class:`ContestExists` if the id was
        ever used.
        """
        now = await self.now_ms()
        version, spec = await self._checked(org, spec, now)
        contest_id = spec.id or ContestId(f"c-{secrets.token_hex(6)}")
        contest = Contest(
            id=contest_id,
            org=org,
            **_definition(spec, version),
            state="draft",
            created_at=now,
            updated_at=now,
            campaign=campaign,
        )
        created = await self.redis.hsetnx(self.keys.contests, contest_id, _ENCODER.encode(contest))
        if not created:
            raise ContestExists(f"contest id {contest_id!r} is taken")
        meta: dict[Any, Any] = contest.meta()
        await self.redis.hset(ContestKeys(contest_id, self.prefix).meta, mapping=meta)
        await self.redis.sadd(active_key(self.prefix), contest_id)
        return contest

    async def update(self, org: OrgId, contest_id: ContestId | str, spec: ContestSpec) -> Contest:
        """Replace a draft's definition (its id, owner and creation time stay)."""
        current = await self.get_owned(org, contest_id)
        if not lifecycle.is_editable(current.state):
            raise IllegalTransition(current.state, "edit")
        now = await self.now_ms()
        version, spec = await self._checked(org, msgspec.structs.replace(spec, id=None), now)
        contest = msgspec.structs.replace(
            current,
            **_definition(spec, version),
            updated_at=now,
            history=[],
        )
        meta = ContestKeys(contest.id, self.prefix).meta
        fields: dict[Any, Any] = contest.meta()
        del fields["state"]  # the state is only ever moved by apply()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.contests, contest.id, _ENCODER.encode(contest))
            pipe.hdel(
                meta, "closes_at", "attempt_ms", "attempts_allowed", "board_updates", "question_ms"
            )
            pipe.hset(meta, mapping=fields)
            await pipe.execute()
        return await self.get(contest.id)

    async def apply(
        self, contest_id: ContestId | str, event: Event, *, org: OrgId | None = None
    ) -> Contest:
        """Move a contest by *event* (of *org*, when given) and tell every gateway.

        :class:`IllegalTransition` if the contest's state does not allow it, including when
        another process moved it first.
        """
        for _ in range(10):
            contest = await self.get(contest_id, include_deleted=True)
            if org is not None and not contest.owned_by(org):
                raise Forbidden(f"contest {contest_id!r} belongs to another organisation")
            if contest.state == "deleted":
                raise ContestNotFound(f"contest {contest_id!r} was deleted")
            target = lifecycle.next_state(contest.mode, contest.state, event)
            if event == "schedule" and contest.window is not None:
                await self._check_schedulable(contest)
            keys = ContestKeys(contest.id, self.prefix)
            missing_ok = "1" if not contest.history and contest.state == "draft" else "0"
            reply: builtins.list[Any] = await self._move(
                keys=[keys.meta, history_key(contest.id, self.prefix)],
                args=[contest.state, target, event, missing_ok],
            )
            if int(reply[0]) == 1:
                at = int(reply[2])
                if lifecycle.is_terminal(target):
                    await self.redis.srem(active_key(self.prefix), contest.id)
                await self.runner(contest).after_move(contest, event, at)
                await self._announce(contest.id, target, at)
                if target == "deleted":
                    await self._purge(contest.id)
                return await self.get(contest.id, include_deleted=True)
        raise IllegalTransition(contest.state, event)  # pragma: no cover - endless races

    def runner(self, contest: Contest) -> Runner:
        """The contest's mode's runner (what follows a move, the final standings)."""
        return mode_of(contest).runner(self.redis, self.prefix)

    async def finalize_standings(self, contest: Contest) -> None:
        """Compute and store the final standings (the scoring core's finalize with the
        tie-break chain; idempotent), as the contest's mode ranks: a live show by score
        then time; a window round with its prediction question's measure."""
        await self.runner(contest).final_standings(contest, self.bank)

    async def finalize(
        self,
        contest_id: ContestId | str,
        *,
        org: OrgId | None = None,
        standings: Callable[[Contest], Awaitable[None]] | None = None,
    ) -> Contest:
        """Compute a closed contest's final standings (*standings*, by default
        :meth:`finalize_standings`), then move it to ``finalized``.

        One finalize at a time per contest, under the lease ``P:{C}:lease:finalize``: two
        runs at once (the scheduler and an organiser) would write the same temporary keys
        and swap each other's half-written standings in. The one that does not get the lease
        is refused with :class:`IllegalTransition` (state ``finalizing``), like the loser of
        any other race for a move.
        """
        contest = await self.get(contest_id)
        if org is not None and not contest.owned_by(org):
            raise Forbidden(f"contest {contest_id!r} belongs to another organisation")
        lifecycle.next_state(contest.mode, contest.state, "finalize")
        lease = Lease(
            self.redis,
            ContestKeys(contest.id, self.prefix).lease("finalize"),
            ttl_ms=FINALIZE_LEASE_MS,
        )
        if not await lease.acquire():
            raise IllegalTransition("finalizing", "finalize")
        compute = standings or self.finalize_standings

        async def work() -> Contest:
            # Re-read under the lease: another finalize may have ended since the read above.
            current = await self.get(contest.id)
            lifecycle.next_state(current.mode, current.state, "finalize")
            await compute(current)
            return await self.apply(current.id, "finalize", org=org)

        return await lease.hold(work)

    async def _check_schedulable(self, contest: Contest) -> None:
        """A window round is scheduled only while its window is still ahead: a draft left
        until its ``closes_at`` passed would otherwise open, close and finalize at once with
        nobody in it. :class:`ContestInvalid` says to edit its times."""
        assert contest.window is not None
        if contest.window.closes_at <= await self.now_ms():
            raise ContestInvalid(
                [
                    {
                        "field": "window.closes_at",
                        "message": "is already past: edit the times, then schedule",
                    }
                ]
            )

    async def _announce(self, contest_id: ContestId, state: State, at: int) -> None:
        frame = messages.encode(messages.StateChanged(state=state, at=at))
        await publish(self.redis, self.keys.channel(contest_id), frame)

    async def _purge(self, contest_id: ContestId) -> None:
        """Remove a deleted contest's scoring data (keeps meta, history, presence), on its
        own slot and, sharded, on every shard's."""
        contest = await self.get(contest_id, include_deleted=True)
        keys = ContestKeys(contest_id, self.prefix)
        places = ContestShards(contest_id, self.prefix, contest.shards).keys
        for place in (keys, *places) if contest.shards > 1 else (keys,):
            await self._purge_keys(place)

    async def _purge_keys(self, keys: ContestKeys) -> None:
        batch: builtins.list[Any] = []
        # On a cluster, only the node holding the slot has its keys.
        where = await on_node(self.redis, keys.meta)
        async for key in self.redis.scan_iter(match=keys.pattern(), count=1000, **where):
            if not _text(key).endswith(_KEEP_ON_DELETE):
                batch.append(key)
            if len(batch) >= 500:
                await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            await self.redis.unlink(*batch)
