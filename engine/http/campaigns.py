"""Organiser endpoints for campaigns: ``/api/campaigns``.

Every endpoint needs ``Authorization: Bearer <api key>`` (:func:`.auth.require_org`). An
organisation manages its own campaigns; a provincial organisation may also read (show,
report) a campaign of another organisation open to its province, sliced to its province.

==============================================  ==============================================
``POST   /api/campaigns``                       create a campaign (201)
``GET    /api/campaigns``                       the organisation's campaigns, and those it
                                                may read
``GET    /api/campaigns/{id}``                  one campaign with its rounds and their states
``POST   /api/campaigns/{id}/rounds``           schedule rounds from a weekly rule (201);
                                                ``?dry_run=true``: check and show them only
``GET    /api/campaigns/{id}/report``           participation report; ``?format=csv``
                                                ``&table=areas|members``; ``?format=xlsx``
                                                (both tables, one workbook)
==============================================  ==============================================

Times are accepted as epoch ms or ISO 8601 with a zone, and shown both as epoch ms and in
the campaign's zone (docs/campaigns.md).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.campaigns.export import XLSX_MEDIA_TYPE, report_csv, report_xlsx
from engine.campaigns.store import CampaignStore
from engine.core.campaign import Campaign, CampaignSpec, ScheduleSpec, campaign_view
from engine.core.errors import BadMessage, CampaignInvalid, Forbidden, OrgNotFound
from engine.directory.orgs import OrgStore
from engine.http.auth import require_org
from engine.http.common import attachment, decode_body, json_response
from question_bank.ids import OrgId, ProvinceId

__all__ = ["MAX_BODY_BYTES", "routes"]

MAX_BODY_BYTES = 64 * 1024


def _store(request: Request) -> CampaignStore:
    return CampaignStore(request.app.state.redis, request.app.state.settings.key_prefix)


async def _province_of(request: Request, org: OrgId) -> ProvinceId | None:
    """The province of a provincial organisation, else ``None``."""
    try:
        owner = await OrgStore(request.app.state.redis, request.app.state.settings.key_prefix).get(
            org
        )
    except OrgNotFound:
        return None
    return owner.province if owner.kind == "province" else None


def _readable_in(campaign: Campaign, province: ProvinceId | None) -> bool:
    return province is not None and (
        not campaign.eligibility.restricted or province in campaign.eligibility.provinces
    )


async def _readable(request: Request) -> tuple[CampaignStore, Campaign, ProvinceId | None]:
    """The campaign of the path and the province to slice it to (``None``: all of it, its
    owner's view); :class:`Forbidden` if the organisation may not read it."""
    org = await require_org(request)
    store = _store(request)
    campaign = await store.get(request.path_params["id"])
    if campaign.owned_by(org):
        return store, campaign, None
    province = await _province_of(request, org)
    if not _readable_in(campaign, province):
        raise Forbidden(f"campaign {campaign.id!r} belongs to another organisation")
    return store, campaign, province


async def create(request: Request) -> Response:
    org = await require_org(request)
    spec = await decode_body(
        request, CampaignSpec, invalid=CampaignInvalid, max_bytes=MAX_BODY_BYTES
    )
    campaign = await _store(request).create(org, spec)
    return json_response(campaign, 201, headers={"Location": f"/api/campaigns/{campaign.id}"})


async def list_campaigns(request: Request) -> Response:
    org = await require_org(request)
    province = await _province_of(request, org)
    campaigns = await _store(request).list()
    return json_response([c for c in campaigns if c.owned_by(org) or _readable_in(c, province)])


async def show(request: Request) -> Response:
    store, campaign, _ = await _readable(request)
    return json_response(campaign_view(campaign, await store.rounds(campaign)))


async def schedule(request: Request) -> Response:
    org = await require_org(request)
    store = _store(request)
    campaign = await store.get_owned(org, request.path_params["id"])
    dry_run = request.query_params.get("dry_run", "false")
    if dry_run not in ("true", "false"):
        raise BadMessage("?dry_run= must be true or false")
    spec = await decode_body(
        request, ScheduleSpec, invalid=CampaignInvalid, max_bytes=MAX_BODY_BYTES
    )
    planned = await store.schedule(org, campaign.id, spec, dry_run=dry_run == "true")
    if dry_run == "true":
        return json_response(campaign_view(campaign, planned))
    return json_response(campaign_view(campaign, await store.rounds(campaign)), 201)


async def report(request: Request) -> Response:
    store, campaign, province = await _readable(request)
    fmt = request.query_params.get("format", "json")
    table = request.query_params.get("table", "areas")
    if fmt not in ("json", "csv", "xlsx"):
        raise BadMessage("?format= must be json, csv or xlsx")
    if table not in ("areas", "members"):
        raise BadMessage("?table= must be areas or members")
    result = await store.report(campaign, province=province)
    if fmt == "json":
        return json_response(result)
    if fmt == "xlsx":
        # a large campaign's workbook takes a while to write: off the event loop
        return attachment(
            await asyncio.to_thread(report_xlsx, result), XLSX_MEDIA_TYPE, f"{campaign.id}.xlsx"
        )
    return attachment(
        report_csv(result, table),  # type: ignore[arg-type]
        "text/csv; charset=utf-8",
        f"{campaign.id}-{table}.csv",
    )


routes: list[BaseRoute] = [
    Route("/api/campaigns", create, methods=["POST"]),
    Route("/api/campaigns", list_campaigns, methods=["GET"]),
    Route("/api/campaigns/{id}", show, methods=["GET"]),
    Route("/api/campaigns/{id}/rounds", schedule, methods=["POST"]),
    Route("/api/campaigns/{id}/report", report, methods=["GET"]),
]
