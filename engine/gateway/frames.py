"""Server frames written to member sockets: the WebSocket frame built once, its bytes
written to every socket.

A server's frames are not masked (RFC 6455 §5.1) and the gateway offers no extension, so
the bytes on the wire of one message are the same for every member: a 2-, 4- or 10-byte
header and the payload. :func:`write_text` builds that frame once (:func:`text_frame`) and
writes the same bytes to each socket's transport. A socket whose close handshake started
(the gateway or picows sent its close frame) or that is gone is skipped, and one whose write
fails is logged and skipped, never raised to the caller. It does not wait for any socket: a
slow member's unsent bytes stay in its transport's buffer (the sweep drops it past
``max_write_buffer``).

A socket is anything with a picows ``transport`` (:class:`Socket`): the gateway's
:class:`~engine.gateway.server.Connection` is one. Writing the frame's bytes to the transport
beside picows' own ``WSTransport.send`` is safe: ``send`` writes each message as one whole
frame too (the gateway never sends a fragmented message), through the same transport, so
frames never interleave inside one another.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from typing import Protocol

from picows import WSTransport

__all__ = ["Socket", "is_open", "text_frame", "write_text"]

log = logging.getLogger(__name__)

_FIN_TEXT = 0x81
"""FIN bit and opcode 1 (text): a whole text message in one frame."""


class Socket(Protocol):
    """What :func:`write_text` needs of a member's socket: its picows transport."""

    @property
    def transport(self) -> WSTransport: ...


def text_frame(payload: bytes) -> bytes:
    """The unmasked WebSocket text frame carrying *payload* (UTF-8 JSON), as it goes on the
    wire (RFC 6455 §5.2; byte for byte what websockets' ``Frame(OP_TEXT,
    payload).serialize(mask=False)`` and picows' ``send`` write)."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_TEXT, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, length) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, length) + payload


def is_open(transport: WSTransport) -> bool:
    """Whether frames may still be written to *transport*: no close frame sent, not gone."""
    return not (transport.is_close_frame_sent or transport.is_disconnected)


def write_text(sockets: Iterable[Socket], payload: bytes) -> int:
    """Write one text message to every open socket of *sockets* without waiting; returns
    how many it was written to."""
    wire = text_frame(payload)
    written = 0
    for sock in sockets:
        transport = sock.transport
        if transport.is_close_frame_sent or transport.is_disconnected:  # is_open, inlined
            continue
        try:
            transport.underlying_transport.write(wire)
        except Exception as exc:  # the socket is going away: its listener cleans up
            log.debug("could not write to a member socket: %s", exc)
            continue
        written += 1
    return written
