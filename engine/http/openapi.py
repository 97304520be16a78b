"""The OpenAPI 3.1 description of the HTTP API, written to docs/openapi.yaml.

The endpoints are listed here by hand (:data:`ENDPOINTS`); their schemas are generated from
the msgspec Structs the endpoints decode and encode, so they cannot drift from the code. A
test checks that docs/openapi.yaml is what :func:`render` produces and that its paths and
methods are exactly the application's routes. Regenerate with::

    python -m engine.http.openapi > docs/openapi.yaml
"""

from __future__ import annotations

from typing import Any

import msgspec
import yaml

from engine.contests.stats import ContestStats
from engine.core.campaign import Campaign, CampaignReport, CampaignSpec, CampaignView, ScheduleSpec
from engine.core.contest import Contest, ContestSpec
from engine.core.errors import ErrorCode
from engine.directory.banks import BankSummary
from engine.directory.orgs import Organisation, OrgChange
from engine.http.banks import TEMPLATE_TYPES, Uploaded
from engine.http.boards import BoardAnswer
from engine.http.contests import ACTIONS
from engine.http.public import PublicContest
from question_bank.models import Bank
from scoring.export import ExportRow
from scoring.units import UnitStats

__all__ = ["ENDPOINTS", "Endpoint", "render", "spec"]

_STRUCTS: list[Any] = [
    Contest,
    ContestSpec,
    ContestStats,
    BoardAnswer,
    UnitStats,
    ExportRow,
    PublicContest,
    BankSummary,
    Uploaded,
    Bank,
    Campaign,
    CampaignSpec,
    CampaignView,
    ScheduleSpec,
    CampaignReport,
    Organisation,
    OrgChange,
]


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    path: str
    summary: str
    tag: str
    auth: bool = True
    request: str | None = None
    """A schema name, or ``text`` for a raw file body."""
    response: str | None = None
    """A schema name, ``[Name]`` for an array of them, ``text``, or ``None`` for no body."""
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str], ...] = ()


def _actions() -> list[Endpoint]:
    text = {
        "schedule": "draft -> scheduled (times fixed; the scheduler starts it on time)",
        "unschedule": "scheduled -> draft (to edit it again)",
        "start": "scheduled -> open (window) or running (live), now",
        "close": "open / running -> closed (no more answers)",
        "finalize": "closed -> finalized (final standings with the tie-break chain)",
        "cancel": "scheduled / open / running -> cancelled",
    }
    return [
        Endpoint(
            method="post",
            path=f"/api/contests/{{id}}/{name}",
            summary=text[name],
            tag="contests",
            response="Contest",
            errors=(401, 403, 404, 409),
        )
        for name in ACTIONS
    ]


_UPLOAD_QUERY = (
    (
        "format",
        "yaml, json, gift, aiken, csv or xlsx (else the Content-Type, else the extension of"
        " ?filename=, decides)",
    ),
    (
        "filename",
        "the file's name: for problem locations, and the default id (without diacritics or"
        " spaces) and title",
    ),
    ("title", "the title, for formats without one"),
    (
        "strict",
        "true: refuse a file with questions the engine cannot run (422) instead of leaving"
        " them out with a warning",
    ),
)

_BOARD_QUERY = (
    ("scope", "global (default), province or unit"),
    ("key", "the province or unit id (with scope=province|unit)"),
    ("limit", "entries from the top (default 10)"),
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(method="get", path="/healthz", summary="liveness", tag="health", auth=False),
    Endpoint(
        method="get",
        path="/readyz",
        summary="readiness: Redis answers a PING within 1 s",
        tag="health",
        auth=False,
        errors=(503,),
    ),
    Endpoint(
        method="get",
        path="/metrics",
        summary="Prometheus metrics (text exposition)",
        tag="health",
        auth=False,
        response="text",
    ),
    Endpoint(
        method="post",
        path="/api/banks",
        summary="upload a new bank (raw file body; ?format=, ?id=, ?title=, ?filename=)",
        tag="banks",
        request="text",
        response="Uploaded",
        status=201,
        errors=(400, 401, 409, 413, 415, 422),
        query=(
            *_UPLOAD_QUERY,
            ("id", "the bank id (GIFT, Aiken, CSV and xlsx files cannot name it)"),
        ),
    ),
    Endpoint(
        method="get",
        path="/api/banks",
        summary="the organisation's banks",
        tag="banks",
        response="BankList",
        errors=(401,),
    ),
    Endpoint(
        method="get",
        path="/api/banks/{bank_id}",
        summary="a bank as JSON (?version=N), or exported as a file (?format=F)",
        tag="banks",
        response="Bank",
        errors=(400, 401, 404, 415),
        query=(
            ("version", "this version (a whole number >= 1) instead of the latest"),
            ("format", "export as a file in this format (yaml, json, gift, aiken, csv)"),
        ),
    ),
    Endpoint(
        method="put",
        path="/api/banks/{bank_id}",
        summary="replace a bank: stores a new version",
        tag="banks",
        request="text",
        response="Uploaded",
        errors=(400, 401, 404, 413, 415, 422),
        query=_UPLOAD_QUERY,
    ),
    *(
        Endpoint(
            method="get",
            path=f"/api/bank-template.{fmt}",
            summary="a bank file to start from: Vietnamese headers and two example rows",
            tag="banks",
            response=fmt,
            errors=(401,),
        )
        for fmt in TEMPLATE_TYPES
    ),
    Endpoint(
        method="delete",
        path="/api/banks/{bank_id}",
        summary="hide a bank (its versions stay readable by number)",
        tag="banks",
        status=204,
        errors=(401, 404),
    ),
    Endpoint(
        method="get",
        path="/api/banks/{bank_id}/versions",
        summary="stored version numbers",
        tag="banks",
        response="BankVersions",
        errors=(401, 404),
    ),
    Endpoint(
        method="post",
        path="/api/contests",
        summary="create a draft contest from a bank version",
        tag="contests",
        request="ContestSpec",
        response="Contest",
        status=201,
        errors=(400, 401, 409, 422),
    ),
    Endpoint(
        method="get",
        path="/api/contests",
        summary="the organisation's contests",
        tag="contests",
        response="[Contest]",
        errors=(400, 401),
        query=(("state", "only contests in this state"),),
    ),
    Endpoint(
        method="get",
        path="/api/contests/{id}",
        summary="one contest with its state and history",
        tag="contests",
        response="Contest",
        errors=(401, 403, 404),
    ),
    Endpoint(
        method="put",
        path="/api/contests/{id}",
        summary="replace a draft's definition",
        tag="contests",
        request="ContestSpec",
        response="Contest",
        errors=(400, 401, 403, 404, 409, 422),
    ),
    Endpoint(
        method="delete",
        path="/api/contests/{id}",
        summary="delete a draft, finalized or cancelled contest (its scoring data too)",
        tag="contests",
        response="Contest",
        errors=(401, 403, 404, 409),
    ),
    *_actions(),
    Endpoint(
        method="get",
        path="/api/contests/{id}/stats",
        summary="live statistics: members online, answers per second, per-question split",
        tag="statistics",
        response="ContestStats",
        errors=(401, 403, 404),
    ),
    Endpoint(
        method="get",
        path="/api/contests/{id}/leaderboard",
        summary="a leaderboard: global, one province's or one unit's",
        tag="leaderboards",
        response="BoardAnswer",
        errors=(400, 401, 403, 404),
        query=(
            *_BOARD_QUERY,
            ("member", "a member id: their standing too"),
            ("around", "with member: this many neighbours above and below"),
        ),
    ),
    Endpoint(
        method="get",
        path="/api/contests/{id}/units",
        summary="unit aggregates: participants, completed attempts, participation rate",
        tag="leaderboards",
        response="[UnitStats]",
        errors=(401, 403, 404),
        query=(("province", "only the units of this province"),),
    ),
    Endpoint(
        method="get",
        path="/api/contests/{id}/results",
        summary="final standings (JSON; a CSV file with ?format=csv, xlsx with ?format=xlsx)",
        tag="results",
        response="[ExportRow]",
        errors=(400, 401, 403, 404, 409),
        query=(("format", "json (default), csv or xlsx (one sheet, standings)"),),
    ),
    Endpoint(
        method="get",
        path="/api/org",
        summary="the organisation of the API key, with its time zone",
        tag="organisation",
        response="Organisation",
        errors=(401, 404),
    ),
    Endpoint(
        method="patch",
        path="/api/org",
        summary="change the organisation's name or time zone (an IANA zone; else 422 org_invalid)",
        tag="organisation",
        request="OrgChange",
        response="Organisation",
        errors=(400, 401, 404, 422),
    ),
    Endpoint(
        method="post",
        path="/api/campaigns",
        summary="create a campaign (rounds come with POST /api/campaigns/{id}/rounds)",
        tag="campaigns",
        request="CampaignSpec",
        response="Campaign",
        status=201,
        errors=(400, 401, 409, 422),
    ),
    Endpoint(
        method="get",
        path="/api/campaigns",
        summary="the organisation's campaigns, and those of others open to its province",
        tag="campaigns",
        response="[Campaign]",
        errors=(401,),
    ),
    Endpoint(
        method="get",
        path="/api/campaigns/{id}",
        summary="one campaign with its rounds, their states and times in its zone",
        tag="campaigns",
        response="CampaignView",
        errors=(401, 403, 404),
    ),
    Endpoint(
        method="post",
        path="/api/campaigns/{id}/rounds",
        summary="create (and schedule) every round of a weekly rule, and a live final",
        tag="campaigns",
        request="ScheduleSpec",
        response="CampaignView",
        status=201,
        errors=(400, 401, 403, 404, 422),
        query=(
            (
                "dry_run",
                "true: check everything and answer 200 with the rounds it would create (only"
                " those), storing nothing",
            ),
        ),
    ),
    Endpoint(
        method="get",
        path="/api/campaigns/{id}/report",
        summary="participants and attempts per province and unit, per round and in total",
        tag="campaigns",
        response="CampaignReport",
        errors=(400, 401, 403, 404),
        query=(
            ("format", "json (default), csv or xlsx (both tables, one workbook)"),
            ("table", "with format=csv: areas (default) or members"),
        ),
    ),
    Endpoint(
        method="get",
        path="/public/contests",
        summary="contests members can see",
        tag="public",
        auth=False,
        response="[PublicContest]",
        errors=(400,),
        query=(("org", "only this organisation's"), ("state", "only in this state")),
    ),
    Endpoint(
        method="get",
        path="/public/contests/{id}",
        summary="a contest's public information",
        tag="public",
        auth=False,
        response="PublicContest",
        errors=(404,),
    ),
    Endpoint(
        method="get",
        path="/public/contests/{id}/leaderboard",
        summary="a public leaderboard (limit at most 100)",
        tag="public",
        auth=False,
        response="BoardAnswer",
        errors=(400, 404),
        query=_BOARD_QUERY,
    ),
    # The member player (engine/http/play.py, docs/player.md); its scripts and styles are
    # static files under /play/.
    Endpoint(
        method="get",
        path="/play",
        summary="the member player's page (HTML; the link's fragment carries ws and token)",
        tag="player",
        auth=False,
    ),
    Endpoint(
        method="get",
        path="/play/i18n/{lang}.json",
        summary="the member player's texts in vi or en: an object English text -> translation",
        tag="player",
        auth=False,
        errors=(404,),
    ),
]

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "stable code: the engine's (listed here), the banks' "
                    "(bank_invalid, bank_not_found, unsupported_format) or http_<status>",
                    "examples": [code.value for code in ErrorCode],
                },
                "message": {"type": "string"},
                "problems": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


def _content(name: str) -> dict[str, Any]:
    if name == "text":
        return {"text/plain": {"schema": {"type": "string"}}}
    if name in TEMPLATE_TYPES:
        media = TEMPLATE_TYPES[name].split(";")[0]
        return {media: {"schema": {"type": "string", "format": "binary"}}}
    if name.startswith("["):
        schema: dict[str, Any] = {
            "type": "array",
            "items": {"$ref": f"#/components/schemas/{name[1:-1]}"},
        }
    else:
        schema = {"$ref": f"#/components/schemas/{name}"}
    return {"application/json": {"schema": schema}}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": endpoint.summary, "tags": [endpoint.tag]}
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("id", "bank_id", "lang")
        if f"{{{name}}}" in endpoint.path
    ]
    params += [
        {"name": name, "in": "query", "description": text, "schema": {"type": "string"}}
        for name, text in endpoint.query
    ]
    if params:
        operation["parameters"] = params
    if endpoint.auth:
        operation["security"] = [{"bearer": []}, {"console": []}]
    if endpoint.request is not None:
        operation["requestBody"] = {"required": True, "content": _content(endpoint.request)}
    ok: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        ok["content"] = _content(endpoint.response)
    responses: dict[str, Any] = {str(endpoint.status): ok}
    for status in endpoint.errors:
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    operation["responses"] = responses
    return operation


def spec() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    _, schemas = msgspec.json.schema_components(
        _STRUCTS, ref_template="#/components/schemas/{name}"
    )
    schemas["Error"] = _ERROR_SCHEMA
    schemas["BankList"] = {
        "type": "object",
        "properties": {
            "banks": {"type": "array", "items": {"$ref": "#/components/schemas/BankSummary"}}
        },
    }
    schemas["BankVersions"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "integer"}},
            "latest": {"type": "integer"},
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Contest engine HTTP API",
            "version": "1",
            "description": "Organiser and public HTTP API (see docs/api.md). Times are "
            "integer milliseconds since the epoch.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {
                "Error": {
                    "description": "an error (see docs/api.md, Errors)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an organiser API key (contest key create ORG)",
                },
                "console": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "ce_console",
                    "description": (
                        "the organiser console's session (docs/console.md), signed in with"
                        " an API key; a POST, PUT, PATCH or DELETE also needs the session's CSRF"
                        " token in X-CSRF-Token (else 403 csrf_failed)"
                    ),
                },
            },
        },
    }


def render() -> str:
    """docs/openapi.yaml's text."""
    header = "# Generated by `python -m engine.http.openapi`; do not edit (a test checks it).\n"
    return header + yaml.safe_dump(spec(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    print(render(), end="")
