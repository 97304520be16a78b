"""Redis key builders: the one place key names are spelled.

Every key of one contest carries the contest id as its hash tag (``ce:{C}:...``), so a
whole contest lives on one Redis Cluster slot and its Lua scripts may touch any of its
keys. Keys that belong to no contest (banks, organisations, API keys) have their own
builders below. Times are integer milliseconds since the epoch, read from Redis's own
clock (``TIME``) inside scripts so that gateways with skewed clocks agree.

Data model of one contest ``C`` (``P`` = prefix, default ``ce``)::

    P:{C}:meta                 hash   contest settings the scripts need (mode, speed, streak...)
    P:{C}:profiles             hash   member -> msgpack/json profile (name, province, unit)
    P:{C}:q:<qid>              hash   live question state: opens, deadline, points, ...
    P:{C}:ans:<qid>            hash   member -> recorded answer (first one wins: HSETNX)
    P:{C}:dist:<qid>           hash   choice -> how many members chose it (live and window)
    P:{C}:answered             hash   qid -> answers accepted in window attempts (statistics)
    P:{C}:ok:<qid>             set    members who answered the question fully correctly
    P:{C}:players              set    members in a live show with elimination (joined/answered)
    P:{C}:out                  set    eliminated members (live, elimination rule)
    P:{C}:out:<qid>            set    members eliminated when that question closed
    P:{C}:streak               hash   member -> "<idx>:<streak>" of their last correct answer
    P:{C}:totals               hash   member -> total points
    P:{C}:times                hash   member -> time used (ms), the live tie-break
    P:{C}:lb                   zset   member -> composite(score, time used): global board
    P:{C}:lb:p:<province>      zset   the same, one province
    P:{C}:lb:u:<unit>          zset   the same, one unit
    P:{C}:audit                stream every accepted answer, in order; boards rebuild from it
    P:{C}:att:<member>:<n>     hash   window attempt n of a member (draw, deadline, answers)
    P:{C}:attn                 hash   member -> number of attempts started
    P:{C}:best                 hash   member -> best attempt's summary (window rounds)
    P:{C}:deadlines            zset   "member:n" -> attempt deadline (automatic close)
    P:{C}:units:part           hash   unit -> participants
    P:{C}:units:done           hash   unit -> members with a completed attempt
    P:{C}:done                 set    members counted in units:done (each once)
    P:{C}:final                hash   member -> final standing row (after finalize)
    P:{C}:final:order          zset   member -> final rank (after finalize)
    P:{C}:final:info           string finalize summary (JSON): measure, truth, ranked, at
    P:{C}:show                 hash   live show's plan and state (engine.live.conductor)
    P:{C}:lease:<job>          string holder of a job's lease (engine.runtime.lease), e.g. conductor

A member-sharded live show (``shards`` S > 1, docs/scoring.md "Sharded live shows") keeps
its contest-level keys (meta, q:<qid>, show, lease, profiles, final...) under ``{C}`` and puts
each member's keys (ans, audit, totals, times, boards, streak, players, out, dist, ok,
units:part, and a copy of meta and q:<qid> for the scripts) under the member's shard's
tag ``{C~i~n}`` (:func:`shard_tag`), one slot per shard; with S = 1 there is no shard tag
and every key is as above.

The composite leaderboard score orders by score (desc) then time used (asc) in one float:
``score * 2**32 + (2**32 - 1 - time_used_ms)``; exact for scores below 2**20. Equal
composites share a rank: ``rank = ZCOUNT(lb, "(" .. composite, "+inf") + 1``.
"""

from __future__ import annotations

import zlib
from binascii import crc_hqx
from functools import lru_cache

from question_bank.ids import BankId, ContestId, OrgId, ProvinceId, QuestionId, UnitId

__all__ = [
    "CLUSTER_SLOTS",
    "DEFAULT_PREFIX",
    "MAX_SHARDS",
    "ContestKeys",
    "ContestShards",
    "GlobalKeys",
    "key_slot",
    "shard_of",
    "shard_tag",
]

DEFAULT_PREFIX = "ce"

MAX_SHARDS = 32
"""Most member shards of one contest (a contest's ``shards`` is 1..MAX_SHARDS)."""

CLUSTER_SLOTS = 16384
"""Hash slots of a Redis Cluster."""


class ContestKeys:
    """Key names of one contest; every one carries the contest's hash tag."""

    __slots__ = ("base", "contest", "prefix")

    def __init__(
        self, contest: ContestId, prefix: str = DEFAULT_PREFIX, *, tag: str | None = None
    ) -> None:
        self.prefix = prefix
        self.contest = contest
        self.base = f"{prefix}:{{{contest if tag is None else tag}}}"
        """``P:{C}``, or ``P:{tag}`` for the keys of one shard of a sharded contest."""

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def profiles(self) -> str:
        return f"{self.base}:profiles"

    def question(self, question: QuestionId) -> str:
        return f"{self.base}:q:{question}"

    def answers(self, question: QuestionId) -> str:
        return f"{self.base}:ans:{question}"

    def distribution(self, question: QuestionId) -> str:
        return f"{self.base}:dist:{question}"

    @property
    def answered(self) -> str:
        return f"{self.base}:answered"

    def correct(self, question: QuestionId) -> str:
        return f"{self.base}:ok:{question}"

    @property
    def players(self) -> str:
        return f"{self.base}:players"

    @property
    def eliminated(self) -> str:
        return f"{self.base}:out"

    def eliminated_at(self, question: QuestionId) -> str:
        return f"{self.base}:out:{question}"

    @property
    def streaks(self) -> str:
        return f"{self.base}:streak"

    @property
    def completed_members(self) -> str:
        return f"{self.base}:done"

    @property
    def totals(self) -> str:
        return f"{self.base}:totals"

    @property
    def times(self) -> str:
        return f"{self.base}:times"

    @property
    def leaderboard(self) -> str:
        return f"{self.base}:lb"

    def province_board(self, province: ProvinceId) -> str:
        return f"{self.base}:lb:p:{province}"

    def unit_board(self, unit: UnitId) -> str:
        return f"{self.base}:lb:u:{unit}"

    @property
    def audit(self) -> str:
        return f"{self.base}:audit"

    def attempt(self, member: str, number: int) -> str:
        return f"{self.base}:att:{member}:{number}"

    @property
    def attempt_counts(self) -> str:
        return f"{self.base}:attn"

    @property
    def best(self) -> str:
        return f"{self.base}:best"

    @property
    def deadlines(self) -> str:
        return f"{self.base}:deadlines"

    @property
    def unit_participants(self) -> str:
        return f"{self.base}:units:part"

    @property
    def unit_completed(self) -> str:
        return f"{self.base}:units:done"

    @property
    def final(self) -> str:
        return f"{self.base}:final"

    @property
    def final_order(self) -> str:
        return f"{self.base}:final:order"

    @property
    def final_info(self) -> str:
        return f"{self.base}:final:info"

    @property
    def show(self) -> str:
        return f"{self.base}:show"

    def lease(self, job: str) -> str:
        return f"{self.base}:lease:{job}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of the contest."""
        return f"{self.base}:*"


class GlobalKeys:
    """Keys that belong to no single contest."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix

    def bank_versions(self, org: OrgId, bank: BankId) -> str:
        """hash: version number -> encoded bank (msgpack)."""
        return f"{self.prefix}:bank:{org}:{bank}:versions"

    def bank_index(self, org: OrgId) -> str:
        """hash: bank id -> latest version number."""
        return f"{self.prefix}:banks:{org}"

    @property
    def api_keys(self) -> str:
        """hash: sha256(api key) -> organisation id."""
        return f"{self.prefix}:apikeys"

    @property
    def organisations(self) -> str:
        """hash: organisation id -> encoded organisation."""
        return f"{self.prefix}:orgs"

    @property
    def units(self) -> str:
        """hash: unit id -> encoded unit (name, province, registered members)."""
        return f"{self.prefix}:units"

    @property
    def contests(self) -> str:
        """hash: contest id -> encoded contest definition."""
        return f"{self.prefix}:contests"

    def lease(self, job: str) -> str:
        """string: holder of a lease on a job of no single contest (engine.runtime.lease)."""
        return f"{self.prefix}:lease:{job}"

    def channel(self, contest: ContestId) -> str:
        """Pub/sub channel of a contest's broadcasts, relayed by every gateway."""
        return f"{self.prefix}:events:{{{contest}}}"

    def notices(self, contest: ContestId) -> str:
        """Pub/sub channel of a contest's notices between engine processes (never relayed
        as they are: each gateway acts on them for its own members, engine.gateway.relay)."""
        return f"{self.prefix}:notices:{{{contest}}}"


def key_slot(tag: str) -> int:
    """The Redis Cluster slot of a key whose hash tag is *tag* (CRC16-XMODEM, as Redis)."""
    return crc_hqx(tag.encode(), 0) % CLUSTER_SLOTS


@lru_cache(maxsize=4096)
def shard_tag(contest: ContestId, index: int, shards: int) -> str:
    """The hash tag of shard *index* of *shards* of *contest*: ``C~index~n``, with the
    smallest ``n`` that puts its slot in the middle half of the *index*-th of *shards* equal
    parts of the slot space. A cluster whose slots are split evenly over its primaries
    (``redis-cli --cluster create`` does) so holds shards 0..S-1 on distinct primaries when
    S is at most the number of primaries. ``~`` is never in a contest id, so no shard tag
    is another contest's."""
    if not 0 <= index < shards <= MAX_SHARDS:
        raise ValueError(f"no shard {index} of {shards}")
    width = CLUSTER_SLOTS / shards
    low = int(index * width + width / 4)
    high = int(index * width + 3 * width / 4)
    n = 0
    while not low <= key_slot(f"{contest}~{index}~{n}") < high:
        n += 1
    return f"{contest}~{index}~{n}"


def shard_of(member: str, shards: int) -> int:
    """The shard of *member* among *shards*: CRC-32 of its id (UTF-8) modulo *shards*;
    stable across processes, versions and restarts."""
    if shards == 1:
        return 0
    return zlib.crc32(member.encode()) % shards


class ContestShards:
    """The key sets of one contest's member shards: ``keys[i]`` for shard *i*; with one
    shard, the contest's own keys (``contest``). Raises ``ValueError`` for a count outside
    1..:data:`MAX_SHARDS`."""

    __slots__ = ("contest", "count", "keys")

    def __init__(self, contest: ContestId, prefix: str = DEFAULT_PREFIX, shards: int = 1) -> None:
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards must be 1..{MAX_SHARDS}, not {shards}")
        self.count = shards
        self.contest = ContestKeys(contest, prefix)
        self.keys: tuple[ContestKeys, ...] = (
            (self.contest,)
            if shards == 1
            else tuple(
                ContestKeys(contest, prefix, tag=shard_tag(contest, i, shards))
                for i in range(shards)
            )
        )

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def index(self, member: str) -> int:
        """The shard of *member*."""
        return shard_of(member, self.count)

    def of(self, member: str) -> ContestKeys:
        """The keys of *member*'s shard."""
        return self.keys[shard_of(member, self.count)]
