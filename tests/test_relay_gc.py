"""The relay's write loop runs with the cyclic garbage collector paused (a full collection
over a gateway's many objects would otherwise hold up every member after it), and leaves
the collector as it found it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server
from websockets.asyncio.client import ClientConnection, connect

from engine.gateway.frames import Socket
from engine.gateway.relay import Relay
from question_bank.ids import ContestId
from tests.utils import timeout

FRAME = b'{"type":"state","state":"running","at":1}'


class Member(WSListener):
    """A member's socket on a bare picows server, as the relay's rooms hold them."""

    transport: WSTransport

    def __init__(self, room: set[Socket], joined: asyncio.Event) -> None:
        self.room = room
        self.joined = joined

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.room.add(self)
        self.joined.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:  # the client's answer to a close frame
            transport.disconnect()


@asynccontextmanager
async def one_member() -> AsyncIterator[tuple[set[Socket], ClientConnection]]:
    """A real picows server with one connected member; yields (room, client)."""
    room: set[Socket] = set()
    joined = asyncio.Event()
    server = await ws_create_server(lambda request: Member(room, joined), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as client:
            await asyncio.wait_for(joined.wait(), timeout())
            yield room, client
    finally:
        server.close()


class WatchedRoom(set[Socket]):
    """A room that records whether the collector was on when the relay iterated it."""

    seen: list[bool]

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.seen.append(gc.isenabled())
        return super().__iter__()


@pytest.mark.parametrize("enabled", [True, False])
async def test_broadcast_leaves_the_collector_as_it_was(enabled: bool) -> None:
    async with one_member() as (room, client):
        relay = Relay(None, {ContestId("c1"): room}, prefix="ce", clock=lambda: 0)  # type: ignore[arg-type]
        was = gc.isenabled()
        try:
            if not enabled:
                gc.disable()
            assert relay.deliver(b"ce:events:{c1}", FRAME) == 1
            assert gc.isenabled() is enabled
        finally:
            if was:
                gc.enable()
        assert await asyncio.wait_for(client.recv(decode=False), timeout()) == FRAME


async def test_members_are_written_with_the_collector_paused() -> None:
    async with one_member() as (room, client):
        watched = WatchedRoom(room)
        watched.seen = []
        relay = Relay(None, {ContestId("c1"): watched}, prefix="ce", clock=lambda: 0)  # type: ignore[arg-type]
        assert relay.deliver(b"ce:events:{c1}", FRAME) == 1
        assert gc.isenabled()
        assert await asyncio.wait_for(client.recv(decode=False), timeout()) == FRAME
    assert watched.seen == [False]  # the room was read (and written) with it paused
