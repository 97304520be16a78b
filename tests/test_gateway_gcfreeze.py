"""engine.gateway.gcfreeze: the members' objects frozen out of the collector's full walks
after each batch of joins, and everything collected and frozen again once enough left
(so a closed connection's cycles are not kept for good)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from engine.core import messages as m
from engine.gateway.gcfreeze import FreezePolicy
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
    assert policy.tick(2) is None
    policy.join()
    assert policy.tick(3) == "freeze"
    assert policy.tick(3) is None  # nothing new
    assert policy.frozen == 3


def test_leaves_past_the_share_refreeze_everyone_still_here() -> None:
    policy = FreezePolicy(batch=2, leave_share=0.5)
    for _ in range(10):
        policy.join()
    assert policy.tick(10) == "freeze"
    for _ in range(4):
        policy.leave()
    assert policy.tick(6) is None  # 4 < 0.5 × 10
    policy.leave()
    assert policy.tick(5) == "refreeze"
    assert (policy.frozen, policy.left, policy.joined) == (5, 0, 0)


def test_leaves_before_the_first_freeze_do_not_count() -> None:
    policy = FreezePolicy(batch=2, leave_share=0.1)
    policy.join()
    policy.leave()
    policy.join()
    policy.join()
    assert policy.tick(2) == "freeze"
    assert policy.left == 0


def test_batch_zero_never_freezes() -> None:
    policy = FreezePolicy(batch=0)
    for _ in range(5):
        policy.join()
    assert policy.tick(5) is None


@given(st.lists(st.sampled_from(["join", "leave", "tick"]), max_size=300), st.integers(1, 20))
def test_what_frozen_members_who_left_keep_is_bounded(events: list[str], batch: int) -> None:
    """After every tick, the members who left since everyone was last frozen are fewer
    than the bound (a batch, or the share of those frozen): the rest were collected."""
    policy = FreezePolicy(batch=batch, leave_share=0.25)
    members = 0
    for event in events:
        if event == "join":
            members += 1
            policy.join()
        elif event == "leave" and members:
            members -= 1
            policy.leave()
        elif event == "tick":
            policy.tick(members)
            if policy.frozen:
                assert policy.left < max(batch, 0.25 * policy.frozen)
            assert policy.joined < batch


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
        # all three left (each leave counted once): a batch, so everything is collected
        # and what is still alive frozen again, with no member left to count
        for _ in range(int(timeout(200))):
            if gw.gc_policy.frozen == 0:
                break
            await asyncio.sleep(0.05)
        assert (gw.gc_policy.frozen, gw.gc_policy.left) == (0, 0)
