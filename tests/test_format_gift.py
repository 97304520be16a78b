"""GIFT: every syntax element Moodle's format has, exact lines, round trip, never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from question_bank.formats import Parsed, gift
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
    DATA,
    FUZZ,
    ROUND_TRIP,
    assert_problems_located,
    assert_round_trip,
    banks,
)


def read(text: str) -> Parsed:
    return gift.read(text, source="t.gift", bank_id=BankId("b"), title="T")


def one(text: str) -> object:
    parsed = read(text)
    assert parsed.problems == []
    (question,) = parsed.bank.questions
    return question


def codes(parsed: Parsed) -> list[tuple[str, int | None]]:
    return [(p.code, p.where.line) for p in parsed.problems]


# -- each syntax element ---------------------------------------------------------------------


def test_single_choice_with_title_and_feedback() -> None:
    q = one("::cap::Thủ đô?{=Hà Nội#Đúng ~Huế#Sai ~Sài Gòn}")
    assert q == SingleChoice(
        id="cap",
        title="cap",
        text="Thủ đô?",
        options=[
            Option(id="a", text="Hà Nội", weight=1.0, feedback="Đúng"),
            Option(id="b", text="Huế", feedback="Sai"),
            Option(id="c", text="Sài Gòn"),
        ],
    )


def test_partial_credit_in_single_choice() -> None:
    q = one("Q{=a ~%50%b ~%-25%c}")
    assert isinstance(q, SingleChoice)
    assert [o.weight for o in q.options] == [1.0, 0.5, -0.25]


def test_multiple_choice_weights_without_equals() -> None:
    q = one("Q{\n~%50%a\n~%50%b\n~%-100%c\n~d}")
    assert isinstance(q, MultipleChoice)
    assert [o.weight for o in q.options] == [0.5, 0.5, -1.0, 0.0]
    assert [o.id for o in q.options] == ["a", "b", "c", "d"]


def test_decimal_weights() -> None:
    q = one("Q{~%33.33333%a ~%33.33333%b ~%33.33334%c}")
    assert isinstance(q, MultipleChoice)
    assert [o.weight for o in q.options] == [0.3333333, 0.3333333, 0.3333334]


@pytest.mark.parametrize(
    ("block", "answer"), [("{T}", True), ("{TRUE}", True), ("{F}", False), ("{FALSE}", False)]
)
def test_true_false(block: str, answer: bool) -> None:
    assert one("Sông Hồng dài?" + block) == TrueFalse(
        id=one("Sông Hồng dài?" + block).id,  # type: ignore[attr-defined]
        text="Sông Hồng dài?",
        answer=answer,
    )


def test_true_false_feedback_is_wrong_then_right() -> None:
    q = one("Q{TRUE#if you said false#if you said true}")
    assert isinstance(q, TrueFalse)
    assert (q.feedback_true, q.feedback_false) == ("if you said true", "if you said false")
    q = one("Q{F#if you said true#if you said false}")
    assert isinstance(q, TrueFalse)
    assert (q.answer, q.feedback_true, q.feedback_false) == (
        False,
        "if you said true",
        "if you said false",
    )


def test_lowercase_true_is_a_short_answer_as_in_moodle() -> None:
    assert isinstance(one("Q{true}"), ShortText)


def test_numeric_tolerance_range_exact() -> None:
    assert one("Q{#3:2}").answers == [NumericAnswer(value=3.0, tolerance=2.0)]  # type: ignore[attr-defined]
    assert one("Q{#1..5}").answers == [NumericAnswer(low=1.0, high=5.0)]  # type: ignore[attr-defined]
    assert one("Q{#-5..-1.5}").answers == [NumericAnswer(low=-5.0, high=-1.5)]  # type: ignore[attr-defined]
    assert one("Q{#42}").answers == [NumericAnswer(value=42.0)]  # type: ignore[attr-defined]


def test_numeric_several_answers_with_weights_and_feedback() -> None:
    q = one("Năm?{#\n=1822:0#Đúng\n=%50%1822:2#Gần\n}")
    assert q.answers == [  # type: ignore[attr-defined]
        NumericAnswer(value=1822.0, feedback="Đúng"),
        NumericAnswer(value=1822.0, tolerance=2.0, weight=0.5, feedback="Gần"),
    ]


def test_short_answer_several_accepted() -> None:
    q = one("Thủ đô?{=Hà Nội =%50%Hanoi#gần đúng}")
    assert q.answers == [  # type: ignore[attr-defined]
        TextAnswer(text="Hà Nội"),
        TextAnswer(text="Hanoi", weight=0.5, feedback="gần đúng"),
    ]


def test_general_feedback_is_the_explanation() -> None:
    q = one("Q{=a ~b####Vì a.}")
    assert q.explanation == "Vì a."  # type: ignore[attr-defined]
    assert [o.text for o in q.options] == ["a", "b"]  # type: ignore[attr-defined]


def test_every_escape() -> None:
    q = one(r"a\: \~ \= \# \{ \} \\ b\nc{=x\~y ~\#z}")
    assert q.text == "a: ~ = # { } \\ b\nc"  # type: ignore[attr-defined]
    assert [o.text for o in q.options] == ["x~y", "#z"]  # type: ignore[attr-defined]


def test_other_backslashes_stay() -> None:
    assert one(r"\(x^2\) \dfrac{T}").text == r"\(x^2\) \dfrac"  # type: ignore[attr-defined]


def test_comments_dropped_and_do_not_split_questions() -> None:
    parsed = read("// top comment\n::a::Q1\n// inside\nstill Q1{T}\n// after\n\n::b::Q2{F}")
    assert [q.text for q in parsed.bank.questions] == ["Q1\nstill Q1", "Q2"]
    assert parsed.lines == {"a": 2, "b": 7}


def test_multi_line_question_and_answers() -> None:
    q = one("::m::First line\n   second line{\n  =yes\n  ~no\n}")
    assert q.text == "First line\nsecond line"  # type: ignore[attr-defined]


def test_missing_word_becomes_a_blank() -> None:
    q = one("Nguyễn Du là tác giả {=Truyện Kiều ~Lục Vân Tiên} nổi tiếng.")
    assert q.text == "Nguyễn Du là tác giả _____ nổi tiếng."  # type: ignore[attr-defined]


def test_html_marker_to_plain_text_and_image_to_media() -> None:
    q = one(
        '[html]<p>Ảnh <b>này</b>&nbsp;là gì?<br>Chọn một.</p><img src\\="https\\://x.org/a.png">'
        "{=<i>Chùa</i> ~Đình}"
    )
    assert q.text == "Ảnh này là gì?\nChọn một."  # type: ignore[attr-defined]
    assert q.media_url == "https://x.org/a.png"  # type: ignore[attr-defined]
    assert q.options[0].text == "Chùa"  # type: ignore[attr-defined]


@pytest.mark.parametrize("marker", ["[moodle]", "[markdown]", "[plain]"])
def test_other_markers_are_stripped(marker: str) -> None:
    assert one(f"::t::{marker}**x** <b>{{T}}").text == "**x** <b>"  # type: ignore[attr-defined]


def test_unknown_bracket_is_text() -> None:
    assert one("[1] Q{T}").text == "[1] Q"  # type: ignore[attr-defined]


def test_categories_become_topics() -> None:
    parsed = read(
        "$CATEGORY: $course$/top/Default for X/Lịch sử Việt Nam\n\nQ1{T}\n\n"
        "$CATEGORY: tin-hoc\n\nQ2{T}\n\n$CATEGORY: $course$/top\n\nQ3{T}\n\n"
        "$CATEGORY: a/Lịch sử Việt Nam\nQ4{T}"
    )
    assert parsed.problems == []
    assert parsed.bank.topics == [
        Topic(id="lich-su-viet-nam", name="Lịch sử Việt Nam"),
        Topic(id="tin-hoc"),
    ]
    assert [q.topic for q in parsed.bank.questions] == [
        "lich-su-viet-nam",
        "tin-hoc",
        None,
        "lich-su-viet-nam",
    ]


def test_category_path_double_slash_is_a_slash() -> None:
    assert gift.category_topic("$course$/top/Đúng//Sai") == Topic(id="dung-sai", name="Đúng/Sai")


def test_metadata_comments() -> None:
    q = one(
        "// @id: q-1\n// @points: 5\n// @time_limit: 20\n// @difficulty: hard\n"
        "// @media_url: https://x.org/a.png\n// @ignore_diacritics: true\n"
        "// @todo: an unknown @key is an ordinary comment\nQ{=Hà Nội}"
    )
    assert q == ShortText(
        id="q-1",
        text="Q",
        points=5,
        time_limit=20,
        difficulty="hard",
        media_url="https://x.org/a.png",
        answers=[TextAnswer(text="Hà Nội")],
        ignore_diacritics=True,
    )


def test_bad_metadata_is_located() -> None:
    parsed = read("Q1{T}\n\n// @points: many\n// @difficulty: extreme\nQ2{T}\n\n// @points: 3")
    assert codes(parsed) == [("bad_metadata", 3), ("bad_metadata", 4), ("bad_metadata", 7)]


def test_ids_title_else_text_hash_stable_and_unique() -> None:
    parsed = read("::Tiêu đề::Q{T}\n\n::ok_id::Q{T}\n\nQ{T}\n\n// moved\n\nQ{T}")
    ids = [q.id for q in parsed.bank.questions]
    assert ids[1] == "ok_id"
    assert ids[0].startswith("q") and len(ids[0]) == 9
    assert ids[2] == ids[0] + "-2" and ids[3] == ids[0] + "-3"
    assert read("\n\n\n// other lines\n::Tiêu đề::Q{T}").bank.questions[0].id == ids[0]


# -- fixtures written by other tools -------------------------------------------------------


def test_moodle_export_with_crlf() -> None:
    raw = (DATA / "moodle-export.gift").read_bytes()
    assert b"\r\n" in raw
    parsed = gift.read(raw.decode(), source="m.gift", bank_id=BankId("m"), title="M")
    assert parsed.problems == []
    bank = parsed.bank
    assert [t.id for t in bank.topics] == ["lich-su-viet-nam", "toan"]
    by_id = {q.id: q for q in bank.questions}
    assert parsed.lines["tuyen-ngon"] == 7
    assert parsed.lines["num3"] == 39
    assert parsed.lines["custom-id"] == 64
    first = by_id["tuyen-ngon"]
    assert isinstance(first, SingleChoice)
    assert first.text == "Chủ tịch Hồ Chí Minh đọc bản Tuyên ngôn Độc lập vào năm nào?"
    assert first.options[1] == Option(
        id="b", text="1945", weight=1.0, feedback="Đúng: ngày 2/9/1945."
    )
    assert first.explanation == "Ngày 2 tháng 9 năm 1945 tại Quảng trường Ba Đình (Hà Nội)."
    kinds = [type(q).__name__ for q in bank.questions]
    assert kinds.count("TrueFalse") == 4 and kinds.count("Numeric") == 3
    assert by_id["custom-id"].time_limit == 30
    assert by_id["custom-id"].explanation == "Chùa Diên Hựu."


def test_unsupported_items_are_reported_with_lines() -> None:
    parsed = gift.read(
        (DATA / "unsupported.gift").read_text(), source="u.gift", bank_id=BankId("u"), title="U"
    )
    # What the engine cannot run is left out with a warning, the rest of the file kept.
    assert [(p.code, p.where.line) for p in parsed.skipped] == [
        ("unsupported_question", 4),  # essay
        ("unsupported_question", 7),  # matching
        ("unsupported_question", 11),  # description
        ("unsupported_feature", 17),  # numeric ~# feedback
        ("unsupported_question", 20),  # two answer blocks
    ]
    assert all(p.message.startswith("left out: ") for p in parsed.skipped)
    assert codes(parsed) == [
        ("syntax_error", 22),  # { never closed
        ("syntax_error", 26),  # ::title never closed
        ("bad_weight", 29),
        ("bad_number", 33),
    ]
    assert all(p.where.file == "u.gift" for p in parsed.problems)
    assert [q.id for q in parsed.bank.questions] == ["ok", "numfb", "bad", "badnum"]


def test_through_loads_reports_every_problem() -> None:
    from question_bank.errors import BankInvalid
    from question_bank.formats import load_file, loads

    bank = load_file(DATA / "moodle-export.gift")
    assert bank.id == "moodle-export" and len(bank.questions) == 14
    with pytest.raises(BankInvalid) as err:
        loads("Q{=a =b ~c}\n\n::x::{}", "gift", source="s.gift")
    found = {(p.code, p.where.line) for p in err.value.problems}
    assert ("several_correct_options", 1) in found
    assert ("unsupported_question", 3) in found


def test_nfd_input_loads_equal_to_nfc() -> None:
    import unicodedata

    from question_bank.formats import loads

    text = "::q::Thủ đô Việt Nam?{=Hà Nội ~Huế}"
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert loads(nfd, "gift") == loads(text, "gift")


# -- writing -----------------------------------------------------------------------------------


def test_write_reports_what_gift_cannot_express() -> None:
    bank = Bank(
        id=BankId("b"),
        title="T",
        language="en",
        topics=[Topic(id="ls", name="Lịch sử"), Topic(id="unused")],
        questions=[
            Prediction(id="p", text="Bao nhiêu người?"),
            TrueFalse(id="t", text="Q", answer=True, topic="ls"),
        ],
    )
    written = gift.write(bank)
    lost = {(w.where.question, w.where.field) for w in written.warnings}
    assert lost == {(None, "language"), (None, "topics"), ("p", None)}
    assert all(w.code == "not_expressible" for w in written.warnings)
    assert "Bao nhiêu" not in written.text


def test_write_moodle_friendly_text() -> None:
    bank = read((DATA / "moodle-export.gift").read_text()).bank
    text = gift.write(bank).text
    assert "$CATEGORY: $course$/top/Lịch sử Việt Nam\n" in text
    assert "::num1::Số π xấp xỉ bằng bao nhiêu?{#3.14:0.01}" in text
    assert "{=Hà Nội =%50%Hanoi#Viết có dấu nhé.}" not in text  # feedback: one per line
    assert read(text).bank == bank


def test_fixture_round_trips() -> None:
    parsed = read((DATA / "moodle-export.gift").read_text())
    written = gift.write(parsed.bank)
    assert written.warnings == []
    assert read(written.text).bank == parsed.bank


GIFT_KINDS = ("single", "multiple", "true_false", "numeric", "short_text")


@ROUND_TRIP
@given(banks(kinds=GIFT_KINDS))
def test_round_trip(bank: Bank) -> None:
    assert_round_trip(bank, gift.write, read)


GIFTISH = st.text(alphabet="{}~=#:%\\/-> \n\tTF$CATEGORY[html]0123456789.ab", max_size=80)


@FUZZ
@given(st.one_of(st.text(max_size=200), GIFTISH))
def test_read_never_raises(text: str) -> None:
    assert_problems_located(read(text))


def test_write_accepts_ints_where_the_model_says_float() -> None:
    question = Numeric(
        id="n",
        text="Q",
        answers=[NumericAnswer(value=3143, tolerance=10), NumericAnswer(low=1, high=5)],
    )
    bank = Bank(id=BankId("b"), title="T", questions=[question])
    written = gift.write(bank)
    assert "=3143:10" in written.text and "=1..5" in written.text
    assert read(written.text).bank == bank
