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
``GET    /api/bank-template.csv``          a bank file to start from (Vietnamese headers,
``GET    /api/bank-template.xlsx``         two example rows)
=========================================  =================================================

Uploads (POST, PUT) send the file as the raw request body (no multipart), UTF-8 with or
without a BOM (an ``.xlsx`` workbook as it is), at most :data:`MAX_UPLOAD_BYTES`. The
format is ``?format=`` (``yaml``, ``json``, ``gift``, ``aiken``, ``csv``, ``xlsx``), else
taken from the Content-Type (:data:`CONTENT_TYPES`), else from the extension of
``?filename=``. ``?filename=`` names the upload in problem locations (and gives the
default id and title, as the CLI does with a file name: ``Lịch sử lớp 9.gift`` is the id
``lich-su-lop-9``); ``?id=`` and ``?title=`` name the bank for formats that cannot (GIFT,
Aiken, CSV, xlsx). An id given in the URL (PUT) or by ``?id=`` wins over an id inside the
file. A bank with problems is refused with 422 and every problem located as the CLI
locates it (``file``, ``line``, ``question``, ``field``). Questions the engine cannot run
(a Moodle essay or matching question) are left out and listed in the answer's
``warnings``; ``?strict=true`` refuses the bank instead (422, as problems). The file is
parsed and validated in a worker process (:class:`~engine.directory.banks.BankWorkers`), never on
the event loop that also serves members.

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

from engine.core.errors import BadMessage
from engine.directory.banks import BankStore, BankSummary, BankWorkers, Prepared, check_bank_id
from engine.http.auth import require_org
from question_bank.errors import BankInvalid, Location, Problem, UnsupportedFormat
from question_bank.formats import FORMATS, INPUT_FORMATS, detect_format, format_module
from question_bank.formats.xlsx import template
from question_bank.ids import BankId
from question_bank.text import id_from_name

__all__ = [
    "CONTENT_TYPES",
    "EXPORT_TYPES",
    "MAX_UPLOAD_BYTES",
    "TEMPLATE_TYPES",
    "Uploaded",
    "routes",
]

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
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
"""Content-Type of an upload -> format, when ``?format=`` is not given."""

EXPORT_TYPES: dict[str, str] = {
    "yaml": "application/yaml; charset=utf-8",
    "json": "application/json",
    "gift": "text/plain; charset=utf-8",
    "aiken": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}

_WITHOUT_IDS = frozenset({"gift", "aiken", "csv", "xlsx"})
"""Formats whose files cannot name the bank: the upload must (``?id=``, ``?filename=``)."""


class Uploaded(BankSummary, frozen=True, kw_only=True):
    """What an upload answers: the stored bank's headline and what it left out."""

    warnings: list[Problem] = []
    """Questions the engine cannot run, left out (``unsupported_question``...), located."""


_MAX_DIGITS = 18
"""A whole number in a query or header has at most this many digits (fits in int64)."""


def _whole_number(raw: str) -> int | None:
    """*raw* as a whole number if it is 1-18 ASCII digits, else ``None``. (``str.isdigit``
    is also true of ``²`` and other digits ``int()`` refuses.)"""
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS:
        return int(raw)
    return None


def _workers(request: Request) -> BankWorkers:
    """The application's :class:`BankWorkers` (made on first use, on the serving loop)."""
    workers: BankWorkers | None = getattr(request.app.state, "bank_workers", None)
    if workers is None:
        workers = request.app.state.bank_workers = BankWorkers()
    return workers


def _store(request: Request) -> BankStore:
    return BankStore(request.app.state.redis, request.app.state.settings.key_prefix)


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(value),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _uploaded(prepared: Prepared, version: int) -> Uploaded:
    summary = prepared.summary
    return Uploaded(
        id=summary.id,
        title=summary.title,
        language=summary.language,
        version=version,
        questions=summary.questions,
        warnings=prepared.warnings,
    )


def _format_of(request: Request) -> str:
    fmt = request.query_params.get("format")
    if fmt:
        format_module(fmt)  # UnsupportedFormat (415) for an unknown name
        return fmt
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in CONTENT_TYPES:
        return CONTENT_TYPES[content_type]
    filename = request.query_params.get("filename")
    if filename:
        try:
            return detect_format(filename)
        except UnsupportedFormat:
            pass
    raise UnsupportedFormat(
        f"cannot tell the bank's format from Content-Type {content_type or '(none)'!r}"
        f" or ?filename=; add ?format= with one of: {', '.join(INPUT_FORMATS)}"
    )


async def _read_body(request: Request) -> bytes:
    length = _whole_number(request.headers.get("content-length") or "")
    if length is not None and length > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a bank file may have at most {MAX_UPLOAD_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"a bank file may have at most {MAX_UPLOAD_BYTES} bytes")
    if not body.strip():
        raise BankInvalid([Problem(code="empty_file", message="the request body is empty")])
    return bytes(body)


async def _parse_upload(request: Request, bank_id: str | None) -> Prepared:
    """The uploaded bank, validated, ready to store, and its warnings; *bank_id* (URL or
    ``?id=``) overrides the file's id. Parsed in a worker process (:class:`BankWorkers`)."""
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
        bank_id = id_from_name(PurePath(source).stem)  # as the CLI names a file's bank
    if bank_id is not None:
        check_bank_id(bank_id)
    # A title for formats without one: ?title=, else the file name, else the id.
    title = request.query_params.get("title") or (PurePath(source).stem if filename else bank_id)
    strict = _flag(request, "strict")
    data = await _read_body(request)
    prepared = await _workers(request).prepare(
        data, fmt, force_id=bank_id, source=source, bank_id=bank_id, title=title, strict=strict
    )
    check_bank_id(prepared.summary.id)
    return prepared


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw not in ("", "true", "false", "1", "0"):
        raise BadMessage(f"?{name}= must be true or false, not {raw!r}")
    return raw in ("true", "1")


def _version_param(request: Request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None or raw == "":
        return None
    version = _whole_number(raw)
    if version is None or version < 1:
        raise BadMessage(f"version must be a whole number >= 1, not {raw!r}")
    return version


async def create_bank(request: Request) -> Response:
    org = await require_org(request)
    store = _store(request)
    prepared = await _parse_upload(request, None)
    bank_id = prepared.summary.id
    version = await store.create_encoded(org, bank_id, prepared.blob)
    location = f"/api/banks/{quote(bank_id)}?version={version}"
    return _json(_uploaded(prepared, version), 201, {"Location": location})


async def list_banks(request: Request) -> Response:
    org = await require_org(request)
    return _json({"banks": await _store(request).list(org)})


async def get_bank(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    version = _version_param(request)
    fmt = request.query_params.get("format")
    if fmt and fmt not in FORMATS:
        raise UnsupportedFormat(f"cannot export as {fmt!r}; formats: {', '.join(FORMATS)}")
    if not fmt:
        return _json(await _store(request).get(org, bank_id, version))
    blob, stored_version = await _store(request).get_encoded(org, bank_id, version)
    written = await _workers(request).export(blob, fmt)
    if "application/json" in request.headers.get("accept", ""):
        return _json({"format": fmt, "text": written.text, "warnings": written.warnings})
    extension = format_module(fmt).EXTENSIONS[0]
    filename = f"{bank_id}-v{stored_version}{extension}"
    return Response(
        written.text.encode(),
        media_type=EXPORT_TYPES[fmt],
        headers={
            "X-Bank-Warnings": str(len(written.warnings)),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def replace_bank(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    store = _store(request)
    await store.latest_version(org, bank_id)  # BankNotFound (404) before reading the body
    prepared = await _parse_upload(request, bank_id)
    version = await store.put_encoded(org, bank_id, prepared.blob)
    return _json(_uploaded(prepared, version))


async def delete_bank(request: Request) -> Response:
    org = await require_org(request)
    await _store(request).delete(org, BankId(request.path_params["bank_id"]))
    return Response(status_code=204)


async def bank_versions(request: Request) -> Response:
    org = await require_org(request)
    bank_id = BankId(request.path_params["bank_id"])
    versions = await _store(request).versions(org, bank_id)
    return JSONResponse({"id": bank_id, "versions": versions, "latest": versions[-1]})


TEMPLATE_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def bank_template(request: Request) -> Response:
    await require_org(request)
    fmt = request.url.path.rsplit(".", 1)[-1]
    return Response(
        template(fmt),
        media_type=TEMPLATE_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="bank-template.{fmt}"'},
    )


routes: list[BaseRoute] = [
    Route("/api/bank-template.csv", bank_template, methods=["GET"]),
    Route("/api/bank-template.xlsx", bank_template, methods=["GET"]),
    Route("/api/banks", create_bank, methods=["POST"]),
    Route("/api/banks", list_banks, methods=["GET"]),
    Route("/api/banks/{bank_id}", get_bank, methods=["GET"]),
    Route("/api/banks/{bank_id}", replace_bank, methods=["PUT"]),
    Route("/api/banks/{bank_id}", delete_bank, methods=["DELETE"]),
    Route("/api/banks/{bank_id}/versions", bank_versions, methods=["GET"]),
]
