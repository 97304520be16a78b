"""engine.gateway.gcfreeze: the members' objects frozen out of the collector's full walks
after each batch of joins, and everything collected and frozen again once enough left
(so a closed connection's cycles are not kept for good)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from engine.core import messages as m
from engine.gateway.gcfreeze import Departed, FreezePolicy
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    recv_until,
    running_gateway,
    token,
)
from tests.utils import timeout


def test_a_batch_of_joins_freezes_once() -> None:
    policy = FreezePolicy(batch=3)
    for _ in range(2):
        policy.join()
    assert policy.tick(2, 0) is None
    policy.join()
    assert policy.tick(3, 0) == "freeze"
    assert policy.tick(3, 0) is None  # nothing new
    assert policy.frozen == 3


def test_departed_connections_still_alive_past_the_share_refreeze() -> None:
    policy = FreezePolicy(batch=2, linger_share=0.5)
    for _ in range(10):
        policy.join()
    assert policy.tick(10, 0) == "freeze"
    assert policy.tick(6, 2) is None  # 2 < 0.5 × 6
    assert policy.tick(6, 3) == "refreeze"
    assert (policy.frozen, policy.joined) == (6, 0)


def test_members_who_left_and_were_freed_never_refreeze() -> None:
    """The churn of a window round: members come and go, and reference counting frees
    each one who leaves, so nothing lingers and only the joins' freezes are due (the
    policy before the tenth session walked everything after each quarter that left)."""
    policy = FreezePolicy(batch=10)
    decisions = []
    for _ in range(100):
        for _ in range(10):
            policy.join()
        decisions.append(policy.tick(50, 0))
    assert decisions == ["freeze"] * 100


def test_nothing_lingers_before_anything_is_frozen() -> None:
    policy = FreezePolicy(batch=5)
    assert policy.tick(0, 10) is None  # nothing frozen: young cycles are the collector's


def test_batch_zero_never_freezes() -> None:
    policy = FreezePolicy(batch=0)
    for _ in range(5):
        policy.join()
    assert policy.tick(5, 100) is None


@given(
    st.lists(st.sampled_from(["join", "leave", "leave_cyclic", "tick"]), max_size=300),
    st.integers(1, 20),
)
def test_what_frozen_cycles_keep_is_bounded(events: list[str], batch: int) -> None:
    """A model of the process: members join (young), a freeze makes them frozen, a member
    who leaves is freed at once unless their connection is in a cycle; a cycle among
    young objects is the collector's (a freeze collects first), a frozen one lingers
    until a refreeze. After every tick, what lingers is under the bound."""
    policy = FreezePolicy(batch=batch, linger_share=0.25)
    young = frozen = lingering = 0
    for event in events:
        if event == "join":
            young += 1
            policy.join()
        elif event.startswith("leave") and young + frozen:
            if frozen:
                frozen -= 1
                lingering += event == "leave_cyclic"
            else:
                young -= 1
        elif event == "tick":
            decision = policy.tick(young + frozen, lingering)
            if decision == "refreeze":
                lingering = 0
            if decision is not None:
                young, frozen = 0, young + frozen
            assert lingering < max(batch, 0.25 * (young + frozen)) or not policy.frozen
            assert policy.joined < batch


def test_departed_counts_only_connections_still_alive() -> None:
    class Conn:
        pass

    departed = Departed()
    kept, dropped = Conn(), Conn()
    departed.add(kept)
    departed.add(dropped)
    del dropped  # freed by reference counting: its weak reference goes with it
    assert len(departed) == 1
    departed.forget()
    assert len(departed) == 0 and kept is not None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process's collector as it was: nothing it froze stays frozen."""
    yield
    gc.unfreeze()


async def test_the_gateway_freezes_after_a_batch_of_joins(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis, unfrozen: None
) -> None:
    live = await create_contest(redis_client, key_prefix, "live")
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.gc_policy = FreezePolicy(batch=3)
        gw.sweep_seconds = 0.05
        gc.unfreeze()
        async with (
            client(gw, live.id, token(live.id, "a")) as a,
            client(gw, live.id, token(live.id, "b")) as b,
        ):
            for ws in (a, b):
                await recv_until(ws, m.Welcome)
            await asyncio.sleep(1.2)  # a tick or more (the first waits a whole second)
            assert gc.get_freeze_count() == 0 and gw.gc_policy.joined == 2
            async with client(gw, live.id, token(live.id, "c")) as c:
                await recv_until(c, m.Welcome)
                for _ in range(int(timeout(200))):
                    if gc.get_freeze_count():
                        break
                    await asyncio.sleep(0.05)
                assert gc.get_freeze_count() > 0
                assert gw.gc_policy.frozen == 3 and gw.gc_policy.joined == 0
        # all three left: reference counting freed each connection, frozen or not, so
        # none lingers and no refreeze (a walk of the whole process) is due
        for _ in range(int(timeout(200))):
            if len(gw.departed) == 0:
                break
            await asyncio.sleep(0.05)
        assert len(gw.departed) == 0
        await asyncio.sleep(0.2)  # ticks
        assert (gw.gc_policy.frozen, gw.gc_policy.joined) == (3, 0)


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No cyclic collection while the test runs: only reference counting frees."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


async def test_a_closed_connection_is_freed_without_the_collector(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis, collector_off: None
) -> None:
    """What lets the refreeze wait for lingering connections: a member's connection holds
    no reference cycle once it is gone, whichever way it went (closed by the member after
    a whole attempt, dropped without a close frame, replaced by a newer connection), so
    reference counting frees it. A cycle added to the connection's objects fails this."""
    window = await create_contest(redis_client, key_prefix, "window")
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.sweep_seconds = 0.05
        alive: list[weakref.ref[object]] = []

        def track() -> None:
            alive.extend(weakref.ref(c) for c in gw.members if c not in [r() for r in alive])

        tok = token(window.id, "a")
        async with client(gw, window.id, tok) as ws:
            await recv_until(ws, m.Welcome)
            track()
            await ws.send(m.encode(m.StartAttempt()).decode())
            attempt = await recv_until(ws, m.AttemptState)
            first = attempt.questions[0]
            await ws.send(m.encode(m.Answer(question=first.id, answer="a", seq=1)).decode())
            await recv_until(ws, m.Ack)
            await ws.send(m.encode(m.Submit(prediction=3)).decode())
            assert (await recv_until(ws, m.AttemptState)).state == "submitted"
        async with client(gw, window.id, token(window.id, "b")) as ws:
            await recv_until(ws, m.Welcome)
            track()
            ws.transport.abort()  # no close frame: the socket is just gone
        async with client(gw, window.id, tok) as old:
            await recv_until(old, m.Welcome)
            track()
            async with client(gw, window.id, tok) as new:
                await recv_until(new, m.Welcome)  # replaces the older connection
                track()
                await recv_until(new, m.AttemptState)
        assert len(alive) == 4
        for _ in range(int(timeout(200))):
            if not gw.connections and all(r() is None for r in alive):
                break
            await asyncio.sleep(0.05)
        assert [r() is None for r in alive] == [True] * 4
        assert len(gw.departed) == 0


async def test_a_gateway_times_its_full_collections(redis_url: str, key_prefix: str) -> None:
    """``contest_gc_pause_seconds`` (the stalls an operator looks for): a gateway that started
    times each collection of generation 2 and 1, and none of generation 0."""

    def count(generation: str) -> float:
        value = REGISTRY.get_sample_value(
            "contest_gc_pause_seconds_count", {"generation": generation}
        )
        return value or 0.0

    async with running_gateway(make_settings(redis_url, key_prefix)):
        before = {g: count(g) for g in ("1", "2")}
        gc.collect(0)
        assert {g: count(g) for g in ("1", "2")} == before
        gc.collect(1)
        gc.collect()
        assert (count("1"), count("2")) == (before["1"] + 1, before["2"] + 1)
