"""Leaderboard queries shared by the organiser and public endpoints.

``?scope=global|province|unit`` (default ``global``), ``&key=`` the province or unit id
(required for those scopes), ``&limit=`` entries from the top (default 10), and, for
organisers only, ``&member=`` a member id to include their standing with ``&around=k``
neighbours above and below.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from engine.contests.store import ContestStore
from engine.core.contest import Contest
from engine.core.errors import BadMessage
from engine.http.common import json_response
from question_bank.ids import MemberId
from scoring.leaderboard import Leaderboard, Standing

__all__ = ["BoardAnswer", "BoardQuery", "board_response", "leaderboard_query"]

Scope = Literal["global", "province", "unit"]


class BoardQuery(msgspec.Struct, frozen=True, kw_only=True):
    scope: Scope = "global"
    key: str | None = None
    limit: int = 10
    member: MemberId | None = None
    around: int = 0


class BoardAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A leaderboard as the API answers it."""

    contest: str
    scope: Scope
    key: str | None
    size: int
    """Members on this board."""
    top: list[Standing]
    member: Standing | None = None
    """The asked member's standing (``null`` if not on the board, or not asked)."""
    around: list[Standing] = []


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # ASCII digits only: int() also takes "1_0", " 1", "+1" and other scripts' digits.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise BadMessage(f"?{name}= must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise BadMessage(f"?{name}= must be between {low} and {high}")
    return value


def leaderboard_query(request: Request, *, max_limit: int, members: bool = True) -> BoardQuery:
    """Parse a leaderboard query; :class:`BadMessage` (400) if it makes no sense."""
    params = request.query_params
    scope = params.get("scope", "global")
    if scope not in ("global", "province", "unit"):
        raise BadMessage("?scope= must be global, province or unit")
    key = params.get("key")
    if scope != "global" and not key:
        raise BadMessage(f"a {scope} leaderboard needs ?key= (the {scope} id)")
    member = params.get("member")
    if member is not None and not members:
        raise BadMessage("?member= is for organisers only")
    return BoardQuery(
        scope=scope,  # type: ignore[arg-type]
        key=key if scope != "global" else None,
        limit=_int(request, "limit", 10, 0, max_limit),
        member=MemberId(member) if member else None,
        around=_int(request, "around", 0, 0, 50),
    )


async def board_response(store: ContestStore, contest: Contest, query: BoardQuery) -> Response:
    board = Leaderboard(store.redis, contest.id, store.prefix, shards=contest.shards)
    where = {query.scope: query.key} if query.scope != "global" else {}
    size = await board.size(**where)
    top = await board.top(query.limit, **where)
    member = None
    around: list[Standing] = []
    if query.member is not None:
        member = await board.rank(query.member, **where)
        if query.around:
            around = await board.around(query.member, query.around, **where)
    return json_response(
        BoardAnswer(
            contest=contest.id,
            scope=query.scope,
            key=query.key,
            size=size,
            top=top,
            member=member,
            around=around,
        )
    )
