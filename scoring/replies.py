"""Redis replies as Python values, whichever way the client decodes them.

The scoring modules take any client (``decode_responses`` on or off, cluster or not), so a
reply is ``bytes`` or ``str``; :func:`text` is the one place that turns it into ``str``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["text"]


def text(value: Any) -> str:
    """*value* (a Redis reply: ``bytes``, ``str`` or a number) as ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)
