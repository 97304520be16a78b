"""The server tells a connected member when it expires their window attempt.

The scheduler (here run in the test process, as any gateway process's scheduler would) closes
an attempt at its deadline; the member, connected to another gateway process, gets the
``attempt`` message with state ``expired`` without asking. Nobody else gets it. Real
redis-server, real gateways on real ports, real WebSocket clients.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from engine.core import messages as m
from engine.scheduling.scheduler import Scheduler
from scoring.attempts import Attempts
from tests.contest_helpers import now_ms
from tests.gateway_support import (
    client,
    create_window,
    make_settings,
    recv,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout


@pytest.mark.slow  # an attempt lasts at least 10 s
async def test_a_connected_member_is_told_when_the_server_expires_the_attempt(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    contest = await create_window(
        redis_client, key_prefix, closes_in_ms=3_600_000, attempt_seconds=10
    )
    settings = make_settings(redis_url, key_prefix)
    scheduler = Scheduler(redis_client, prefix=key_prefix)
    try:
        async with running_gateway(settings) as one, running_gateway(settings) as two:
            async with (
                client(two, contest.id, token(contest.id, "m1")) as ws,
                client(one, contest.id, token(contest.id, "m2")) as other,
            ):
                await recv_until(ws, m.Welcome)
                await recv_until(other, m.Welcome)
                await send(ws, m.StartAttempt())
                started = await recv_until(ws, m.AttemptState)
                first, second = [q for q in started.questions if q.kind == "single"][:2]
                await send(ws, m.Answer(question=first.id, answer="a", seq=1))
                assert (await recv_until(ws, m.Ack)).accepted
                await send(ws, m.Answer(question="pred", answer=3, seq=2))
                assert (await recv_until(ws, m.Ack)).accepted
                # nothing is pushed before the deadline
                await scheduler.tick()
                await send(ws, m.Ping(t=1))
                assert isinstance(await recv(ws), m.Pong)
                while await now_ms(redis_client) <= started.deadline:
                    await asyncio.sleep(0.1)
                await scheduler.tick()  # the sweep expires the attempt
                pushed = await asyncio.wait_for(recv(ws), timeout(5))
                assert isinstance(pushed, m.AttemptState), pushed
                assert (pushed.attempt, pushed.state, pushed.deadline) == (
                    1,
                    "expired",
                    started.deadline,
                )
                assert set(pushed.answers) == {first.id} and pushed.prediction == 3
                # the member's own connection knows: an answer now is refused as closed
                await send(ws, m.Answer(question=second.id, answer="a", seq=3))
                assert (await recv_until(ws, m.Ack)).reason == "attempt_closed"
                # the other member got nothing
                await send(other, m.Ping(t=2))
                assert isinstance(await recv(other), m.Pong)
                # a later sweep with nothing due pushes nothing again
                await scheduler.tick()
                await send(ws, m.Ping(t=3))
                assert isinstance(await recv(ws), m.Pong)
    finally:
        await scheduler.close()


async def test_an_expiry_missed_while_the_relay_was_away_is_sent_on_resync(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    """The gateway's relay lost Redis and the notice with it: once resubscribed, the gateway
    sends each window member whose open attempt expired meanwhile that attempt."""
    contest = await create_window(redis_client, key_prefix, closes_in_ms=int(timeout(2) * 1000))
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            started = await recv_until(ws, m.AttemptState)
            while await now_ms(redis_client) <= started.deadline:  # capped at the close
                await asyncio.sleep(0.05)
            # expired with no notice published (as if it was sent while the relay was away)
            assert await Attempts(redis_client, contest.id, prefix=key_prefix).expire_due() == 1
            await gw._resync()
            pushed = await recv(ws)
            assert isinstance(pushed, m.AttemptState)
            assert (pushed.attempt, pushed.state) == (1, "expired")
            await gw._resync()  # once only: the connection knows it now
            await send(ws, m.Ping(t=1))
            assert isinstance(await recv(ws), m.Pong)
