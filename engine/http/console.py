"""The organiser console: server-rendered pages at ``/console`` (docs/console.md).

An organiser signs in with an organisation's API key (:func:`.auth.sign_in`); the session
cookie then authorises the pages *and* the HTTP API itself (:func:`.auth.require_org`), so
the console sees and changes exactly what the key allows in the API. Pages read what they
show through the same stores as the API's endpoints, for the session's organisation only;
every change (an upload, a new contest, a lifecycle action) is sent by the page's script
(``engine/web/static/console.js``) to the API endpoints themselves, with the session's CSRF
token in ``X-CSRF-Token``.

=========================================  =================================================
``GET  /console``                          the organisation's home (sign in first)
``GET  /console/signin``, ``POST``         the sign-in form: an API key
``POST /console/signout``                  end the session
``GET  /console/lang/{vi|en}``             switch the language (kept in the session)
``GET  /console/banks``                    banks, and uploading one (drag and drop)
``GET  /console/banks/{id}``               a bank's questions with filters, its versions
``GET  /console/banks/{id}/questions/{q}`` a question as a member sees it
``GET  /console/contests``                 contests and campaigns
``GET  /console/campaigns/new``            create a campaign
``GET  /console/campaigns/{id}``           a campaign's rounds and report; schedule rounds
``GET  /console/contests/new``             create a contest from a bank
``GET  /console/contests/{id}``            a contest: timing, history, lifecycle actions
``GET  /console/contests/{id}/live``       live figures (polled from the API)
``GET  /console/contests/{id}/results``    final standings, units, downloads
``GET  /console/static/...``               the pages' script and style sheet
=========================================  =================================================

Texts are in the ``console`` catalogues (engine/web/locale), Vietnamese first; numbers and
times are shown the Vietnamese way, times in the organisation's time zone
(:attr:`Organisation.zone <engine.directory.orgs.Organisation.zone>`, :data:`ZONE` before
signing in), which the page's script also reads every time entered in a form in.
"""

from __future__ import annotations

import collections
import functools
import re
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from engine.core.campaign import DEFAULT_ZONE
from engine.core.errors import PeerError, Unauthorized
from engine.directory.banks import BankStore
from engine.directory.orgs import OrgStore
from engine.http.auth import CSRF_FIELD, check_csrf, csrf_token, require_org, sign_in, sign_out
from engine.http.common import store_of
from engine.web import i18n
from question_bank.errors import BankNotFound
from question_bank.ids import BankId, OrgId
from question_bank.models import Bank, MultipleChoice, Question, SingleChoice, TrueFalse

__all__ = [
    "STATIC_DIR",
    "ZONE",
    "ZONES",
    "console_texts",
    "routes",
    "script_texts",
    "template_texts",
]

ZONE = DEFAULT_ZONE
"""The time zone of the pages shown before signing in (an organisation's own afterwards)."""
ZONES = tuple(sorted(zoneinfo.available_timezones()))
"""The IANA zones the home page's time-zone field suggests."""
WEB_DIR = Path(i18n.__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATE_DIR = WEB_DIR / "templates"

_TEXT_CALL = re.compile(r"""\b_\("((?:[^"\\]|\\.)+)"\)""")
_SCRIPT_CALL = re.compile(r"""\bt\("((?:[^"\\]|\\.)+)"\)""")


@functools.cache
def template_texts() -> frozenset[str]:
    """Every text the templates translate (``_("...")``)."""
    found: set[str] = set()
    for path in TEMPLATE_DIR.glob("*.html"):
        found.update(_TEXT_CALL.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


@functools.cache
def script_texts() -> frozenset[str]:
    """Every text the console's script translates (``t("...")``): pages hand it their
    translations, so the script carries no catalogue of its own."""
    found: set[str] = set()
    for path in STATIC_DIR.glob("console*.js"):
        found.update(_SCRIPT_CALL.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


_templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("engine.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

KIND_NAMES = {
    "single": "Single choice",
    "multiple": "Multiple choice",
    "true_false": "True or false",
    "numeric": "Number",
    "short_text": "Short text",
    "prediction": "Prediction",
}
DIFFICULTY_NAMES = {"easy": "Easy", "medium": "Medium", "hard": "Hard"}
WEEKDAY_NAMES = {
    "monday": "Monday",
    "tuesday": "Tuesday",
    "wednesday": "Wednesday",
    "thursday": "Thursday",
    "friday": "Friday",
    "saturday": "Saturday",
    "sunday": "Sunday",
}
STATE_NAMES = {
    "draft": "Draft",
    "scheduled": "Scheduled",
    "open": "Open",
    "running": "Running",
    "closed": "Closed",
    "finalized": "Finalized",
    "cancelled": "Cancelled",
    "deleted": "Deleted",
}


def console_texts() -> frozenset[str]:
    """Every text the console shows: the templates', the script's, and the names above."""
    names = {
        *KIND_NAMES.values(),
        *DIFFICULTY_NAMES.values(),
        *STATE_NAMES.values(),
        *WEEKDAY_NAMES.values(),
    }
    return template_texts() | script_texts() | names


def _lang(request: Request) -> str:
    session = request.scope.get("session") or {}
    return i18n.negotiate(session.get("lang"), request.headers.get("accept-language"))


def _render(
    request: Request, name: str, org: OrgId | None, status: int = 200, **context: Any
) -> Response:
    lang = _lang(request)
    gettext = i18n.translator("console", lang)
    zone = str(getattr(request.state, "zone", ZONE))
    context.update(
        _=gettext,
        lang=lang,
        org=org,
        csrf=csrf_token(request),
        csrf_field=CSRF_FIELD,
        zone=zone,
        number=lambda value: i18n.number(value, lang),
        moment=lambda ms: "—" if ms is None else i18n.moment(ms, zone, lang),
        kind_name=lambda kind: gettext(KIND_NAMES.get(kind) or str(kind)),
        difficulty_name=lambda d: gettext(DIFFICULTY_NAMES.get(d) or str(d)),
        state_name=lambda s: gettext(STATE_NAMES.get(s) or str(s)),
        weekday_name=lambda d: gettext(WEEKDAY_NAMES.get(d) or str(d)),
        texts={text: gettext(text) for text in sorted(script_texts())},
        here=request.url.path,
    )
    response = _templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"
    )
    return response


def _to_signin(request: Request) -> Response:
    return RedirectResponse(f"/console/signin?next={quote(request.url.path)}", status_code=303)


def page(
    handler: Callable[[Request, OrgId], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A console page: signed in (else to the sign-in form); a refused read (another
    organisation's contest, an unknown bank) renders the error page with its status."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            org = await require_org(request)
        except Unauthorized:
            return _to_signin(request)
        state = request.app.state
        request.state.zone = (await OrgStore(state.redis, state.settings.key_prefix).zone(org)).key
        try:
            response = await handler(request, org)
        except PeerError as exc:
            return _render(request, "error.html", org, exc.status, code=str(exc.code), message=exc)
        except BankNotFound as exc:
            return _render(request, "error.html", org, 404, code="bank_not_found", message=exc)
        return response

    return endpoint


# Signing in and out, language.


def _next(raw: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if raw and raw.startswith("/console") and "//" not in raw and "\\" not in raw:
        return raw
    return "/console"


async def signin_form(request: Request) -> Response:
    return _render(request, "signin.html", None, next=_next(request.query_params.get("next")))


async def signin(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=4) as form:
        key = str(form.get("key") or "")
        sent = str(form.get(CSRF_FIELD) or "")
        target = _next(str(form.get("next") or ""))
    try:
        check_csrf(request, sent)
    except PeerError:
        return _render(request, "signin.html", None, 403, next=target, failed="csrf")
    if not key.strip() or await sign_in(request, key) is None:
        return _render(request, "signin.html", None, 401, next=target, failed="key")
    return RedirectResponse(target, status_code=303)


async def signout(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=2) as form:
        sent = str(form.get(CSRF_FIELD) or "")
    try:
        check_csrf(request, sent)
    except PeerError:
        return _render(request, "error.html", None, 403, code="csrf_failed", message="")
    sign_out(request)
    return RedirectResponse("/console/signin", status_code=303)


async def language(request: Request) -> Response:
    lang = request.path_params["lang"]
    session = request.scope.get("session")
    if lang in i18n.LOCALES and session is not None:
        session["lang"] = lang
    return RedirectResponse(_next(request.query_params.get("next")), status_code=303)


# Pages.


@page
async def home(request: Request, org: OrgId) -> Response:
    state = request.app.state
    organisation = await OrgStore(state.redis, state.settings.key_prefix).get(org)
    banks = await BankStore(state.redis, state.settings.key_prefix).list(org)
    contests = await store_of(request).list(org)
    by_state = collections.Counter(c.state for c in contests)
    recent = sorted(contests, key=lambda c: c.updated_at, reverse=True)[:10]
    return _render(
        request,
        "home.html",
        org,
        organisation=organisation,
        banks=banks,
        contests=recent,
        by_state=sorted(by_state.items()),
        zones=ZONES,
    )


def _banks(request: Request) -> BankStore:
    return BankStore(request.app.state.redis, request.app.state.settings.key_prefix)


@page
async def banks(request: Request, org: OrgId) -> Response:
    return _render(request, "banks.html", org, banks=await _banks(request).list(org))


def _kind(question: Question) -> str:
    return str(type(question).__struct_config__.tag)


def _version(request: Request) -> int | None:
    raw = request.query_params.get("version", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


@page
async def bank(request: Request, org: OrgId) -> Response:
    store = _banks(request)
    bank_id = BankId(request.path_params["id"])
    versions = await store.versions(org, bank_id)
    loaded = await store.get(org, bank_id, _version(request))
    wanted = {f: request.query_params.get(f, "") for f in ("topic", "difficulty", "kind")}
    shown = [
        q
        for q in loaded.questions
        if (not wanted["topic"] or (q.topic or "") == wanted["topic"])
        and (not wanted["difficulty"] or q.difficulty == wanted["difficulty"])
        and (not wanted["kind"] or _kind(q) == wanted["kind"])
    ]
    return _render(
        request,
        "bank.html",
        org,
        bank=loaded,
        versions=versions,
        questions=shown,
        wanted=wanted,
        topics=sorted({q.topic for q in loaded.questions if q.topic}),
        kinds=sorted({_kind(q) for q in loaded.questions}),
        difficulties=list(DIFFICULTY_NAMES),
        kind_of=_kind,
        topic_names={t.id: t.name for t in loaded.topics},
    )


@page
async def question(request: Request, org: OrgId) -> Response:
    loaded = await _banks(request).get(org, BankId(request.path_params["id"]), _version(request))
    found = next((q for q in loaded.questions if q.id == request.path_params["qid"]), None)
    if found is None:
        raise BankNotFound(f"no question {request.path_params['qid']!r} in this bank")
    return _render(request, "question.html", org, bank=loaded, q=found, kind=_kind(found))


@page
async def contests(request: Request, org: OrgId) -> Response:
    # The campaigns come from GET /api/campaigns in the page: exactly what the key reads.
    return _render(request, "contests.html", org, contests=await store_of(request).list(org))


@page
async def campaign(request: Request, org: OrgId) -> Response:
    # Filled from GET /api/campaigns/{id} in the page (its rules: owner or province slice);
    # its owner schedules rounds there (POST /api/campaigns/{id}/rounds, a dry run first).
    return _render(
        request,
        "campaign.html",
        org,
        campaign_id=request.path_params["id"],
        banks=await _banks(request).list(org),
        weekdays=list(WEEKDAY_NAMES),
    )


@page
async def new_campaign(request: Request, org: OrgId) -> Response:
    # The page's script sends the form to POST /api/campaigns.
    return _render(request, "campaign_new.html", org, zones=ZONES)


def _available(loaded: Bank) -> dict[str, Any]:
    """What a draw can take from *loaded*: counts by topic and difficulty, and by kind."""
    grid: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.Counter())
    for q in loaded.questions:
        if _kind(q) != "prediction":
            grid[q.topic or ""][q.difficulty] += 1
    return {
        "grid": {topic: dict(row) for topic, row in sorted(grid.items())},
        "kinds": dict(collections.Counter(_kind(q) for q in loaded.questions)),
        "drawable": sum(1 for q in loaded.questions if _kind(q) != "prediction"),
        "predictions": [q.id for q in loaded.questions if _kind(q) == "prediction"],
    }


@page
async def new_contest(request: Request, org: OrgId) -> Response:
    summaries = await _banks(request).list(org)
    chosen_id = request.query_params.get("bank") or (summaries[0].id if summaries else "")
    chosen: Bank | None = None
    if chosen_id:
        chosen = await _banks(request).get(org, BankId(chosen_id))
    return _render(
        request,
        "contest_new.html",
        org,
        banks=summaries,
        bank=chosen,
        available=_available(chosen) if chosen else None,
        difficulties=list(DIFFICULTY_NAMES),
        topic_names={t.id: t.name for t in chosen.topics} if chosen else {},
    )


@page
async def contest(request: Request, org: OrgId) -> Response:
    found = await store_of(request).get_owned(org, request.path_params["id"])
    return _render(request, "contest.html", org, contest=found)


def _choice_texts(loaded: Bank, gettext: Any) -> dict[str, dict[str, Any]]:
    """Per question, its text and the text of each choice the statistics count (option
    ids; ``true``/``false``), so the live chart names them as members saw them."""
    out: dict[str, dict[str, Any]] = {}
    for q in loaded.questions:
        choices: dict[str, str] = {}
        if isinstance(q, SingleChoice | MultipleChoice):
            choices = {o.id: o.text for o in q.options}
        elif isinstance(q, TrueFalse):
            choices = {"true": gettext("True"), "false": gettext("False")}
        out[q.id] = {"text": q.text, "choices": choices}
    return out


@page
async def live(request: Request, org: OrgId) -> Response:
    store = store_of(request)
    found = await store.get_owned(org, request.path_params["id"])
    gettext = i18n.translator("console", _lang(request))
    choices = _choice_texts(await store.bank(found), gettext)
    return _render(request, "live.html", org, contest=found, choices=choices)


@page
async def results(request: Request, org: OrgId) -> Response:
    found = await store_of(request).get_owned(org, request.path_params["id"])
    return _render(request, "results.html", org, contest=found)


async def root(request: Request) -> Response:
    return RedirectResponse(str(URL("/console")), status_code=307)


routes: list[BaseRoute] = [
    Route("/console", home, methods=["GET"]),
    Route("/console/", root, methods=["GET"]),
    Route("/console/signin", signin_form, methods=["GET"]),
    Route("/console/signin", signin, methods=["POST"]),
    Route("/console/signout", signout, methods=["POST"]),
    Route("/console/lang/{lang}", language, methods=["GET"]),
    Route("/console/banks", banks, methods=["GET"]),
    Route("/console/banks/{id}", bank, methods=["GET"]),
    Route("/console/banks/{id}/questions/{qid}", question, methods=["GET"]),
    Route("/console/contests", contests, methods=["GET"]),
    Route("/console/campaigns/new", new_campaign, methods=["GET"]),
    Route("/console/campaigns/{id}", campaign, methods=["GET"]),
    Route("/console/contests/new", new_contest, methods=["GET"]),
    Route("/console/contests/{id}", contest, methods=["GET"]),
    Route("/console/contests/{id}/live", live, methods=["GET"]),
    Route("/console/contests/{id}/results", results, methods=["GET"]),
    Mount("/console/static", app=StaticFiles(directory=STATIC_DIR), name="console-static"),
]
