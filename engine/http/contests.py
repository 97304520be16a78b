"""Organiser endpoints for contests: ``/api/contests``.

Every endpoint needs ``Authorization: Bearer <api key>`` (:func:`.auth.require_org`). An
organisation manages and reads only its own contests: another organisation's contest
answers ``403 forbidden``.

==============================================  ==============================================
``POST   /api/contests``                        create a draft from a bank version (201)
``GET    /api/contests``                        the organisation's contests (``?state=``)
``GET    /api/contests/{id}``                   one contest, with state and history
``PUT    /api/contests/{id}``                   replace a draft's definition
``DELETE /api/contests/{id}``                   delete (draft, finalized or cancelled)
``POST   /api/contests/{id}/<action>``          ``schedule``, ``unschedule``, ``start``,
                                                ``close``, ``finalize``, ``cancel``
``GET    /api/contests/{id}/stats``             live statistics
``GET    /api/contests/{id}/leaderboard``       ``?scope=global|province|unit&key=&limit=``
                                                ``&member=&around=``
``GET    /api/contests/{id}/units``             unit aggregates (participation)
``GET    /api/contests/{id}/results``           final standings; ``?format=csv`` or
                                                ``?format=xlsx`` (text cells guarded against
                                                spreadsheet formulas)
==============================================  ==============================================

Bodies and answers are JSON (docs/api.md, docs/openapi.yaml). A lifecycle action the
contest's state does not allow answers ``409 illegal_transition``; a definition with
problems ``422 contest_invalid`` listing each (``field``, ``message``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.campaigns.export import XLSX_MEDIA_TYPE, standings_xlsx
from engine.contests import stats
from engine.contests.store import ContestStore
from engine.core import lifecycle
from engine.core.contest import Contest, ContestSpec
from engine.core.errors import BadMessage, ContestConflict, ContestInvalid, ErrorCode
from engine.core.lifecycle import Event
from engine.http.auth import require_org
from engine.http.boards import board_response, leaderboard_query
from engine.http.common import attachment, decode_body, json_response, state_param, store_of
from question_bank.ids import ContestId, OrgId
from scoring.export import export
from scoring.export import rows as export_rows
from scoring.units import unit_stats

__all__ = ["ACTIONS", "MAX_BODY_BYTES", "routes"]

MAX_BODY_BYTES = 256 * 1024
ACTIONS: dict[str, Event | None] = {
    "schedule": "schedule",
    "unschedule": "unschedule",
    "start": None,  # open (window) or start (live): lifecycle.start_event(mode)
    "close": "close",
    "finalize": "finalize",
    "cancel": "cancel",
}


async def _spec(request: Request) -> ContestSpec:
    return await decode_body(request, ContestSpec, invalid=ContestInvalid, max_bytes=MAX_BODY_BYTES)


def _id(request: Request) -> ContestId:
    return ContestId(request.path_params["id"])


async def _owned(request: Request) -> tuple[OrgId, ContestStore, Contest]:
    org = await require_org(request)
    store = store_of(request)
    return org, store, await store.get_owned(org, _id(request))


async def create(request: Request) -> Response:
    org = await require_org(request)
    contest = await store_of(request).create(org, await _spec(request))
    return json_response(contest, 201, headers={"Location": f"/api/contests/{contest.id}"})


async def list_contests(request: Request) -> Response:
    org = await require_org(request)
    contests = await store_of(request).list(org)
    state = state_param(request)
    if state is not None:
        contests = [c for c in contests if c.state == state]
    return json_response(contests)


async def get_contest(request: Request) -> Response:
    _, _, contest = await _owned(request)
    return json_response(contest)


async def update(request: Request) -> Response:
    org = await require_org(request)
    contest = await store_of(request).update(org, _id(request), await _spec(request))
    return json_response(contest)


async def delete(request: Request) -> Response:
    org = await require_org(request)
    contest = await store_of(request).apply(_id(request), "delete", org=org)
    return json_response(contest)


def _action(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        org, store, contest = await _owned(request)
        event = ACTIONS[name] or lifecycle.start_event(contest.mode)
        if event == "finalize":
            contest = await store.finalize(contest.id, org=org)
        else:
            contest = await store.apply(contest.id, event, org=org)
        return json_response(contest)

    endpoint.__name__ = f"contest_{name}"
    return endpoint


async def contest_stats(request: Request) -> Response:
    _, store, contest = await _owned(request)
    bank = await store.bank(contest)
    runner = store.runner(contest)
    show_questions, current = await runner.asked(contest)
    result = await stats.read(
        store.redis,
        contest,
        bank,
        show_questions=show_questions,
        current=current,
        per_attempt=runner.answers_per_attempt,
        prefix=store.prefix,
    )
    return json_response(result)


async def leaderboard(request: Request) -> Response:
    _, store, contest = await _owned(request)
    query = leaderboard_query(request, max_limit=1000)
    return await board_response(store, contest, query)


async def units(request: Request) -> Response:
    _, store, contest = await _owned(request)
    rows = await unit_stats(store.redis, contest.id, prefix=store.prefix, shards=contest.shards)
    province = request.query_params.get("province")
    rows = [
        row
        for row in rows
        if (province is None or row.province == province)
        and (row.participants or contest.allows(row.province, row.unit))
    ]
    return json_response(rows)


async def results(request: Request) -> Response:
    _, store, contest = await _owned(request)
    if contest.state != "finalized":
        raise ContestConflict(
            f"contest {contest.id!r} is {contest.state}: no final standings yet",
            code=ErrorCode.NOT_FINALIZED,
        )
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise BadMessage("?format= must be json, csv or xlsx")
    if fmt == "xlsx":
        standings = [r async for r in export_rows(store.redis, contest.id, prefix=store.prefix)]
        # a large contest's workbook takes a while to write: off the event loop
        body = await asyncio.to_thread(standings_xlsx, standings)
        return attachment(body, XLSX_MEDIA_TYPE, f"{contest.id}.xlsx")
    body = await export(store.redis, contest.id, fmt, prefix=store.prefix)  # type: ignore[arg-type]
    if fmt == "csv":
        return attachment(body, "text/csv; charset=utf-8", f"{contest.id}.csv")
    return Response(body, media_type="application/json")


routes: list[BaseRoute] = [
    Route("/api/contests", create, methods=["POST"]),
    Route("/api/contests", list_contests, methods=["GET"]),
    Route("/api/contests/{id}", get_contest, methods=["GET"]),
    Route("/api/contests/{id}", update, methods=["PUT"]),
    Route("/api/contests/{id}", delete, methods=["DELETE"]),
    Route("/api/contests/{id}/stats", contest_stats, methods=["GET"]),
    Route("/api/contests/{id}/leaderboard", leaderboard, methods=["GET"]),
    Route("/api/contests/{id}/units", units, methods=["GET"]),
    Route("/api/contests/{id}/results", results, methods=["GET"]),
    *(Route(f"/api/contests/{{id}}/{name}", _action(name), methods=["POST"]) for name in ACTIONS),
]
