"""Export of final standings (scoring.export): CSV and JSON read back."""

import csv
import io
import json

import msgspec
import pytest
import redis.asyncio

from question_bank.ids import ContestId, ProvinceId, UnitId
from scoring.attempts import BestAttempt
from scoring.errors import ScoringUsageError
from scoring.export import COLUMNS, export, iso_ms
from scoring.finalize import Finalizer
from scoring.profiles import Profile, encode_profile

C = ContestId("r9")


async def setup(client: redis.asyncio.Redis, prefix: str) -> None:
    f = Finalizer(client, C, prefix=prefix)
    best = {
        "m1": BestAttempt(n=1, score=30, time_used=5000, submitted=1764057600123, prediction=4),
        "m2": BestAttempt(n=2, score=40, time_used=9000, submitted=0, prediction=None),
        "m3": BestAttempt(n=1, score=30, time_used=5000, submitted=1764057600123, prediction=4),
        "m4": BestAttempt(n=1, score=10, time_used=1, submitted=1764057600000, prediction=0),
        "m5": BestAttempt(n=1, score=0, time_used=0, submitted=0, prediction=None),
    }
    await client.hset(f.keys.best, mapping={m: msgspec.json.encode(b) for m, b in best.items()})
    profiles = {
        "m1": Profile(name="Nguyễn Văn A", province=ProvinceId("hn"), unit=UnitId("u1")),
        "m2": Profile(name='Trần "B", Jr', province=ProvinceId("dn"), unit=UnitId("u2")),
        "m3": Profile(name="Lê Thị Đào", province=ProvinceId("hn"), unit=UnitId("u1")),
        "m4": Profile(name="D"),
    }
    await client.hset(f.keys.profiles, mapping={m: encode_profile(p) for m, p in profiles.items()})
    await f.finalize_window(None)


EXPECTED = [
    ["1", "m2", 'Trần "B", Jr', "u2", "dn", "40", "", "9000", ""],
    ["2", "m1", "Nguyễn Văn A", "u1", "hn", "30", "4", "5000", "2025-11-25T08:00:00.123Z"],
    ["2", "m3", "Lê Thị Đào", "u1", "hn", "30", "4", "5000", "2025-11-25T08:00:00.123Z"],
    ["4", "m4", "D", "", "", "10", "0", "1", "2025-11-25T08:00:00.000Z"],
    ["5", "m5", "", "", "", "0", "", "0", ""],
]


@pytest.mark.parametrize("chunk", [2, 10_000])
async def test_csv(redis_client: redis.asyncio.Redis, key_prefix: str, chunk: int) -> None:
    await setup(redis_client, key_prefix)
    data = await export(redis_client, C, "csv", prefix=key_prefix, chunk=chunk)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert table[0] == list(COLUMNS)
    assert table[1:] == EXPECTED


async def test_json(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    await setup(redis_client, key_prefix)
    data = json.loads(await export(redis_client, C, "json", prefix=key_prefix, chunk=3))
    assert [list(row) for row in data] == [list(COLUMNS)] * 5
    assert [row["member"] for row in data] == ["m2", "m1", "m3", "m4", "m5"]
    assert data[0]["prediction"] is None and data[0]["submitted_at"] is None
    assert data[1] == {
        "rank": 2,
        "member": "m1",
        "name": "Nguyễn Văn A",
        "unit": "u1",
        "province": "hn",
        "score": 30,
        "prediction": 4,
        "time_used_ms": 5000,
        "submitted_at": "2025-11-25T08:00:00.123Z",
    }


async def test_export_of_nothing_and_bad_format(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    assert await export(redis_client, C, "json", prefix=key_prefix) == b"[]"
    csv_text = (await export(redis_client, C, "csv", prefix=key_prefix)).decode("utf-8-sig")
    assert csv_text == ",".join(COLUMNS) + "\r\n"
    with pytest.raises(ScoringUsageError):
        await export(redis_client, C, "xml", prefix=key_prefix)  # type: ignore[arg-type]


def test_iso_ms() -> None:
    assert iso_ms(0) is None
    assert iso_ms(1) == "1970-01-01T00:00:00.001Z"
    assert iso_ms(1764057600999) == "2025-11-25T08:00:00.999Z"


async def test_csv_cells_that_would_run_as_formulas_are_shown_as_text(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    # The CLI's --csv and the HTTP API's ?format=csv are this same file.
    f = Finalizer(redis_client, C, prefix=key_prefix)
    best = BestAttempt(n=1, score=5, time_used=10, submitted=0, prediction=-3)
    await redis_client.hset(f.keys.best, mapping={"=m": msgspec.json.encode(best)})
    profile = Profile(name="=HYPERLINK(1)", province=ProvinceId("+p"), unit=UnitId("@u"))
    await redis_client.hset(f.keys.profiles, mapping={"=m": encode_profile(profile)})
    await f.finalize_window(None)
    text = (await export(redis_client, C, "csv", prefix=key_prefix)).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text, newline="")))
    # Text cells get an apostrophe; a negative number (the prediction) stays a number.
    assert table[1] == ["1", "'=m", "'=HYPERLINK(1)", "'@u", "'+p", "5", "-3", "10", ""]
    data = json.loads(await export(redis_client, C, "json", prefix=key_prefix))
    assert (data[0]["member"], data[0]["name"]) == ("=m", "=HYPERLINK(1)")
