"""Review of question_bank/: adversarial and realistic input that used to go wrong.

Each test names the bug it pins down; all are deterministic and fast.
"""

from __future__ import annotations

import unicodedata

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.errors import BankInvalid, Location, Problem
from question_bank.formats import dumps, loads
from question_bank.ids import BankId, OptionId, QuestionId
from question_bank.models import Bank, MultipleChoice, Option, Prediction, TrueFalse
from question_bank.validation import validate


def problems_of(data: str | bytes, fmt: str, source: str = "bank.txt") -> list[Problem]:
    with pytest.raises(BankInvalid) as caught:
        loads(data, fmt, source=source)
    return caught.value.problems


# --------------------------------------------------------------------- validation


def test_huge_multiple_choice_weights_are_problems_not_an_overflow() -> None:
    """math.fsum raised OverflowError on weights summing past the largest float."""
    gift = "q{" + " ".join(f"~%1.7e308%option {i}" for i in range(150)) + "}"
    problems = problems_of(gift, "gift")
    codes = {p.code for p in problems}
    assert "weight_out_of_range" in codes
    assert "weights_not_100" in codes


def test_prediction_max_value_past_what_storage_holds_is_refused() -> None:
    """A max_value above 2**64 passed validation, then the bank store's msgpack encoder
    raised OverflowError when the organiser imported the bank."""
    yaml_text = (
        "questions:\n"
        "- id: du-doan\n"
        "  kind: prediction\n"
        "  text: Bao nhiêu người trả lời đúng tất cả?\n"
        "  max_value: 99999999999999999999999\n"
    )
    (problem,) = problems_of(yaml_text, "yaml", source="b.yaml")
    assert problem.code == "value_out_of_range"
    assert problem.where == Location(file="b.yaml", line=2, question="du-doan", field="max_value")
    csv_text = "id,kind,text,max_value\ndu-doan,prediction,Bao nhiêu?,1e20\n"
    (problem,) = problems_of(csv_text, "csv", source="b.csv")
    assert (problem.code, problem.where.line, problem.where.field) == (
        "value_out_of_range",
        2,
        "max_value",
    )
    # the largest allowed value still stores (msgpack) and round-trips
    biggest = Prediction(id=QuestionId("p"), text="?", max_value=10**12)
    bank = Bank(id=BankId("b"), title="B", questions=[biggest])
    assert validate(bank) == []
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(bank), type=Bank) == bank
    # and no more than a member may predict anywhere else in the engine
    from scoring.attempts import MAX_PREDICTION

    over = Prediction(id=QuestionId("p"), text="?", max_value=MAX_PREDICTION + 1)
    assert [p.code for p in validate(Bank(id=BankId("b"), title="B", questions=[over]))] == [
        "value_out_of_range"
    ]


def test_a_question_without_id_is_named_by_its_position() -> None:
    """The docs promise ``no. N`` for a question without an id; validate gave ``""``."""
    bank = Bank(
        id=BankId("b"),
        title="B",
        questions=[
            TrueFalse(id=QuestionId("ok"), text="Đúng?", answer=True),
            TrueFalse(id=QuestionId(""), text="Đúng?", answer=True),
        ],
    )
    (problem,) = validate(bank, source="api")
    assert problem.code == "bad_id"
    assert problem.where == Location(file="api", question="no. 2", field="id")
    assert "question no. 2" in str(problem)


# --------------------------------------------------------------------- decoding


def test_not_utf8_is_located_by_file_and_line() -> None:
    """A spreadsheet saved as 'CSV (Comma delimited)' on Windows is not UTF-8: the problem
    named neither the file nor the line."""
    data = "\ufefftext,option_a,option_b,correct\n".encode() + "Thủ đô?,Hà Nội,Huế,a\n".encode(
        "cp1258", "replace"
    )
    (problem,) = problems_of(data, "csv", source="upload.csv")
    assert problem.code == "not_utf8"
    assert problem.where == Location(file="upload.csv", line=2)
    assert "UTF-8" in problem.message


def test_json_cut_short_is_located_at_its_end() -> None:
    (problem, *_) = problems_of('{\n  "id": "b",\n  "questions": [\n', "json", source="b.json")
    assert problem.code == "syntax_error"
    assert problem.where == Location(file="b.json", line=4)


def test_json_number_out_of_range_is_located_by_line() -> None:
    text = (
        '{\n  "questions": [\n    {"id": "q", "kind": "numeric",\n'
        '     "answers": [{"value": 1e999}]}]}'
    )
    (problem, *_) = problems_of(text, "json", source="b.json")
    assert problem.code == "syntax_error"
    assert problem.where == Location(file="b.json", line=4)


# --------------------------------------------------------------------- GIFT


def test_gift_html_entities_give_nfc_text() -> None:
    """Entities decoded after loads' NFC pass could leave decomposed Vietnamese."""
    # inside the answer block a "#" is escaped, as Moodle writes it
    gift = r"[html]<p>Ha&#768; N&#7885;&#770;i</p>{=Ha&\#768; N&\#7885;&\#770;i ~Hu&\#234;&\#769;}"
    bank = loads(gift, "gift")
    (question,) = bank.questions
    assert question.text == "Hà Nội"
    assert unicodedata.is_normalized("NFC", question.text)
    for option in question.options:  # type: ignore[attr-defined]
        assert unicodedata.is_normalized("NFC", option.text)
    assert [o.text for o in question.options] == ["Hà Nội", "Huế"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (
            "gift",
            "// @id: q1\n::a::Một?{T}\n\n// @id: q2\n::b::Hai?{F}\n\n// @id: q1\n::c::Ba?{T}\n",
        ),
        (
            "csv",
            "id,kind,text,correct\nq1,true_false,Một?,true\nq2,true_false,Hai?,false\n"
            "q1,true_false,Ba?,true\n",
        ),
    ],
)
def test_duplicate_question_id_is_located_on_the_first(fmt: str, text: str) -> None:
    """The docs locate a repeated id on its first question; GIFT and CSV gave the last."""
    (problem,) = problems_of(text, fmt)
    assert problem.code == "duplicate_question_id"
    assert problem.where.line == 2


# --------------------------------------------------------------------- writers


def test_writers_never_fail_on_unvalidated_weights() -> None:
    options = [Option(id=OptionId(f"o{i}"), text=f"x{i}", weight=1.7e306) for i in range(150)]
    bank = Bank(
        id=BankId("b"),
        title="B",
        questions=[MultipleChoice(id=QuestionId("m"), text="?", options=options)],
    )
    for fmt in ("yaml", "json", "gift", "aiken", "csv"):
        dumps(bank, fmt)


# --------------------------------------------------------------------- YAML


def test_yaml_merge_key_problems_are_located_on_the_overriding_key() -> None:
    """With ``<<: *base`` the question's own key wins, but problems were located on the
    line of the merged key in the anchored question."""
    text = (
        "questions:\n"
        "- &base\n"
        "  id: q1\n"
        "  kind: true_false\n"
        "  text: Một?\n"
        "  answer: true\n"
        "- <<: *base\n"
        "  id: q2\n"
        "  answer: maybe\n"
    )
    (problem,) = problems_of(text, "yaml", source="b.yaml")
    assert problem.code == "wrong_type"
    assert problem.where == Location(file="b.yaml", line=9, question="q2", field="answer")


# --------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("gift", "q{=a ~%0e99999999999999999999%b}"),
        ("csv", 'text,option_a,option_b,correct\nq,x,y,"a, b:0e99999999999999999999"\n'),
        ("csv", "kind,text,correct\nshort_text,q,x | %0e99999999999999999999%y\n"),
    ],
)
def test_percent_with_a_huge_exponent_is_read_not_an_exception(fmt: str, text: str) -> None:
    """decimal.InvalidOperation escaped loads: the exponent overflowed Decimal's context."""
    bank = loads(text, fmt)
    weights = [getattr(item, "weight", None) for item in _items(bank)]
    assert 0.0 in weights


def _items(bank: Bank) -> list[object]:
    (question,) = bank.questions
    return list(getattr(question, "options", None) or getattr(question, "answers", []))


# --------------------------------------------------------------------- huge integers


def test_gift_points_with_thousands_of_digits_is_a_problem() -> None:
    """int() refuses strings of more than 4300 digits: ValueError escaped loads."""
    (problem,) = problems_of("// @points: " + "9" * 5000 + "\nq{T}", "gift", source="b.gift")
    assert problem.code in ("bad_metadata", "value_out_of_range")
    assert problem.where.file == "b.gift"
    assert problem.where.line == 1


def test_yaml_int_with_thousands_of_digits_is_located() -> None:
    text = "questions:\n- id: q\n  kind: true_false\n  text: Đúng?\n  answer: true\n"
    text += "  points: " + "9" * 5000 + "\n"
    (problem, *_) = problems_of(text, "yaml", source="b.yaml")
    assert problem.where.line == 6
    assert problem.where.field == "points"


def test_csv_correct_naming_one_option_twice_is_a_problem_on_its_line() -> None:
    """``a:50, a:50`` used to keep the last weight silently; the author saw only
    weights_not_100 without the cause."""
    data = 'kind,text,option_a,option_b,correct\nmultiple,Chọn?,X,Y,"a:50, a:50"\n'
    problems = problems_of(data, "csv", source="q.csv")
    twice = [p for p in problems if "named twice" in p.message]
    assert [(p.code, p.where.line) for p in twice] == [("bad_correct", 2)]


@given(st.text(max_size=80))
def test_an_id_from_any_file_name_is_a_valid_bank_id(name: str) -> None:
    from engine.directory.banks import ID_PATTERN as ENGINE_ID
    from question_bank.text import id_from_name
    from question_bank.validation import ID_PATTERN

    made = id_from_name(name)
    assert ENGINE_ID.fullmatch(made) and ID_PATTERN.fullmatch(made)
    if ENGINE_ID.fullmatch(name):
        assert made == name  # a name that is already an id is kept as it is


def test_a_vietnamese_file_name_gives_an_ascii_id_and_keeps_the_title() -> None:
    """``Lịch sử Đảng.gift`` used to give the id ``Lịch sử Đảng``, which no store accepts,
    so every such file needed ``--id``."""
    bank = loads("Thủ đô của Việt Nam là Hà Nội.{T}\n", "gift", source="banks/Lịch sử Đảng.gift")
    assert (bank.id, bank.title) == ("lich-su-dang", "Lịch sử Đảng")


def test_csv_cells_under_a_blank_header_are_reported_not_dropped() -> None:
    """A spreadsheet column whose header was left blank used to be ignored silently, with
    whatever the author had typed under it."""
    data = "text,,option_a,option_b,correct\nThủ đô?,nhớ kiểm tra,Hà Nội,Huế,a\nHuế?,,X,Y,b\n"
    problems = problems_of(data, "csv", source="q.csv")
    assert [(p.code, p.where.line) for p in problems] == [("extra_cells", 2)]
    assert "column 2" in problems[0].message
