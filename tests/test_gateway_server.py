"""The gateway on a real port, with real websockets clients and a real Redis: joining,
time sync, bad input and limits (each a typed error or a close code), answers acked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest
import redis.asyncio
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine.core import messages as m
from engine.core.errors import CloseCode
from engine.gateway.server import pings_per_sweep
from scoring.keys import GlobalKeys
from scoring.live import LiveScoring
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    recv,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout


class RawListener:
    """What a raw picows client saw: the arrival of each WebSocket ping, each text frame."""

    def __init__(self) -> None:
        self.pings: list[float] = []
        self.texts: list[bytes] = []


async def raw_client(gw: Any, contest: str, member: str) -> tuple[Any, RawListener]:
    """A picows client joined through the URL token, auto-pong off, so the test sees the
    raw control frames (websockets' client answers pings out of sight)."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    seen = RawListener()

    class Listener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.PING:
                seen.pings.append(asyncio.get_running_loop().time())
            elif frame.msg_type is WSMsgType.TEXT:
                seen.texts.append(frame.get_payload_as_bytes())

    url = f"ws://127.0.0.1:{gw.port}/ws/{contest}?token={token(contest, member)}"
    transport, _ = await ws_connect(Listener, url, enable_auto_pong=False)
    return transport, seen


async def wait_for_texts(listeners: list[RawListener], count: int) -> None:
    """Until every listener saw *count* text frames (the welcome first)."""
    deadline = asyncio.get_running_loop().time() + timeout(10)
    while any(len(listener.texts) < count for listener in listeners):
        assert asyncio.get_running_loop().time() < deadline, "no welcome in time"
        await asyncio.sleep(0.05)


async def closed_with(ws, code: int) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout(5))
    assert ws.close_code == code


@pytest.fixture
async def live(redis_client: redis.asyncio.Redis, key_prefix: str):
    return await create_contest(redis_client, key_prefix, "live")


async def test_join_with_token_in_url_gets_welcome(redis_url, key_prefix, live, redis_client):
    seconds, micros = await redis_client.time()
    redis_now = int(seconds) * 1000 + int(micros) // 1000
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id, "m1")) as ws:
            welcome = await recv(ws)
    assert isinstance(welcome, m.Welcome)
    assert welcome.member == m.MemberInfo(id="m1", name="Member m1", province="hanoi", unit="hn-01")
    assert welcome.contest.id == live.id
    assert welcome.contest.mode == "live"
    assert welcome.contest.state == "scheduled"
    assert welcome.contest.question_count == 3
    assert welcome.contest.question_ms == 10_000
    assert abs(welcome.server_time - redis_now) < timeout(5) * 1000


async def test_join_message_and_time_sync(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id) as ws:
            await send(ws, m.Ping(t=123))
            pong = await recv(ws)
            assert isinstance(pong, m.Pong) and pong.t == 123 and pong.server_time > 0
            await send(ws, m.Join(token=token(live.id)))
            assert isinstance(await recv(ws), m.Welcome)
            await send(ws, m.Join(token=token(live.id)))
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == "already_joined"


@pytest.mark.parametrize(
    ("make_token", "code", "close"),
    [
        (lambda c: token(c, secret="another-secret-another-secret-1234"), "token_forged", 4501),
        (lambda c: token(c, ttl_seconds=-10), "token_expired", 4008),
        (lambda c: token("other-contest"), "token_wrong_contest", 4502),
        (lambda c: "not-a-jwt", "token_malformed", 4501),
        (lambda c: token(c, now_ms=int(time.time() * 1000) + 600_000), "token_not_yet_valid", 4501),
    ],
    ids=["forged", "expired", "wrong-contest", "malformed", "issued-in-the-future"],
)
async def test_bad_tokens_get_error_then_close(
    redis_url, key_prefix, live, make_token, code, close
):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, make_token(live.id)) as ws:
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == code
            await closed_with(ws, close)
        # the process is fine: the next member joins
        async with client(gw, live.id, token(live.id)) as ws:
            assert isinstance(await recv(ws), m.Welcome)


async def test_unknown_contest_and_bad_path(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, "nope", token("nope")) as ws:
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == "contest_not_found"
            await closed_with(ws, CloseCode.CONTEST_NOT_FOUND)
        with pytest.raises(InvalidStatus) as info:
            async with client(gw, live.id, path="/elsewhere"):
                pass
        assert info.value.response.status_code == 404


async def test_not_eligible_member_is_closed(redis_url, key_prefix, redis_client):
    from engine.core.contest import Eligibility

    contest = await create_contest(
        redis_client, key_prefix, "live", eligibility=Eligibility(provinces=["hue"])
    )
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, province="hanoi")) as ws:
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == "not_eligible"
            await closed_with(ws, CloseCode.NOT_ELIGIBLE)
        async with client(gw, contest.id, token(contest.id, "m2", province="hue")) as ws:
            assert isinstance(await recv(ws), m.Welcome)


async def test_malformed_unknown_and_early_messages(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id) as ws:
            await send(ws, m.Resume())
            assert (await recv(ws)).code == "not_joined"  # type: ignore[union-attr]
            await ws.send("{not json")
            assert (await recv(ws)).code == "bad_message"  # type: ignore[union-attr]
            await ws.send('{"type":"teleport"}')
            assert (await recv(ws)).code == "unknown_type"  # type: ignore[union-attr]
            await ws.send('{"type":"answer","question":"q1"}')
            assert (await recv(ws)).code == "bad_message"  # type: ignore[union-attr]
            await ws.send(b'{"type":"ping","t":5}')  # binary frames with JSON are accepted
            assert isinstance(await recv(ws), m.Pong)


async def test_deeply_nested_frames_get_bad_message_and_the_connection_goes_on(
    redis_url, key_prefix, live
):
    # ~1000 nested arrays fit in a 4 KiB frame; they used to raise RecursionError past the
    # session (close 1011, a traceback logged per frame).
    settings = make_settings(redis_url, key_prefix, max_frame_bytes=4096)
    async with running_gateway(settings) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            assert isinstance(await recv(ws), m.Welcome)
            for frame in ("[" * 4000, '{"seq":3,"x":' + "[" * 3000, '{"a":' * 800):
                await ws.send(frame)
                error = await recv(ws)
                assert isinstance(error, m.Error) and error.code == "bad_message"
                await send(ws, m.Ping(t=9))
                assert isinstance(await recv(ws), m.Pong)


async def test_too_many_bad_frames_close_4004(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv(ws)
            for _ in range(11):
                await ws.send("[]")
            await closed_with(ws, CloseCode.BAD_PROTOCOL)


async def test_oversize_frame_closes_1009(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv(ws)
            await ws.send('{"type":"ping","t":1,"pad":"' + "x" * 2000 + '"}')
            await closed_with(ws, 1009)


async def test_flood_is_refused_then_closed(redis_url, key_prefix, live):
    settings = make_settings(redis_url, key_prefix, max_messages_per_second=5.0)
    async with running_gateway(settings) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv(ws)
            codes = []
            for _ in range(30):
                await send(ws, m.Ping(t=1))
            with pytest.raises(ConnectionClosed):
                while True:
                    message = await recv(ws)
                    if isinstance(message, m.Error):
                        codes.append(message.code)
            assert ws.close_code == CloseCode.FLOOD
            assert codes and set(codes) == {"rate_limited"}


async def test_idle_connection_is_closed(redis_url, key_prefix, live):
    settings = make_settings(redis_url, key_prefix, idle_timeout=0.3)
    async with running_gateway(settings) as gw:
        gw.sweep_seconds = 0.05
        async with client(gw, live.id, token(live.id)) as ws:
            await recv(ws)
            await closed_with(ws, CloseCode.IDLE_TIMEOUT)


async def test_connection_limit_per_process(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix, max_connections=2)) as gw:
        async with (
            client(gw, live.id, token(live.id, "a")) as a,
            client(gw, live.id, token(live.id, "b")) as b,
        ):
            await recv(a)
            await recv(b)
            async with client(gw, live.id, token(live.id, "c")) as c:
                await closed_with(c, CloseCode.SERVER_FULL)


async def test_second_connection_of_a_member_replaces_the_first(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id, "m1")) as first:
            await recv(first)
            async with client(gw, live.id, token(live.id, "m1")) as second:
                assert isinstance(await recv(second), m.Welcome)
                await closed_with(first, CloseCode.REPLACED)
                await send(second, m.Ping(t=1))
                assert isinstance(await recv(second), m.Pong)


async def test_live_answers_are_acked_and_refused_with_reasons(
    redis_url, key_prefix, live, redis_client
):
    scoring = LiveScoring(redis_client, live.id, key_prefix)
    await scoring.open_question("q1", index=0, time_ms=60_000, points=10, speed=False)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id, "m1")) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.Answer(question="q1", answer="a", seq=1))
            ack = await recv_until(ws, m.Ack)
            # the contest's streak bonus (streak_step 2): a first right answer is a run of 1
            assert ack == m.Ack(question="q1", seq=1, accepted=True, points=10, total=10, streak=1)
            await send(ws, m.Answer(question="q1", answer="b", seq=2))
            assert await recv_until(ws, m.Ack) == m.Ack(
                question="q1", seq=2, accepted=False, reason="duplicate"
            )
            await send(ws, m.Answer(question="q2", answer="a", seq=3))
            assert (await recv_until(ws, m.Ack)).reason == "not_open"
            await send(ws, m.Answer(question="q1", answer=["a"], seq=4))
            assert (await recv_until(ws, m.Ack)).reason == "bad_answer"
            await send(ws, m.Answer(question="zzz", answer="a", seq=5))
            assert (await recv_until(ws, m.Ack)).reason == "not_open"
            await scoring.open_question("q3", index=2, time_ms=1, points=10)
            await asyncio.sleep(0.05)  # past the 1 ms deadline (Redis clock)
            await send(ws, m.Answer(question="q3", answer="a", seq=6))
            assert (await recv_until(ws, m.Ack)).reason == "late"
        async with client(gw, live.id, token(live.id, "m2")) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.Answer(question="q1", answer="b", seq=1))
            ack = await recv_until(ws, m.Ack)
            assert (ack.accepted, ack.points, ack.total) == (True, 0, 0)
            await scoring.close_question("q1")
            await send(ws, m.Answer(question="q1", answer="a", seq=2))
            assert (await recv_until(ws, m.Ack)).reason == "closed"
            await send(ws, m.LeaderboardRequest())
            board = await recv_until(ws, m.Leaderboard)
    assert [(s.rank, s.member, s.score) for s in board.top] == [(1, "m1", 10), (2, "m2", 0)]
    assert board.you is not None and board.you.member == "m2" and board.you.rank == 2
    assert board.top[0].name == "Member m1"


async def test_refusals_and_closes_are_counted_in_metrics(
    redis_url, key_prefix, live, redis_client
):
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "forged": sample("contest_errors_total", code="token_forged"),
        "closed": sample("contest_ws_closes_total", code="4501"),
        "dup": sample("contest_answers_refused_total", reason="duplicate"),
        "in": sample("contest_messages_in_total", type="answer"),
        "bad": sample("contest_messages_in_total", type="invalid"),
    }
    scoring = LiveScoring(redis_client, live.id, key_prefix)
    await scoring.open_question("q1", index=0, time_ms=60_000, points=10)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        bad = token(live.id, secret="another-secret-another-secret-1234")
        async with client(gw, live.id, bad) as ws:
            await closed_with(ws, CloseCode.TOKEN_INVALID)
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            for seq in (1, 2):
                await send(ws, m.Answer(question="q1", answer="a", seq=seq))
                await recv_until(ws, m.Ack)
            await ws.send("nonsense")
            await recv_until(ws, m.Error)
    await asyncio.sleep(0)  # let the closed handler finish its bookkeeping
    assert sample("contest_errors_total", code="token_forged") == before["forged"] + 1
    assert sample("contest_ws_closes_total", code="4501") == before["closed"] + 1
    assert sample("contest_answers_refused_total", reason="duplicate") == before["dup"] + 1
    assert sample("contest_messages_in_total", type="answer") == before["in"] + 2
    assert sample("contest_messages_in_total", type="invalid") == before["bad"] + 1


async def test_silent_connections_get_websocket_pings_busy_ones_do_not(redis_url, key_prefix, live):
    """The sweep pings a socket silent for ``ping_interval``; one that keeps sending frames
    gets none (picows shows the raw control frames: auto-pong off)."""
    from picows import WSMsgType

    settings = make_settings(redis_url, key_prefix, ping_interval=0.2)
    async with running_gateway(settings) as gw:
        gw.sweep_seconds = 0.05
        transport, listener = await raw_client(gw, live.id, "m1")
        try:
            loop = asyncio.get_running_loop()
            busy_until = loop.time() + timeout(1.0)
            while loop.time() < busy_until:  # busy: a frame every 50 ms
                transport.send(WSMsgType.TEXT, m.encode(m.Ping(t=1)))
                await asyncio.sleep(0.05)
            assert listener.pings == []
            assert len(listener.texts) > 5  # welcome and pongs: the session was served
            silent_from = loop.time()
            await asyncio.sleep(timeout(1.0))  # silent
            silent = loop.time() - silent_from
            assert len(listener.pings) >= 2
            # once per ping_interval (0.2 s), not once per sweep (0.05 s): a count, not gaps
            # between arrivals, so a client that reads two pings at once cannot fail it
            assert len(listener.pings) <= silent / 0.2 + 1
        finally:
            transport.disconnect()


async def test_a_member_whose_room_hears_broadcasts_gets_no_websocket_ping(
    redis_url, key_prefix, live, redis_client
):
    """A broadcast to the contest counts as traffic: a silent member of a room that hears a
    frame every 0.5 s gets no ping, while a silent member of a silent room (another
    contest) is still pinged every ``ping_interval``."""
    quiet = await create_contest(redis_client, key_prefix, "live", setup=False)
    settings = make_settings(redis_url, key_prefix, ping_interval=1.5)
    frame = m.encode(m.Leaderboard(top=[]))
    async with running_gateway(settings) as gw:
        gw.sweep_seconds = 0.25
        heard, heard_of = await raw_client(gw, live.id, "m1")
        silent, silent_of = await raw_client(gw, quiet.id, "m2")
        try:
            await wait_for_texts([heard_of, silent_of], 1)  # both welcomed: joined
            loop = asyncio.get_running_loop()
            until = loop.time() + 5.0
            while loop.time() < until:
                await redis_client.publish(GlobalKeys(key_prefix).channel(live.id), frame)
                await asyncio.sleep(0.5)
            assert len(heard_of.texts) >= 8  # the broadcasts did reach it
            assert heard_of.pings == []
            assert len(silent_of.pings) >= 2  # 5 s silent, pinged every 1.5 s
        finally:
            heard.disconnect()
            silent.disconnect()


async def test_sockets_due_together_get_their_pings_over_several_ticks(redis_url, key_prefix, live):
    """24 members fall silent in the same instant: the sweep pings at most
    ``pings_per_sweep`` of them a tick (here 2 × 24 × 0.5 s / 4 s = 6), the others on the
    next ticks, and every one of them once."""
    from picows import WSMsgType

    members, interval, sweep = 24, 4.0, 0.5
    settings = make_settings(redis_url, key_prefix, ping_interval=interval, max_connections=members)
    cap = pings_per_sweep(members, interval, sweep)
    assert cap == 6
    async with running_gateway(settings) as gw:
        gw.sweep_seconds = sweep
        clients = [await raw_client(gw, live.id, f"m{i}") for i in range(members)]
        try:
            await wait_for_texts([listener for _, listener in clients], 1)
            for transport, _ in clients:  # the last frame of every one, at once
                transport.send(WSMsgType.TEXT, m.encode(m.Ping(t=1)))
            await asyncio.sleep(interval + members / cap * sweep + 1.0)
            pings = sorted(p for _, listener in clients for p in listener.pings)
            assert [len(listener.pings) for _, listener in clients] == [1] * members
            ticks: list[list[float]] = []
            for at in pings:  # ticks are `sweep` apart: a gap of half of it splits them
                if ticks and at - ticks[-1][-1] < sweep / 2:
                    ticks[-1].append(at)
                else:
                    ticks.append([at])
            assert max(len(tick) for tick in ticks) <= cap
            assert len(ticks) >= members // cap
        finally:
            for transport, _ in clients:
                transport.disconnect()


async def test_a_slow_join_under_way_is_not_closed_by_the_join_deadline(
    redis_url, key_prefix, live, redis_client
):
    """The token arrived in the URL at once, but Redis is held (CLIENT PAUSE) for longer
    than the join deadline: the join is under way, so the member gets its welcome when
    Redis answers, not a 4004 "no join in time"."""
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.limits = msgspec.structs.replace(gw.limits, join_ms=300)
        gw.sweep_seconds = 0.05
        await redis_client.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        async with client(gw, live.id, token(live.id)) as ws:
            assert isinstance(await recv_until(ws, m.Welcome), m.Welcome)


async def test_a_silent_connection_is_still_closed_by_the_join_deadline(
    redis_url, key_prefix, live
):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.limits = msgspec.structs.replace(gw.limits, join_ms=300)
        gw.sweep_seconds = 0.05
        async with client(gw, live.id) as ws:
            await closed_with(ws, CloseCode.BAD_PROTOCOL)
