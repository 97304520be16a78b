"""Organiser endpoints for question banks: ``/api/banks``.

Every endpoint needs ``Authorization: Bearer <api key>`` (:func:`.auth.require_org`); an
organisation sees and changes only its own banks (another organisation's bank is simply
not found: 404).

=========================================  =================================================
``POST   /api/banks``                      upload a new bank (201; 409 if the id exists)
``GET    /api/banks``                      list the organisation's banks (latest versions)
``GET    /api/banks/{id}``                 the bank as JSON; ``?version=N``; ``?format=F``
                                           exports it as a file in format F
``PUT    /api/banks/{id}``                 replace: stores a new version (404 if no such bank)
``DELETE /api/banks/{id}``                 hide the bank (204); stored versions stay readable
                                           with ``?version=`` for contests that use them
``GET    /api/banks/{id}/versions``        the stored version numbers
=========================================  =================================================

Uploads (POST, PUT) send the file as the raw request body (no multipart), UTF-8 with or
without a BOM, at most :data:`MAX_UPLOAD_BYTES`. The format is ``?format=`` (``yaml``,
``json``, ``gift``, ``aiken``, ``csv``), else taken from the Content-Type
(:data:`CONTENT_TYPES`). ``?filename=`` names the upload in problem locations (and gives
the default id and title, as the CLI does with a file name); ``?id=`` and ``?title=`` name
the bank for formats that cannot (GIFT, Aiken, CSV). An id given in the URL (PUT) or by
``?id=`` wins over an id inside the file. A bank with problems is refused with 422 and
every problem located as the CLI locates it (``file``, ``line``, ``question``, ``field``).

Export (``GET ?format=F``) answers the file itself, with ``X-Bank-Warnings: N`` counting
what F cannot express; with ``Accept: application/json`` it answers
``{"format", "text", "warnings": [problem...]}`` instead.
"""

from __future__ import annotations

from pathlib import PurePath
from urllib.parse import quote

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from question_bank.errors import BankInvalid, Location, Problem, UnsupportedFormat
from question_bank.formats import FORMATS, dumps, format_module, loads
from question_bank.ids import BankId
from question_bank.models import Bank

from ..banks import BankStore, BankSummary, check_bank_id
from ..errors import BadMessage
from .auth import require_org

__all__ = ["CONTENT_TYPES", "EXPORT_TYPES", "MAX_UPLOAD_BYTES", "routes"]

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
"""Largest bank file an upload may send (413 past it)."""

CONTENT_TYPES: dict[str, str] = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "application/json": "json",
    "text/csv": "csv",
    "application/x-gift": "gift",
    "text/x-gift": "gift",
    "text/x-aiken": "aiken",
}
"""Content-Type of an upload -> format, when ``?format=`` is not given."""

EXPORT_TYPES: dict[str, str] = {
    "yaml": "application/yaml; charset=utf-8",
    "json": "application/json",
    "gift": "text/plain; charset=utf-8",
    "aiken": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}

_WITHOUT_IDS = frozenset({"gift", "aiken", "csv"})
"""Formats whose files cannot name the bank: the upload must (``?id=``, ``?filename=``)."""


def _store(request: Request) -> BankStore:
    return BankStore(request.app.state.redis, request.app.state.settings.key_prefix)


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(value),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _summary(bank: Bank) -> BankSummary:
    return BankSummary(
        id=bank.id,
        title=bank.title,
        language=bank.language,
        version=bank.version,
        questions=len(bank.questions),
    )


def _format_of(request: Request) -> str:
    fmt = request.query_params.get("format")
    if fmt:
        format_module(fmt)  # UnsupportedFormat (415) for an unknown name
        return fmt
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in CONTENT_TYPES:
        return CONTENT_TYPES[content_type]
    raise UnsupportedFormat(
        f"cannot tell the bank's format from Content-Type {content_type or '(none)'!r}; "
        f"add ?format= with one of: {', '.join(FORMATS)}"
    )


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a bank file may have at most {MAX_UPLOAD_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"a bank file may have at most {MAX_UPLOAD_BYTES} bytes")
    if not body.strip():
        raise BankInvalid([Problem(code="empty_file", message="the request body is empty")])
    return bytes(body)


async def _parse_upload(request: Request, bank_id: str | None) -> Bank:
    """The uploaded bank, validated; *bank_id* (URL or ``?id=``) overrides the file's id."""
    fmt = _format_of(request)
    filename = request.query_params.get("filename")
    source = PurePath(filename).name if filename else f"upload.{fmt}"
    bank_id = bank_id or request.query_params.get("id") or None
    if bank_id is None and fmt in _WITHOUT_IDS:
        if not filename:
            raise BankInvalid(
                [
                    Problem(
                        code="missing_bank_id",
                        message=f"a {fmt} file cannot name its bank: add ?id= (or ?filename=)",
                        where=Location(field="id"),
                    )
                ]
            )
        bank_id = PurePath(source).stem
    if bank_id is not None:
        check_bank_id(bank_id)
    title = request.query_params.get("title") or None
    data = await _read_body(request)
    bank = loads(data, fmt, source=source, bank_id=bank_id, title=title or bank_id)
    if bank_id is not None and bank.id != bank_id:
        bank = msgspec.structs.replace(bank, id=BankId(bank_id))
    check_bank_id(bank.id)
    return bank


def _version_param(request: Request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadMessage(f"version must be a whole number >= 1, not {raw!r}")
    return int(raw)


async def create_bank(request: Request) -> Response:
    org = await require_org(request)
    store = _store(request)
    bank = await _parse_upload(request, None)
    version = await store.create(org, bank)
    stored = msgspec.structs.replace(bank, version=version)
    location = f"/api/banks/{quote(bank.id)}?version={version}"
    return _json(_summary(stored), 201, {"Location": location})


async def list_banks(request: Request) -> Response:
    org = await require_org(request)
    return _json({"banks": await _store(request).list(org)})


async def get_bank(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    version = _version_param(request)
    fmt = request.query_params.get("format")
    if fmt:
        format_module(fmt)
    bank = await _store(request).get(org, bank_id, version)
    if not fmt:
        return _json(bank)
    written = dumps(bank, fmt)
    if "application/json" in request.headers.get("accept", ""):
        return _json({"format": fmt, "text": written.text, "warnings": written.warnings})
    extension = format_module(fmt).EXTENSIONS[0]
    return Response(
        written.text.encode(),
        media_type=EXPORT_TYPES[fmt],
        headers={
            "X-Bank-Warnings": str(len(written.warnings)),
            "Content-Disposition": f'attachment; filename="{bank.id}-v{bank.version}{extension}"',
        },
    )


async def replace_bank(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    store = _store(request)
    await store.latest_version(org, bank_id)  # BankNotFound (404) before reading the body
    bank = await _parse_upload(request, bank_id)
    version = await store.put(org, bank)
    return _json(_summary(msgspec.structs.replace(bank, version=version)))


async def delete_bank(request: Request) -> Response:
    org = await require_org(request)
    await _store(request).delete(org, BankId(request.path_params["bank_id"]))
    return Response(status_code=204)


async def bank_versions(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    versions = await _store(request).versions(org, bank_id)
    return JSONResponse({"id": bank_id, "versions": versions, "latest": versions[-1]})


routes: list[BaseRoute] = [
    Route("/api/banks", create_bank, methods=["POST"]),
    Route("/api/banks", list_banks, methods=["GET"]),
    Route("/api/banks/{bank_id}", get_bank, methods=["GET"]),
    Route("/api/banks/{bank_id}", replace_bank, methods=["PUT"]),
    Route("/api/banks/{bank_id}", delete_bank, methods=["DELETE"]),
    Route("/api/banks/{bank_id}/versions", bank_versions, methods=["GET"]),
]
