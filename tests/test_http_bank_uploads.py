"""Bank uploads over real HTTP (uvicorn on a free port, real Redis): parsing off the event
loop, typed errors for odd numbers, files Moodle and Vietnamese teachers send."""

from __future__ import annotations

import asyncio
import time

from question_bank.formats import load_bank
from question_bank.formats.xlsx import template
from tests.test_http_banks import Api, api, error_of

__all__ = ["api"]  # the fixture, used by name

ESSAY_GIFT = """::cap::Thủ đô của Việt Nam là? {=Hà Nội ~Huế ~Đà Nẵng}

::essay::Hãy kể về quê hương em. {}

::match::Ghép tỉnh với miền. {=Hà Nội -> Bắc =Huế -> Trung =Cần Thơ -> Nam}
""".encode()


def big_csv(rows: int) -> bytes:
    head = "kind,text,option_a,option_b,option_c,correct\n"
    body = "".join(f"single,Câu hỏi số {i}?,Hà Nội,Huế,Đà Nẵng,a\n" for i in range(rows))
    return (head + body).encode()


async def test_healthz_answers_while_a_big_upload_is_parsed(api: Api) -> None:
    """The bank is parsed in a worker process: the server's event loop (here also the
    client's) answers /healthz again and again, never a second apart, all the while
    (parsed on the loop, nothing else ran for seconds)."""
    rows = 60_000
    upload = asyncio.create_task(
        api.a.post(
            "/api/banks",
            content=big_csv(rows),
            params={"format": "csv", "id": "big"},
            timeout=120,  # a loaded box parses slowly; /healthz is what must be prompt
        )
    )
    answered = [time.perf_counter()]
    while not upload.done():
        health = await api.anon.get("/healthz")
        assert health.status_code == 200
        answered.append(time.perf_counter())
        await asyncio.sleep(0.05)
    response = await upload
    assert response.status_code == 201, response.text
    assert response.json()["questions"] == rows
    gaps = [later - earlier for earlier, later in zip(answered, answered[1:], strict=False)]
    assert max(gaps) < 1.0, f"/healthz went unanswered for {max(gaps):.2f} s during the upload"
    assert len(gaps) >= 5, "the upload ended before /healthz was asked while it was parsed"


async def test_version_must_be_ascii_digits(api: Api) -> None:
    await api.a.post("/api/banks", content=ESSAY_GIFT, params={"format": "gift", "id": "geo"})
    for version in ("²", "١", "1" * 30):
        response = await api.a.get("/api/banks/geo", params={"version": version})
        assert response.status_code == 400, (version, response.text)
        assert error_of(response)["code"] == "bad_message"
    assert (await api.a.get("/api/banks/geo", params={"version": "1"})).status_code == 200


async def test_moodle_export_with_essay_and_matching_uploads_with_warnings(api: Api) -> None:
    response = await api.a.post(
        "/api/banks", content=ESSAY_GIFT, params={"format": "gift", "id": "moodle"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["questions"], body["title"]) == (1, "moodle")  # no title: the id
    warnings = [(w["code"], w["where"]["line"], w["where"]["question"]) for w in body["warnings"]]
    assert warnings == [
        ("unsupported_question", 3, "essay"),
        ("unsupported_question", 5, "match"),
    ]
    strict = await api.a.put(
        "/api/banks/moodle", content=ESSAY_GIFT, params={"format": "gift", "strict": "true"}
    )
    assert strict.status_code == 422
    codes = [(p["code"], p["where"]["line"]) for p in error_of(strict)["problems"]]
    assert codes == [("unsupported_question", 3), ("unsupported_question", 5)]
    versions = await api.a.get("/api/banks/moodle/versions")
    assert versions.json()["versions"] == [1]  # the refused upload changed nothing


async def test_vietnamese_file_name_gives_the_id_the_cli_gives(api: Api) -> None:
    named = await api.a.post(
        "/api/banks",
        content=ESSAY_GIFT,
        params={"format": "gift", "filename": "Lịch sử lớp 9.gift"},
    )
    assert named.status_code == 201, named.text
    assert named.json()["id"] == "lich-su-lop-9"  # id_from_name, as `contest bank import`
    assert named.json()["title"] == "Lịch sử lớp 9"
    by_extension = await api.a.post(
        "/api/banks", content=ESSAY_GIFT, params={"filename": "Địa lý 9.gift"}
    )
    assert by_extension.status_code == 201, by_extension.text  # the format from the name
    assert by_extension.json()["id"] == "dia-ly-9"


async def test_xlsx_upload_and_templates(api: Api) -> None:
    for fmt, media in (("csv", "text/csv"), ("xlsx", "application/vnd.openxmlformats")):
        got = await api.a.get(f"/api/bank-template.{fmt}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(media)
        assert len(load_bank(got.content, fmt).bank.questions) == 2
        assert (await api.anon.get(f"/api/bank-template.{fmt}")).status_code == 401
    xlsx = template("xlsx")
    by_name = await api.a.post("/api/banks", content=xlsx, params={"filename": "Địa lý.xlsx"})
    assert by_name.status_code == 201, by_name.text
    assert (by_name.json()["id"], by_name.json()["questions"]) == ("dia-ly", 2)
    by_type = await api.a.post(
        "/api/banks",
        content=xlsx,
        params={"id": "geo2"},
        headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        },
    )
    assert by_type.status_code == 201 and by_type.json()["questions"] == 2
    broken = await api.a.post("/api/banks", content=b"PK not a zip", params={"filename": "x.xlsx"})
    assert broken.status_code == 422
    assert error_of(broken)["problems"][0]["code"] == "not_xlsx"
