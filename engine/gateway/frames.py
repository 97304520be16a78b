"""Server frames written to member sockets: the WebSocket frame built once, its bytes
written to every socket.

A server's frames are not masked (RFC 6455 §5.1) and the gateway offers no extension, so
the bytes on the wire of one message are the same for every member: a 2-, 4- or 10-byte
header and the payload. :func:`websockets.asyncio.server.broadcast` builds that frame
again for each socket (a ``Frame`` object, its checks, ``struct`` and a ``BytesIO``);
:func:`write_text` builds it once (:func:`text_frame`) and writes the same bytes to each
socket's transport, with the checks ``broadcast`` makes: a socket that is not OPEN (its
close handshake started, or it is gone) is skipped, and one whose write fails is logged
and skipped, never raised to the caller. Like ``broadcast`` it does not wait for any
socket: a slow member's unsent bytes stay in its transport's buffer (the sweep drops it
past ``max_write_buffer``).

Writing beside ``websockets``' own ``send`` is safe: ``send`` writes each message as one
whole frame too (the gateway never sends a fragmented message), so frames never interleave
inside one another.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

__all__ = ["text_frame", "write_text"]

log = logging.getLogger(__name__)

_OPEN = State.OPEN
_FIN_TEXT = 0x81
"""FIN bit and opcode 1 (text): a whole text message in one frame."""


def text_frame(payload: bytes) -> bytes:
    """The unmasked WebSocket text frame carrying *payload* (UTF-8 JSON), as it goes on the
    wire: the same bytes websockets' ``Frame(OP_TEXT, payload).serialize(mask=False)``
    writes."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_TEXT, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, length) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, length) + payload


def write_text(sockets: Iterable[ServerConnection], payload: bytes) -> int:
    """Write one text message to every open socket of *sockets* without waiting; returns
    how many it was written to."""
    wire = text_frame(payload)
    written = 0
    for ws in sockets:
        if ws.protocol.state is not _OPEN:
            continue
        try:
            ws.transport.write(wire)
        except Exception as exc:  # the socket is going away: its handler cleans up
            log.debug("could not write to a member socket: %s", exc)
            continue
        written += 1
    return written
