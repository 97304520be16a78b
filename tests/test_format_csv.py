"""CSV as spreadsheets export it: BOM or not, comma or semicolon, quoted line breaks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.errors import BankInvalid
from question_bank.formats import Parsed, load_file, loads
from question_bank.formats import csv as csv_format
from question_bank.ids import BankId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    ShortText,
    SingleChoice,
    TextAnswer,
    Topic,
    TrueFalse,
)

from .format_strategies import (
    ALPHABET,
    DATA,
    FUZZ,
    ROUND_TRIP,
    assert_problems_located,
    assert_round_trip,
    banks,
)


def read(text: str) -> Parsed:
    return csv_format.read(text, source="s.csv", bank_id=BankId("b"), title="T")


def located(parsed: Parsed) -> list[tuple[str, int | None, str | None]]:
    return [(p.code, p.where.line, p.where.field) for p in parsed.problems]


def test_excel_export_with_bom_crlf_and_quoted_line_breaks() -> None:
    raw = (DATA / "spreadsheet-excel.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    bank = load_file(DATA / "spreadsheet-excel.csv")
    assert bank.topics == [Topic(id="lich-su", name="Lịch sử"), Topic(id="dia-ly", name="Địa lý")]
    single, multiple, true_false, numeric, short, prediction = bank.questions
    assert isinstance(single, SingleChoice)
    assert (single.id, single.time_limit, single.difficulty) == ("ls-01", 20, "easy")
    assert [o.weight for o in single.options] == [0.0, 1.0, 0.0, 0.0]
    assert single.explanation == "Ngày 7/5/1954, kết thúc chiến dịch Điện Biên Phủ."
    assert isinstance(multiple, MultipleChoice)
    assert [o.weight for o in multiple.options] == [0.5, 0.0, 0.5, -1.0]
    assert isinstance(true_false, TrueFalse) and true_false.answer is True
    assert isinstance(numeric, Numeric) and numeric.answers == [
        NumericAnswer(value=3143.0, tolerance=10.0),
        NumericAnswer(low=3100.0, high=3200.0, weight=0.5),
    ]
    assert numeric.difficulty == "hard" and numeric.media_url == "https://example.org/fansipan.jpg"
    assert isinstance(short, ShortText)
    assert short.text == "Thủ đô của Việt Nam là thành phố nào?\n(Viết tên đầy đủ.)"
    assert short.answers == [TextAnswer(text="Hà Nội"), TextAnswer(text="Hanoi", weight=0.5)]
    assert isinstance(prediction, Prediction) and prediction.points == 0


def test_lines_of_rows_count_quoted_line_breaks() -> None:
    text = (DATA / "spreadsheet-excel.csv").read_bytes().decode("utf-8-sig")
    parsed = read(text)
    assert parsed.problems == []
    assert list(parsed.lines.values()) == [2, 3, 4, 5, 6, 8]


def test_semicolons_without_bom_aliases_and_decimal_comma() -> None:
    raw = (DATA / "spreadsheet-semicolon.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    bank = loads(raw, "csv", source="x.csv")
    single, numeric, multiple = bank.questions
    assert isinstance(single, SingleChoice) and single.options[0].weight == 1.0
    assert numeric.answers == [NumericAnswer(value=3.14)]  # type: ignore[union-attr]
    assert [o.weight for o in multiple.options] == [0.5, 0.0, 0.5]  # type: ignore[union-attr]


def test_tab_separated() -> None:
    parsed = read("text\tkind\tcorrect\nQ1\ttrue_false\tsai\nQ2\tshort_text\ta|b\n")
    assert parsed.problems == []
    q1, q2 = parsed.bank.questions
    assert isinstance(q1, TrueFalse) and q1.answer is False
    assert [a.text for a in q2.answers] == ["a", "b"]  # type: ignore[union-attr]


def test_bare_letters_share_what_weights_leave() -> None:
    q = read(
        'text,kind,option_a,option_b,option_c,option_d,correct\nQ,multiple,w,x,y,z,"a:50,b,c"\n'
    ).bank.questions[0]
    assert [o.weight for o in q.options] == [0.5, 0.25, 0.25, 0.0]  # type: ignore[union-attr]


def test_problems_located_by_line_and_column() -> None:
    text = (
        "text,kind,option_a,option_b,correct,points,difficulty,colour\n"  # 1
        "Q1,single,x,y,c,ten,hard,\n"  # 2
        '"Q2\nsecond line",quiz,,,,,,\n'  # 3-4
        "Q3,true_false,,,maybe,,extreme,\n"  # 5
        ",,,,,,,\n"  # 6: an empty row is skipped
        "Q4,numeric,,,3..x | %abc%3,,,,extra\n"  # 7
        'Q5,single,"x,y\n'  # 8: a quote never closed
    )
    parsed = read(text)
    assert located(parsed) == [
        ("unknown_column", 1, "colour"),
        ("bad_value", 2, "points"),
        ("bad_correct", 2, "correct"),
        ("bad_value", 3, "kind"),
        ("bad_value", 5, "difficulty"),
        ("bad_value", 5, "correct"),
        ("extra_cells", 7, None),
        ("bad_value", 7, "correct"),
        ("bad_value", 7, "correct"),
        ("csv_syntax", 8, None),
    ]
    assert [q.text for q in parsed.bank.questions] == ["Q1", "Q3", "Q4"]


def test_missing_text_column_and_duplicate_column() -> None:
    parsed = read("question_text,kind,kind\nQ,single\n")
    assert [(p.code, p.where.line) for p in parsed.problems][:3] == [
        ("unknown_column", 1),
        ("duplicate_column", 1),
        ("missing_column", 1),
    ]


def test_loads_adds_validation_problems_with_row_lines() -> None:
    with pytest.raises(BankInvalid) as err:
        loads("id,text,option_a,option_b,correct\nx,Q,a,a,a\ny,R,u,v,\n", "csv")
    found = [(p.code, p.where.line, p.where.question) for p in err.value.problems]
    assert found == [("duplicate_option", 2, "x"), ("no_correct_option", 3, "y")]


def test_write_header_bom_and_warnings() -> None:
    bank = Bank(
        id=BankId("b"),
        title="T",
        topics=[Topic(id="ls", name="Lịch sử"), Topic(id="x")],
        questions=[
            TrueFalse(id="t", text="Q", answer=True, feedback_true="yes", topic="ls"),
            SingleChoice(
                id="s",
                text="Q",
                options=[
                    Option(id="a", text="1", weight=1.0, feedback="f"),
                    Option(id="z", text="2"),
                ],
            ),
        ],
    )
    written = csv_format.write(bank)
    assert written.text.startswith(
        "\ufeffid,kind,title,text,option_a,option_b,option_c,option_d,correct,"
    )
    lost = {(w.where.question, w.where.field) for w in written.warnings}
    assert lost == {(None, "topics"), ("t", "feedback"), ("s", "options")}
    assert read(written.text).bank.questions[0].topic == "ls"


@ROUND_TRIP
@given(
    banks(
        kinds=("single", "multiple", "true_false", "numeric", "short_text", "prediction"),
        feedback=False,
        answer_ok=lambda s: "|" not in s,
    )
)
def test_round_trip(bank: Bank) -> None:
    assert_round_trip(bank, csv_format.write, read)


@FUZZ
@given(st.one_of(st.text(max_size=200), st.text(alphabet=ALPHABET + ',;\t"\r\n', max_size=150)))
def test_read_never_raises(text: str) -> None:
    assert_problems_located(read(text))
