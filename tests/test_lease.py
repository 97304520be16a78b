"""engine.runtime.lease on a real Redis: acquire, renew, expiry, takeover, a holder that lost it."""

import asyncio

import pytest
import redis.asyncio

from engine.core.errors import LeaseLost
from engine.runtime.lease import Lease, new_holder_id
from tests.utils import timeout


def make(client: redis.asyncio.Redis, key: str, ttl_ms: int = 300, holder: str = "") -> Lease:
    return Lease(client, key, ttl_ms=ttl_ms, holder=holder or None)


async def held(client: redis.asyncio.Redis, key: str, ttl_ms: int) -> Lease:
    """A lease that holder ``a`` has just acquired (asserted)."""
    lease = make(client, key, ttl_ms=ttl_ms, holder="a")
    assert await lease.acquire()
    return lease


class UntilCancelled:
    """Work for :meth:`Lease.hold` that sleeps until it is cancelled, and re-raises;
    ``started`` and ``cancelled`` record that it ran and that it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self) -> None:
        self.started.set()
        try:
            await asyncio.sleep(timeout(30))
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def key(key_prefix: str) -> str:
    return f"{key_prefix}:lease"


async def test_only_one_holder(redis_client: redis.asyncio.Redis, key: str) -> None:
    a, b = make(redis_client, key, holder="a"), make(redis_client, key, holder="b")
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.acquire()  # acquiring a lease we hold keeps it
    assert await a.current_holder() == "a"
    assert 0 < await redis_client.pttl(key) <= 300


async def test_renew_extends_only_for_the_holder(
    redis_client: redis.asyncio.Redis, key: str
) -> None:
    a, b = make(redis_client, key, ttl_ms=10_000, holder="a"), make(redis_client, key, holder="b")
    assert not await a.renew()  # nobody holds it: renewing does not create it
    assert await redis_client.exists(key) == 0
    assert await a.acquire()
    await redis_client.pexpire(key, 100)
    assert await a.renew()
    assert await redis_client.pttl(key) > 5_000
    assert not await b.renew()
    assert await a.current_holder() == "a"


async def test_release_only_by_the_holder(redis_client: redis.asyncio.Redis, key: str) -> None:
    a, b = make(redis_client, key, holder="a"), make(redis_client, key, holder="b")
    assert await a.acquire()
    assert not await b.release()
    assert await a.current_holder() == "a"
    assert await a.release()
    assert await a.current_holder() is None
    assert await b.acquire()


async def test_expiry_lets_another_take_over(redis_client: redis.asyncio.Redis, key: str) -> None:
    a, b = make(redis_client, key, ttl_ms=100, holder="a"), make(redis_client, key, holder="b")
    assert await a.acquire()
    await asyncio.wait_for(b.wait_acquire(poll_ms=20), timeout())
    assert await b.current_holder() == "b"
    assert not await a.renew()  # the old holder cannot take it back


async def test_hold_renews_and_releases(redis_client: redis.asyncio.Redis, key: str) -> None:
    a, b = make(redis_client, key, ttl_ms=90, holder="a"), make(redis_client, key, holder="b")
    assert await a.acquire()

    async def work() -> str:
        # Several ttls long: only renewal keeps the lease ours all along.
        for _ in range(6):
            await asyncio.sleep(0.05)
            assert not await b.acquire()
        return "done"

    assert await asyncio.wait_for(a.hold(work), timeout()) == "done"
    assert await a.current_holder() is None  # released at the end


async def test_holder_that_lost_the_lease_is_stopped(
    redis_client: redis.asyncio.Redis, key: str
) -> None:
    a = await held(redis_client, key, ttl_ms=90)
    work = UntilCancelled()

    async def steal() -> None:
        await work.started.wait()
        await redis_client.set(key, "thief")

    thief = asyncio.ensure_future(steal())
    with pytest.raises(LeaseLost, match="another process"):
        await asyncio.wait_for(a.hold(work), timeout())
    await thief
    assert work.cancelled.is_set()
    assert await redis_client.get(key) == b"thief"  # the loser does not delete it


async def test_hold_passes_errors_through_and_releases(
    redis_client: redis.asyncio.Redis, key: str
) -> None:
    a = await held(redis_client, key, ttl_ms=5_000)

    async def work() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await a.hold(work)
    assert await a.current_holder() is None


async def test_cancelling_hold_cancels_work(redis_client: redis.asyncio.Redis, key: str) -> None:
    a = await held(redis_client, key, ttl_ms=5_000)
    work = UntilCancelled()
    holding = asyncio.ensure_future(a.hold(work))
    await asyncio.wait_for(work.started.wait(), timeout())  # not a sleep: work must be running
    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    assert work.cancelled.is_set()
    assert await a.current_holder() is None


def test_holder_ids_are_unique_and_bounds_checked() -> None:
    assert new_holder_id() != new_holder_id()
    with pytest.raises(ValueError):
        Lease(redis.asyncio.Redis(), "k", ttl_ms=5)


async def test_cancelling_hold_wins_even_if_work_swallows_it(
    redis_client: redis.asyncio.Redis, key: str
) -> None:
    """Some library calls swallow a CancelledError; hold() is still cancelled."""
    a = await held(redis_client, key, ttl_ms=5_000)
    started = asyncio.Event()

    async def stubborn() -> str:
        started.set()
        try:
            await asyncio.sleep(timeout(30))
        except asyncio.CancelledError:
            pass  # swallowed, as a careless library would
        return "finished anyway"

    holding = asyncio.ensure_future(a.hold(stubborn))
    await started.wait()
    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    assert await a.current_holder() is None


class SwallowingRenew(Lease):
    """A lease whose renewal swallows a cancel that lands while it waits for Redis, as
    redis-py's commands do on Python 3.11 when the cancel arrives with the reply
    (``asyncio.wait_for``). ``renewing`` is set while it waits."""

    renewing: asyncio.Event

    async def renew(self) -> bool:
        self.renewing.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass  # swallowed, as the reply came in
        self.renewing.clear()
        return await super().renew()


async def test_hold_ends_even_if_a_renewal_swallows_the_cancel(
    redis_client: redis.asyncio.Redis, key: str
) -> None:
    """hold() stops its renewals when its work ends, even if the cancel meets a renewal that
    swallows it: before, the renewals went on forever, hold() never returned, and a stopped
    conductor kept its show's lease (a scheduler shutting down hung on it)."""
    lease = SwallowingRenew(redis_client, key, ttl_ms=300, holder="a")
    lease.renewing = asyncio.Event()
    assert await lease.acquire()

    async def until_a_renewal() -> str:
        await lease.renewing.wait()  # end the work while the keeper waits for Redis
        return "done"

    holding = asyncio.ensure_future(lease.hold(until_a_renewal))
    done, _ = await asyncio.wait([holding], timeout=timeout(5))
    try:
        assert holding in done, "hold() did not return: its renewals went on"
        assert holding.result() == "done"
        assert await lease.current_holder() is None
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)
