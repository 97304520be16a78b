r"""Relay: contest broadcasts from Redis pub/sub to this process's member sockets.

Whoever publishes an event every member must see (the conductor: question released,
reveal, leaderboard; the scheduler: state changes) encodes it once as an
:mod:`engine.core.messages` server message and publishes the bytes on
``GlobalKeys.channel(contest)``. Every gateway process runs one :class:`Relay`: one Redis
connection pattern-subscribed to every contest's channel, which hands each frame *as is*
to :func:`engine.gateway.frames.write_text` over the contest's local sockets: the WebSocket
frame is built once and its bytes written to each socket's buffer without awaiting any of
them, so a slow member never delays the others. The cyclic garbage collector is paused for
the write loop, so a collection over a gateway's many objects never lands between the first
and the last member.

The relay stamps the contest's ``last_broadcast`` time (one dict write per broadcast, not
per socket); the gateway's sweep counts it as activity of every member of the contest, so
a member whose room hears a frame within ``ping_interval`` gets no WebSocket ping.

After the write, the relay peeks at the frame's ``type`` (a two-field decode, not the whole
message) and calls the ``after`` hook with it, so the gateway can follow a reveal with
each member's own points and rank, or a close with each member's final standing.

Notices are for some members only, so they are never broadcast: the same connection is
subscribed to every contest's notice channel (``GlobalKeys.notices``) and hands each
decoded :class:`AttemptsExpired` to the ``notice`` hook, which finds the members concerned
among this process's sockets. The scheduler publishes one whenever its sweep expires
window attempts (:func:`engine.window.notices.expire_attempts`), so a member connected to
any gateway process gets their attempt's ``expired`` state at once.

On a Redis Cluster (:func:`engine.runtime.redisconn.connect` gave a ``RedisCluster``) pattern
subscriptions would reach every node with every broadcast, so publishers use sharded pub/sub
(``SPUBLISH``, :func:`engine.runtime.redisconn.publish`, Redis 7) and the relay
``SSUBSCRIBE``\ s, on the node holding each channel's slot (the contest's slot: the channel
carries the contest's hash tag), to the two channels of each contest that has members in this
process: the gateway calls :meth:`Relay.watch` before a member's join reads the contest's
state (so no broadcast falls between the read and the subscription) and :meth:`Relay.unwatch`
when its room is empty. redis-py's ``ClusterPubSub`` follows a channel to its new node after a
failover or a slot migration; if every node is lost, the relay subscribes again and calls
``resubscribed`` as with one Redis. With one Redis :meth:`Relay.watch` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import msgspec
import redis.asyncio.cluster
from redis.exceptions import RedisClusterException, RedisError

from engine.gateway.frames import Socket, write_text
from engine.runtime.counters import child
from engine.runtime.logs import FailureLog
from engine.runtime.metrics import BROADCAST_RECIPIENTS, BROADCAST_SECONDS, MESSAGES_OUT
from engine.runtime.redisconn import AsyncRedis
from engine.window.notices import AttemptsExpired, decode_notice
from question_bank.ids import ContestId
from scoring.keys import GlobalKeys

__all__ = ["Peek", "Relay", "contest_of_channel"]

log = logging.getLogger(__name__)


class Peek(msgspec.Struct):
    """The two fields of a broadcast frame the relay reads."""

    type: str = ""
    sent_at: int = 0


_peek = msgspec.json.Decoder(Peek).decode

SHARDED_POLL_SECONDS = 0.05
"""Longest wait of one poll of the sharded subscriptions. ``ClusterPubSub`` polls the nodes
holding watched channels in turn, splitting this among them, so a frame on one node waits at
most about this long while the relay listens on another (one node: no wait)."""

AfterHook = Callable[[ContestId, Peek, bytes], Coroutine[Any, Any, None]]


NoticeHook = Callable[[ContestId, AttemptsExpired], Coroutine[Any, Any, None]]


def contest_of_channel(channel: str) -> ContestId | None:
    """The contest id inside a channel name ``P:events:{C}``."""
    start = channel.find("{")
    end = channel.rfind("}")
    if start < 0 or end <= start:
        return None
    return ContestId(channel[start + 1 : end])


class Relay:
    """Subscribes to every contest's channel and broadcasts each frame to local sockets.

    *rooms* maps a contest to the set of its joined members' connections in this process
    (the gateway owns and updates it); *clock* gives the server time in ms.
    """

    def __init__(
        self,
        redis_client: AsyncRedis,
        rooms: Mapping[ContestId, Iterable[Socket]],
        *,
        prefix: str,
        clock: Callable[[], int],
        after: AfterHook | None = None,
        follow: frozenset[str] = frozenset({"reveal", "state"}),
        resubscribed: Callable[[], Coroutine[Any, Any, None]] | None = None,
        notice: NoticeHook | None = None,
    ) -> None:
        self.redis = redis_client
        self.rooms = rooms
        self.pattern = GlobalKeys(prefix).channel(ContestId("*"))
        self.notice_pattern = GlobalKeys(prefix).notices(ContestId("*"))
        self.notice = notice
        """Called with each notice (for some members only: never broadcast)."""
        self.clock = clock
        self.after = after
        self.follow = follow
        self.resubscribed = resubscribed
        """Called after a lost subscription is back: broadcasts in between were missed."""
        """Message types that call *after* (others are only relayed)."""
        self.ready = asyncio.Event()
        self.subscriptions = 0
        """Times the relay has (re)subscribed: 1 after start, more after lost connections."""
        self.last_broadcast: dict[ContestId, int] = {}
        """When (server ms) a frame was last broadcast to each contest's local sockets."""
        self._task: asyncio.Task[None] | None = None
        self._followups: set[asyncio.Task[None]] = set()
        self.sharded = isinstance(redis_client, redis.asyncio.cluster.RedisCluster)
        """Sharded pub/sub, one subscription per watched contest (a Redis Cluster)."""
        self.watched: set[ContestId] = set()
        """Contests whose channels are subscribed (sharded mode only)."""
        self._keys = GlobalKeys(prefix)
        self._notice_prefix = self.notice_pattern.partition("{")[0]
        self._sharded_pubsub: redis.asyncio.cluster.ClusterPubSub | None = None
        self._pending: dict[ContestId, asyncio.Future[None]] = {}
        self._watching = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay")
        await self.ready.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._followups):
            task.cancel()
        if self._followups:
            await asyncio.gather(*self._followups, return_exceptions=True)

    def _channels(self, contest: ContestId) -> tuple[str, str]:
        return self._keys.channel(contest), self._keys.notices(contest)

    async def watch(self, contest: ContestId) -> None:
        """Receive *contest*'s broadcasts and notices from now on: on a cluster, subscribe
        to its shard channels (once; a second caller waits for the first one's
        subscription); with one Redis they already arrive. Redis errors propagate (the
        caller refuses the join as unavailable)."""
        if not self.sharded:
            return
        pending = self._pending.get(contest)
        if pending is not None:
            await asyncio.shield(pending)
            return
        if contest in self.watched:
            return
        self.watched.add(contest)
        self._watching.set()
        pubsub = self._sharded_pubsub
        if pubsub is None:
            return  # the relay is (re)connecting: it subscribes to every watched contest
        subscribing = asyncio.ensure_future(pubsub.ssubscribe(*self._channels(contest)))
        self._pending[contest] = subscribing
        try:
            await asyncio.shield(subscribing)
        except BaseException:
            self.watched.discard(contest)
            raise
        finally:
            self._pending.pop(contest, None)

    async def unwatch(self, contest: ContestId) -> None:
        """Stop receiving *contest*'s channels (on a cluster; its room is empty)."""
        if contest not in self.watched:
            return
        self.watched.discard(contest)
        pubsub = self._sharded_pubsub
        if pubsub is not None:
            with contextlib.suppress(RedisError, RedisClusterException, OSError):
                await pubsub.sunsubscribe(*self._channels(contest))

    def _subscribed(self) -> None:
        self.subscriptions += 1
        self.ready.set()
        if self.subscriptions > 1 and self.resubscribed is not None:
            task = asyncio.create_task(self.resubscribed())
            self._followups.add(task)
            task.add_done_callback(self._followups.discard)

    async def _run(self) -> None:
        # Reconnect with a back-off if Redis goes away; broadcasts published meanwhile
        # are lost for this process's members, who get their state back on resume.
        if self.sharded:
            await self._run_sharded()
            return
        delay = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.pattern, self.notice_pattern)
                self._subscribed()
                delay = 0.1
                notices = self.notice_pattern.encode()
                async for message in pubsub.listen():
                    if message["type"] != "pmessage":
                        continue
                    if message["pattern"] in (notices, self.notice_pattern):
                        self.hand_notice(message["channel"], message["data"])
                    else:
                        self.deliver(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, RedisClusterException, OSError) as exc:
                log.warning("relay lost Redis (%s); resubscribing in %.1fs", exc, delay)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _run_sharded(self) -> None:
        """The relay's loop on a Redis Cluster: sharded subscriptions to watched contests."""
        assert isinstance(self.redis, redis.asyncio.cluster.RedisCluster)
        delay = 0.1
        failures = FailureLog(log, "relay subscription to the Redis Cluster")
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                # Published before the channels are read, with no await in between: a
                # contest watched from now on subscribes itself (watch).
                self._sharded_pubsub = pubsub
                channels = [c for contest in self.watched for c in self._channels(contest)]
                if channels:
                    await pubsub.ssubscribe(*channels)
                self._subscribed()
                failures.succeeded()
                delay = 0.1
                while True:
                    if not self.watched:
                        self._watching.clear()
                        await self._watching.wait()
                        continue
                    if not pubsub.node_pubsub_mapping:  # a subscription is being made
                        await asyncio.sleep(0.01)
                        continue
                    message = await pubsub.get_sharded_message(
                        ignore_subscribe_messages=True, timeout=SHARDED_POLL_SECONDS
                    )
                    if message is None or message["type"] not in (b"smessage", "smessage"):
                        continue
                    channel = message["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else channel
                    if name.startswith(self._notice_prefix):
                        self.hand_notice(name, message["data"])
                    else:
                        self.deliver(name, message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, RedisClusterException, OSError) as exc:
                # A primary gone: re-read which node serves each slot (its replica, once
                # promoted) before subscribing again, at least once a second.
                failures.failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                with contextlib.suppress(RedisError, RedisClusterException, OSError):
                    await self.redis.nodes_manager.initialize()
            finally:
                self._sharded_pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def hand_notice(self, channel: bytes | str, data: bytes | str) -> bool:
        """Hand one notice to the ``notice`` hook (as a task); False if it was dropped (not
        on a contest's channel, not a notice, or no hook)."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        contest = contest_of_channel(name)
        if contest is None or self.notice is None:
            return False
        try:
            notice = decode_notice(data)
        except msgspec.MsgspecError:
            log.warning("dropped a notice on %s that is not one", name)
            return False
        task = asyncio.create_task(self.notice(contest, notice))
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)
        return True

    def deliver(self, channel: bytes | str, data: bytes | str) -> int | None:
        """Broadcast one published frame to the contest's local sockets (no awaiting).

        Returns how many sockets it was written to, or ``None`` if it was dropped: not on a
        contest's channel, or not a JSON object (so never a server message)."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        contest = contest_of_channel(name)
        if contest is None:
            return None
        frame = data.encode() if isinstance(data, str) else data
        conns = self.rooms.get(contest)
        try:
            peek = _peek(frame)
        except msgspec.MsgspecError:
            log.warning("dropped a broadcast on %s that is not a server message", name)
            return None
        count = 0
        if conns:
            # No garbage collection in the middle of the write loop: with thousands of
            # members a full collection takes hundreds of ms and would hold up every
            # member after it. A collection that is due runs right after the last write.
            collecting = gc.isenabled()
            gc.disable()
            try:
                count = write_text(list(conns), frame)
            finally:
                if collecting:
                    gc.enable()
            self.last_broadcast[contest] = self.clock()
        kind = peek.type or "unknown"
        if count:
            child(BROADCAST_RECIPIENTS, kind).inc(count)
            child(MESSAGES_OUT, kind).inc(count)
        if peek.sent_at:
            child(BROADCAST_SECONDS, kind).observe(max(0, self.clock() - peek.sent_at) / 1000)
        if self.after is not None and kind in self.follow:
            task = asyncio.create_task(self.after(contest, peek, frame))
            self._followups.add(task)
            task.add_done_callback(self._followups.discard)
        return count
