"""Spreadsheets as Vietnamese teachers keep them: Vietnamese headers, a row-number column,
``.xlsx`` read directly; rows of kinds the engine cannot run left out with a warning."""

from __future__ import annotations

import csv
import io
import unicodedata

import openpyxl  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.errors import BankInvalid
from question_bank.formats import Parsed, load_bank, loads
from question_bank.formats import csv as csv_format
from question_bank.formats import xlsx as xlsx_format
from question_bank.ids import BankId
from question_bank.models import Bank
from question_bank.text import strip_diacritics

from .format_strategies import ROUND_TRIP, banks

VIETNAMESE = ["STT", "Loại", "Câu hỏi", "Đáp án A", "Đáp án B", "Đáp án C", "Đáp án đúng"]
VIETNAMESE += ["Điểm", "Chủ đề", "Độ khó"]
ENGLISH = ["kind", "text", "option_a", "option_b", "option_c", "correct", "points", "topic"]
ENGLISH += ["difficulty"]
ROWS = [
    ["1", "single", "Thủ đô của Việt Nam?", "Hà Nội", "Huế", "Đà Nẵng", "A", "10", "Địa lý", "dễ"],
    [
        "2",
        "multiple",
        "Năm 1954?",
        "Điện Biên Phủ",
        "Genève",
        "Bạch Đằng",
        "a, b",
        "20",
        "Sử",
        "khó",
    ],
]


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def read_csv(text: str) -> Parsed:
    return csv_format.read(text, source="s.csv", bank_id=BankId("b"), title="T")


def english_bank() -> Bank:
    return loads(csv_text([ENGLISH, *[row[1:] for row in ROWS]]), "csv", bank_id="b", title="T")


@given(
    st.lists(st.sampled_from(["keep", "bare", "upper", "lower", "nfd"]), min_size=10, max_size=10)
)
def test_vietnamese_headers_read_as_the_english_ones(spellings: list[str]) -> None:
    """Each Vietnamese header, with or without diacritics, in any case (NFD too), names
    the same column as its English name; the STT column is ignored."""

    def spell(header: str, how: str) -> str:
        return {
            "keep": header,
            "bare": strip_diacritics(header),
            "upper": header.upper(),
            "lower": header.lower(),
            "nfd": unicodedata.normalize("NFD", header),
        }[how]

    header = [spell(h, how) for h, how in zip(VIETNAMESE, spellings, strict=True)]
    bank = loads(csv_text([header, *ROWS]), "csv", bank_id="b", title="T")
    assert bank == english_bank()


@pytest.mark.parametrize("number_header", ["STT", "No", "No.", "#", "stt"])
def test_a_row_number_column_is_ignored(number_header: str) -> None:
    parsed = read_csv(csv_text([[number_header, *ENGLISH], *ROWS]))
    assert parsed.problems == []
    assert parsed.bank == english_bank()


@pytest.mark.parametrize(
    ("header", "suggested"),
    [("Cau hoii", "câu hỏi"), ("Dap an dng", "đáp án đúng"), ("optoin_a", "option_a")],
)
def test_unknown_column_suggests_the_right_name(header: str, suggested: str) -> None:
    parsed = read_csv(csv_text([["text", header], ["Q?", "x"]]))
    [problem] = [p for p in parsed.problems if p.code == "unknown_column"]
    assert problem.where.line == 1 and f"did you mean {suggested!r}?" in problem.message


def test_rows_of_kinds_the_engine_cannot_run_are_left_out_with_a_warning() -> None:
    text = csv_text(
        [
            ["kind", "text", "option_a", "option_b", "correct"],
            ["single", "Thủ đô?", "Hà Nội", "Huế", "a"],
            ["essay", "Kể về quê hương em.", "", "", ""],
            ["matching", "Ghép.", "", "", ""],
        ]
    )
    loaded = load_bank(text, "csv", bank_id="b")
    assert len(loaded.bank.questions) == 1
    assert [(w.code, w.where.line, w.where.field) for w in loaded.warnings] == [
        ("unsupported_question", 3, "kind"),
        ("unsupported_question", 4, "kind"),
    ]
    with pytest.raises(BankInvalid) as refused:
        load_bank(text, "csv", bank_id="b", strict=True)
    assert [p.code for p in refused.value.problems] == ["unsupported_question"] * 2
    typo = csv_text([["kind", "text"], ["singel", "Thủ đô?"]])
    with pytest.raises(BankInvalid):  # an unknown kind is a typo, not a skip
        load_bank(typo, "csv", bank_id="b")


def workbook(rows: list[list[object]], formats: dict[str, str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row] if row else ():
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text typed into the cell, not a formula
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_xlsx(data: bytes) -> Parsed:
    return xlsx_format.read(data, source="s.xlsx", bank_id=BankId("b"), title="T")


def test_xlsx_cells_read_as_the_sheet_shows_them() -> None:
    data = workbook(
        [
            ["STT", "Loại", "Câu hỏi", "Đáp án đúng", "Điểm", "Thời gian"],
            [1, "numeric", "Số π?", 3.14, 10, 20.0],
            [],  # an empty row: skipped, the next keeps its sheet row number
            [3, "true_false", "Sông Hồng chảy qua Hà Nội.", True, 5.0, None],
            [4, "numeric", "Một nửa?", 0.5, 10, None],
            [5, "single", "Hỏng?", "", "nhiều", None],
        ],
        formats={"D5": "0%"},
    )
    parsed = read_xlsx(data)
    numeric, true_false, half, _ = parsed.bank.questions
    assert numeric.points == 10 and numeric.time_limit == 20
    assert [a.value for a in numeric.answers] == [3.14]  # type: ignore[attr-defined]
    assert true_false.answer is True and true_false.points == 5  # type: ignore[attr-defined]
    assert half.answers == []  # type: ignore[attr-defined]
    located = [(p.code, p.where.line, p.where.field) for p in parsed.problems]
    # "50%" (as shown) is no numeric answer; the problems are on sheet rows 5 and 6
    assert ("bad_value", 5, "correct") in located
    assert ("bad_value", 6, "points") in located
    assert parsed.lines[numeric.id] == 2 and parsed.lines[true_false.id] == 4


def test_not_a_workbook_is_a_problem() -> None:
    for data in (b"", b"PK\x03\x04 broken", workbook([["text"]])[:200]):
        parsed = read_xlsx(data)
        assert [p.code for p in parsed.problems] == ["not_xlsx"]


@ROUND_TRIP
@given(
    banks(
        kinds=("single", "multiple", "true_false", "numeric", "short_text", "prediction"),
        feedback=False,
        answer_ok=lambda s: "|" not in s,
    )
)
def test_xlsx_reads_what_csv_reads(bank: Bank) -> None:
    """Any CSV bank, its cells typed as text into a sheet, reads as the same bank (and the
    same problems, each on the same row) from the workbook."""
    text = csv_format.write(bank).text
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    from_csv = read_csv(text.removeprefix("\ufeff"))
    from_xlsx = read_xlsx(workbook([list(row) for row in rows]))
    assert from_xlsx.bank == from_csv.bank
    assert [(p.code, p.where.line) for p in from_xlsx.problems] == [
        (p.code, p.where.line) for p in from_csv.problems
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_template_loads(fmt: str) -> None:
    loaded = load_bank(xlsx_format.template(fmt), fmt, source=f"template.{fmt}")
    assert [type(q).__name__ for q in loaded.bank.questions] == ["SingleChoice", "MultipleChoice"]
    assert loaded.warnings == []
