"""engine.gateway.frames: a text frame built once and its bytes written to each socket.

The frame is byte for byte what websockets builds for the same message (every length
class of the header), real clients read it as the message, and a socket that is closing
(its close frame sent) or gone is skipped."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from picows import WSCloseCode
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from engine.gateway.frames import text_frame, write_text
from tests.test_relay_gc import one_member
from tests.utils import timeout

BOUNDARIES = [0, 1, 125, 126, 127, 65535, 65536, 70_000]


@given(st.sampled_from(BOUNDARIES) | st.integers(0, 70_000), st.binary(max_size=8))
def test_the_frame_is_the_one_websockets_builds(length: int, seed: bytes) -> None:
    payload = (seed or b"x") * (length // max(1, len(seed)) + 1)
    payload = payload[:length]
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


async def test_clients_read_each_length_class_as_the_message() -> None:
    async with one_member() as (room, client):
        for size in (5, 200, 70_000):
            message = '{"type":"state","x":"' + "a" * size + '"}'
            assert write_text(room, message.encode()) == 1
            assert await asyncio.wait_for(client.recv(), timeout()) == message


async def test_a_closing_socket_is_skipped_and_the_others_still_get_the_frame() -> None:
    async with one_member() as (first, first_client), one_member() as (second, second_client):
        (closing,) = first
        closing.transport.send_close(WSCloseCode.GOING_AWAY)  # its close handshake started
        assert write_text([closing, *second], b'{"type":"ping"}') == 1
        assert await asyncio.wait_for(second_client.recv(), timeout()) == '{"type":"ping"}'
        with pytest.raises(ConnectionClosed):  # the closing one got its close frame only
            await asyncio.wait_for(first_client.recv(), timeout())


async def test_a_socket_that_is_gone_is_skipped() -> None:
    async with one_member() as (room, client):
        (gone,) = room
        await client.close()
        await asyncio.wait_for(gone.transport.wait_disconnected(), timeout())
        assert write_text(room, b'{"type":"ping"}') == 0
