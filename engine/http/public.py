"""Public endpoints: contest information and leaderboards, no API key needed.

=======================================  ===================================================
``GET /public/contests``                 contests members can see (``?org=``, ``?state=``)
``GET /public/contests/{id}``            one contest's public information
``GET /public/contests/{id}/leaderboard``  ``?scope=global|province|unit&key=&limit=``
                                         (``limit`` at most 100)
=======================================  ===================================================

Drafts and deleted contests are not public (404 ``contest_not_found``). The public view
leaves out the bank, its version and the draw rules' details; answers, statistics and
results are for the organiser (``/api/contests``).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.core import lifecycle
from engine.core.contest import Contest
from engine.core.errors import ContestNotFound
from engine.core.lifecycle import Mode
from engine.http.boards import board_response, leaderboard_query
from engine.http.common import json_response, state_param, store_of
from question_bank.ids import ContestId, OrgId, ProvinceId, QuestionId, UnitId

__all__ = ["PublicContest", "public_view", "routes"]


class PublicContest(msgspec.Struct, frozen=True, kw_only=True):
    """What anyone may know about a contest."""

    id: ContestId
    org: OrgId
    title: str
    description: str
    mode: Mode
    state: str
    question_count: int
    starts_at: int | None = None
    """Live shows: when the first question is released (ms)."""
    question_seconds: int | None = None
    opens_at: int | None = None
    """Window rounds: when attempts may start (ms)."""
    closes_at: int | None = None
    attempt_seconds: int | None = None
    attempts_allowed: int | None = None
    prediction_question: QuestionId | None = None
    provinces: list[ProvinceId] = []
    """Members of these provinces may take part (empty: no province limit)."""
    units: list[UnitId] = []
    """Members of these units may take part (empty: no unit limit)."""


def public_view(contest: Contest) -> PublicContest:
    view = PublicContest(
        id=contest.id,
        org=contest.org,
        title=contest.title,
        description=contest.description,
        mode=contest.mode,
        state=contest.state,
        question_count=contest.draw.count,
        provinces=contest.eligibility.provinces,
        units=contest.eligibility.units,
    )
    if contest.live is not None:
        view = msgspec.structs.replace(
            view,
            starts_at=contest.live.starts_at,
            question_seconds=contest.live.question_seconds,
        )
    if contest.window is not None:
        view = msgspec.structs.replace(
            view,
            opens_at=contest.window.opens_at,
            closes_at=contest.window.closes_at,
            attempt_seconds=contest.window.attempt_seconds,
            attempts_allowed=contest.window.attempts_allowed,
            prediction_question=contest.window.prediction_question,
        )
    return view


async def _public(request: Request) -> Contest:
    contest = await store_of(request).get(request.path_params["id"])
    if not lifecycle.is_public(contest.state):
        raise ContestNotFound(f"no contest {contest.id!r}")
    return contest


async def list_public(request: Request) -> Response:
    org = request.query_params.get("org")
    state = state_param(request)
    contests = await store_of(request).list(OrgId(org) if org else None)
    return json_response(
        [
            public_view(c)
            for c in contests
            if lifecycle.is_public(c.state) and (state is None or c.state == state)
        ]
    )


async def get_public(request: Request) -> Response:
    return json_response(public_view(await _public(request)))


async def public_leaderboard(request: Request) -> Response:
    contest = await _public(request)
    query = leaderboard_query(request, max_limit=100, members=False)
    return await board_response(store_of(request), contest, query)


routes: list[BaseRoute] = [
    Route("/public/contests", list_public, methods=["GET"]),
    Route("/public/contests/{id}", get_public, methods=["GET"]),
    Route("/public/contests/{id}/leaderboard", public_leaderboard, methods=["GET"]),
]
