"""A window start through the real gateway: one Redis round trip, a draw that follows the
member's true attempt count, and the round's minimum delay between attempts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio

from engine.core import messages as m
from engine.core.contest import WindowTiming
from engine.window.draws import MemberDraws
from question_bank.draws import draw, draw_seed
from question_bank.ids import MemberId, QuestionId
from scoring.keys import ContestKeys
from tests.contest_helpers import make_bank, now_ms
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    monitored,
    recv,
    recv_until,
    running_gateway,
    send,
    sent_by_clients,
    token,
)


async def _window(client_: redis.asyncio.Redis, prefix: str, **timing: int):
    now = await now_ms(client_)
    window = WindowTiming(
        opens_at=now - 1000,
        closes_at=now + 3_600_000,
        attempt_seconds=600,
        prediction_question=QuestionId("pred"),
        **timing,  # type: ignore[arg-type]
    )
    return await create_contest(client_, prefix, "window", window=window)


async def test_a_start_is_one_redis_call(redis_url, key_prefix, redis_client):
    """MONITOR shows every command the gateway sends for the member during a start: one
    EVALSHA of attempt_start (commands run inside the script are marked ``lua``)."""
    contest = await _window(redis_client, key_prefix, attempts_allowed=2)
    member = "solo-member-7"
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, member)) as ws:
            await recv_until(ws, m.Welcome)
            await asyncio.sleep(0.3)  # the join's own commands are done
            async with monitored(redis_url) as seen:
                await send(ws, m.StartAttempt())
                attempt = await recv_until(ws, m.AttemptState)
    assert attempt.attempt == 1 and attempt.state == "open"
    assert attempt.best_score == 0
    assert sent_by_clients(seen, member) == ["EVALSHA"], seen


async def _commands_of_a_join(redis_url: str, gw, contest, member: str) -> tuple[list[str], list]:
    """The commands the gateway sends for *member*'s join (MONITOR; inside-script commands
    left out), and the messages the member got after ``welcome`` within 0.3 s."""
    after: list = []
    async with monitored(redis_url) as seen:
        async with client(gw, contest.id, token(contest.id, member)) as ws:
            await recv_until(ws, m.Welcome)
            with contextlib.suppress(TimeoutError):
                while True:
                    after.append(await asyncio.wait_for(recv(ws), 0.3))
    return sent_by_clients(seen, member), after


async def test_a_join_with_no_attempt_reads_once_and_a_join_with_one_resumes_it(
    redis_url, key_prefix, redis_client
):
    """A member with no attempt yet (every member of an opening storm) joins with one
    script call (member_join: profile, attempt count) and no resume script; once they have
    started an attempt, a new connection's join resumes it (one script call more)."""
    contest = await _window(redis_client, key_prefix, attempts_allowed=2)
    member = "storm-member-3"
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        first, after_first = await _commands_of_a_join(redis_url, gw, contest, member)
        async with client(gw, contest.id, token(contest.id, member)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.AttemptState)).state == "open"
        again, after_again = await _commands_of_a_join(redis_url, gw, contest, member)
    assert first == ["EVALSHA"] and after_first == []
    assert again == ["EVALSHA", "EVALSHA"]
    assert [(a.attempt, a.state) for a in after_again] == [(1, "open")]


async def test_a_start_after_another_connection_started_draws_for_the_true_number(
    redis_url, key_prefix, redis_client
):
    """Connection A joined before connection B (another gateway) started and submitted
    attempt 1: A's start is drawn for 2 (the script says ``redraw`` first), exactly the
    seeded draw of attempt 2."""
    contest = await _window(redis_client, key_prefix, attempts_allowed=3)
    settings = make_settings(redis_url, key_prefix)
    tok = token(contest.id, "m1")
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        async with client(one, contest.id, tok) as a:
            assert (await recv_until(a, m.Welcome)).contest.attempts_used == 0
            async with client(two, contest.id, tok) as b:
                await recv_until(b, m.Welcome)
                await send(b, m.StartAttempt())
                assert (await recv_until(b, m.AttemptState)).attempt == 1
                await send(b, m.Submit(prediction=1))
                assert (await recv_until(b, m.AttemptState)).state == "submitted"
            await send(a, m.StartAttempt())
            second = await recv_until(a, m.AttemptState)
    assert second.attempt == 2 and second.state == "open"
    seed = draw_seed(contest.id, "m1", 2)
    expected = draw(make_bank(), contest.draw, seed=seed)
    assert [(q.id, [o.id for o in q.options]) for q in second.questions] == [
        (d.id, list(d.options)) for d in expected
    ]
    assert MemberDraws(contest, make_bank()).draw(MemberId("m1"), 2)[0].id == expected[0].id


async def test_a_start_before_the_minimum_delay_is_attempt_too_soon(
    redis_url, key_prefix, redis_client
):
    contest = await _window(
        redis_client, key_prefix, attempts_allowed=3, min_seconds_between_attempts=600
    )
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.AttemptState)).attempt == 1
            await send(ws, m.Submit(prediction=2))
            done = await recv_until(ws, m.AttemptState)
            assert done.state == "submitted"
            await send(ws, m.StartAttempt())
            error = await recv_until(ws, m.Error)
            assert error.code == "attempt_too_soon"
            assert error.retry_after_ms is not None
            assert 590_000 <= error.retry_after_ms <= 600_000
            await send(ws, m.StartAttempt())  # still refused, nothing started meanwhile
            assert (await recv_until(ws, m.Error)).code == "attempt_too_soon"
    assert await redis_client.hget(ContestKeys(contest.id, key_prefix).attempt_counts, "m1") == b"1"


@pytest.mark.parametrize("gap", [0, 30])
def test_old_window_definitions_decode_with_no_delay(gap: int) -> None:
    import msgspec

    raw = b'{"opens_at": 1, "closes_at": 2000000, "attempts_allowed": 2'
    raw += (b', "min_seconds_between_attempts": %d}' % gap) if gap else b"}"
    window = msgspec.json.decode(raw, type=WindowTiming)
    assert window.min_seconds_between_attempts == gap


def test_check_spec_judges_the_minimum_delay() -> None:
    import msgspec

    from engine.core.contest import check_spec
    from tests.contest_helpers import window_spec

    now = 1_000_000
    spec = window_spec(now)  # a one-hour window, 2 attempts allowed
    assert spec.window is not None

    def problems(**timing: int) -> list[str]:
        window = msgspec.structs.replace(spec.window, **timing)  # type: ignore[arg-type]
        found = check_spec(msgspec.structs.replace(spec, window=window), make_bank(), now_ms=now)
        return [str(p["field"]) for p in found]

    assert problems(min_seconds_between_attempts=600) == []
    assert problems(min_seconds_between_attempts=600, attempts_allowed=1) == [
        "window.min_seconds_between_attempts"
    ]
    assert problems(min_seconds_between_attempts=3601) == ["window.min_seconds_between_attempts"]
    assert problems(min_seconds_between_attempts=600, attempts_allowed=0) == []
