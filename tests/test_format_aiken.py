"""Aiken: reading files as other tools write them, located problems, round trip, fuzz."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.errors import BankInvalid
from question_bank.formats import Parsed, aiken, loads
from question_bank.formats._common import IdAssigner
from question_bank.ids import BankId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Option,
    SingleChoice,
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
    return aiken.read(text, source="a.txt", bank_id=BankId("b"), title="T")


def test_reads_file_with_both_label_styles_and_multi_line_text() -> None:
    parsed = read((DATA / "aiken.txt").read_text())
    assert parsed.problems == []
    first, second, third = parsed.bank.questions
    assert isinstance(first, SingleChoice)
    assert first.text == "Thủ đô của Việt Nam là thành phố nào?"
    assert [(o.id, o.text, o.weight) for o in first.options] == [
        ("a", "Hà Nội", 1.0),
        ("b", "Thành phố Hồ Chí Minh", 0.0),
        ("c", "Huế", 0.0),
        ("d", "Đà Nẵng", 0.0),
    ]
    assert isinstance(second, SingleChoice) and second.options[1].weight == 1.0
    assert third.text == 'Tác phẩm "Truyện Kiều" được viết bằng chữ gì?\nChọn một đáp án.'
    assert list(parsed.lines.values()) == [1, 8, 14]


def test_crlf_and_bom_and_lenient_answer_line() -> None:
    text = "\ufeffQ1?\r\nA. x\r\nB) y\r\nAnswer : b\r\n\r\n\r\nQ2?\r\nA. u\r\nB. v\r\nANSWER:A\r\n"
    parsed = read(text)
    assert parsed.problems == []
    assert [[o.weight for o in q.options] for q in parsed.bank.questions] == [  # type: ignore[union-attr]
        [0.0, 1.0],
        [1.0, 0.0],
    ]
    assert list(parsed.lines.values()) == [1, 7]


def test_problems_are_located() -> None:
    parsed = read((DATA / "aiken-errors.txt").read_text())
    assert [(p.code, p.where.line) for p in parsed.problems] == [
        ("option_without_question", 1),
        ("answer_without_question", 2),
        ("missing_answer", 4),
        ("bad_answer", 11),
        ("duplicate_option_label", 15),
        ("missing_answer", 18),
    ]
    assert parsed.bank.questions == []


def test_ids_are_derived_from_the_text() -> None:
    one = read("Q?\nA. x\nB. y\nANSWER: A\n\nQ?\nA. x\nB. y\nANSWER: B").bank.questions
    assert one[0].id.startswith("q") and one[1].id == one[0].id + "-2"


def test_loads_validates_too() -> None:
    bank = loads((DATA / "aiken.txt").read_bytes(), "aiken", source="aiken.txt")
    assert bank.id == "aiken" and len(bank.questions) == 3
    with pytest.raises(BankInvalid) as err:
        loads("Q?\nA. x\nANSWER: A\n\nR?\nA. x\nB. x\nANSWER: B", "aiken")
    assert {(p.code, p.where.line) for p in err.value.problems} >= {
        ("too_few_options", 1),
        ("duplicate_option", 5),
    }


def test_write_reports_everything_aiken_cannot_hold() -> None:
    bank = Bank(
        id=BankId("b"),
        title="T",
        topics=[Topic(id="t")],
        questions=[
            TrueFalse(id="tf", text="Q", answer=True),
            MultipleChoice(id="m", text="Q", options=[Option(id="a", text="x", weight=1.0)]),
            SingleChoice(
                id="s",
                text="Q\n\nA. looks like an option",
                points=5,
                topic="t",
                explanation="vì",
                options=[
                    Option(id="x", text="a", weight=1.0, feedback="đúng"),
                    Option(id="y", text="b", weight=0.5),
                ],
            ),
        ],
    )
    written = aiken.write(bank)
    lost = {(w.where.question, w.where.field) for w in written.warnings}
    assert lost == {
        (None, "topics"),
        ("tf", "kind"),
        ("m", "kind"),
        ("s", "points"),
        ("s", "topic"),
        ("s", "explanation"),
        ("s", "options"),
        ("s", "text"),
        ("s", "id"),
    }
    assert written.text == "Q A. looks like an option\nA. a\nB. b\nANSWER: A\n"


def _canonical(bank: Bank) -> Bank:
    """Ids as the reader derives them (Aiken has no ids)."""
    ids = IdAssigner()
    questions = [
        msgspec.structs.replace(q, id=ids.use(ids.derive("", q.text))) for q in bank.questions
    ]
    return msgspec.structs.replace(bank, questions=questions)


def _aiken_text(s: str) -> bool:
    return not aiken._special(s)


@ROUND_TRIP
@given(
    banks(
        kinds=("single",),
        topics=False,
        rich=False,
        partial=False,
        text_ok=lambda s: "\n" not in s and _aiken_text(s),
    ).map(_canonical)
)
def test_round_trip(bank: Bank) -> None:
    assert_round_trip(bank, aiken.write, read)


@FUZZ
@given(
    st.one_of(st.text(max_size=200), st.text(alphabet=ALPHABET + "ABCANSWER:.)\n", max_size=120))
)
def test_read_never_raises(text: str) -> None:
    assert_problems_located(read(text))
