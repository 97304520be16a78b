"""The gateway's WebSocket layer on picows, against real clients: what websockets did for
the gateway and picows leaves to it (fragmented messages, invalid UTF-8, a member's close
frame, frames queued behind a slow one), and what picows does for it (pings answered).
docs/protocol.md, "Connection" and "Close codes"."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from engine.core import messages as m
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
from tests.test_gateway_server import closed_with
from tests.utils import timeout


@pytest.fixture
async def live(redis_client: redis.asyncio.Redis, key_prefix: str):
    return await create_contest(redis_client, key_prefix, "live")


class Raw(WSListener):
    """A picows client that records the text frames and the close code it receives."""

    def __init__(self) -> None:
        self.texts: list[bytes] = []
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.texts.append(frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.CLOSE:
            if not self.closed.done():
                self.closed.set_result(int(frame.get_close_code().value))
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def raw_client(gw: Any, contest: str) -> tuple[WSTransport, Raw]:
    url = f"ws://127.0.0.1:{gw.port}/ws/{contest}?token={token(contest)}"
    transport, listener = await ws_connect(Raw, url)
    assert isinstance(listener, Raw)
    deadline = asyncio.get_running_loop().time() + timeout(5)
    while not listener.texts:  # the welcome
        assert asyncio.get_running_loop().time() < deadline, "no welcome in time"
        await asyncio.sleep(0.02)
    return transport, listener


async def test_a_fragmented_message_is_reassembled(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ws.send(['{"type":"pi', 'ng","t"', ":77}"])  # three frames, one message
            pong = await recv(ws)
            assert isinstance(pong, m.Pong) and pong.t == 77
            await ws.send([b'{"type":"ping",', b'"t":78}'])  # a binary one too
            pong = await recv(ws)
            assert isinstance(pong, m.Pong) and pong.t == 78


async def test_a_fragmented_message_over_the_frame_limit_closes_1009(redis_url, key_prefix, live):
    """Each frame is under ``max_frame_bytes`` (4096), the message is not."""
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ws.send(['{"type":"ping","t":1,"pad":"', "x" * 3000, "x" * 3000 + '"}'])
            await closed_with(ws, 1009)


async def test_a_continuation_with_no_message_under_way_closes_1002(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        transport, listener = await raw_client(gw, live.id)
        transport.send(WSMsgType.CONTINUATION, b'"t":1}')
        assert await asyncio.wait_for(listener.closed, timeout(5)) == 1002


async def test_a_text_frame_that_is_not_utf8_closes_1007(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        transport, listener = await raw_client(gw, live.id)
        transport.send(WSMsgType.TEXT, b'{"type":"ping","t":1,"x":"\xff\xfe"}')
        assert await asyncio.wait_for(listener.closed, timeout(5)) == 1007
        # fragmented, with a character cut between two frames that stays cut
        transport, listener = await raw_client(gw, live.id)
        transport.send(WSMsgType.TEXT, b'{"type":"ping","x":"\xe1', fin=False)
        transport.send(WSMsgType.CONTINUATION, b'"}', fin=True)
        assert await asyncio.wait_for(listener.closed, timeout(5)) == 1007


async def test_a_binary_frame_that_is_not_utf8_gets_bad_message(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ws.send(b'{"type":"join","token":"\xff\xfe"}')  # a field that is read
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == "bad_message"
            await send(ws, m.Ping(t=2))  # the connection goes on
            assert isinstance(await recv(ws), m.Pong)


async def test_a_members_websocket_ping_gets_its_pong(redis_url, key_prefix, live):
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            waiter = await ws.ping(b"are you there")
            await asyncio.wait_for(waiter, timeout(5))


async def test_a_members_close_is_answered_and_counted(redis_url, key_prefix, live):
    from prometheus_client import REGISTRY

    def closes(code: str) -> float:
        return REGISTRY.get_sample_value("contest_ws_closes_total", {"code": code}) or 0.0

    before = closes("4321"), closes("1006")
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await asyncio.wait_for(ws.close(4321, "bye"), timeout(5))
            assert ws.close_code == 4321  # the server echoed it (websockets read its frame)
        transport, _ = await raw_client(gw, live.id)
        transport.disconnect(False)  # no close frame: 1006
        deadline = asyncio.get_running_loop().time() + timeout(5)
        while gw.connections:
            assert asyncio.get_running_loop().time() < deadline, "connections not cleaned up"
            await asyncio.sleep(0.02)
    assert (closes("4321"), closes("1006")) == (before[0] + 1, before[1] + 1)


async def test_frames_sent_during_a_join_are_handled_after_it_in_order(redis_url, key_prefix, live):
    """The join message and what follows it in one write: the frames behind the join wait
    for it (a member who answers right after joining is joined by then), and come back in
    order."""
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id) as ws:
            await send(ws, m.Join(token=token(live.id)))
            for t in range(1, 13):  # more than MAX_PENDING: reading pauses, then resumes
                await send(ws, m.Ping(t=t))
            await send(ws, m.LeaderboardRequest())
            assert isinstance(await recv(ws), m.Welcome)
            seen = [await recv(ws)]
            while not isinstance(seen[-1], m.Leaderboard):  # not an error not_joined
                assert not isinstance(seen[-1], m.Error), seen[-1]
                seen.append(await recv(ws))
            assert [p.t for p in seen if isinstance(p, m.Pong)] == list(range(1, 13))


async def test_shutdown_closes_members_with_4000_even_one_that_does_not_answer(
    redis_url, key_prefix, live
):
    """A member that never answers the close frame is dropped after the close timeout, and
    close() returns then, whatever other sockets are open."""

    class Deaf(WSListener):
        def __init__(self) -> None:
            self.code: int | None = None

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.CLOSE:
                self.code = int(frame.get_close_code().value)  # and no answer

    gw_cm = running_gateway(make_settings(redis_url, key_prefix))
    gw = await gw_cm.__aenter__()
    try:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            url = f"ws://127.0.0.1:{gw.port}/ws/{live.id}?token={token(live.id, 'm2')}"
            transport, deaf = await ws_connect(Deaf, url, enable_auto_pong=False)
            assert isinstance(deaf, Deaf)
            # and a connection that has not sent its handshake (10 s allowed) holds nothing
            _, mute = await asyncio.open_connection("127.0.0.1", gw.port)
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(gw_cm.__aexit__(None, None, None), timeout(10))
            assert asyncio.get_running_loop().time() - started < 4
            mute.close()
            await closed_with(ws, 4000)
            await asyncio.wait_for(transport.wait_disconnected(), timeout(5))
            assert deaf.code == 4000
    finally:
        if gw.server is not None:
            await gw_cm.__aexit__(None, None, None)


def test_close_codes_of_picows_are_the_numbers_the_docs_give() -> None:
    assert [WSCloseCode.INVALID_TEXT.value, WSCloseCode.MESSAGE_TOO_BIG.value] == [1007, 1009]


async def test_shutdown_cancels_a_request_still_awaiting_redis(
    redis_url, key_prefix, live, redis_client
):
    """close() does not leave a member's request running after the member is gone."""
    from scoring.live import LiveScoring

    await LiveScoring(redis_client, live.id, key_prefix).open_question(
        "q1", index=0, time_ms=60_000, points=10
    )
    cancelled = asyncio.Event()
    gw_cm = running_gateway(make_settings(redis_url, key_prefix))
    gw = await gw_cm.__aenter__()
    try:

        async def stuck(*args: Any) -> Any:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        gw.handlers.answer = stuck  # type: ignore[method-assign]
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.Answer(question="q1", answer="a", seq=1))
            deadline = asyncio.get_running_loop().time() + timeout(5)
            while not any(conn.task for conn in gw.connections):
                assert asyncio.get_running_loop().time() < deadline, "the answer never came"
                await asyncio.sleep(0.01)
            await asyncio.wait_for(gw_cm.__aexit__(None, None, None), timeout(10))
            assert cancelled.is_set()
    finally:
        if gw.server is not None:
            await gw_cm.__aexit__(None, None, None)
