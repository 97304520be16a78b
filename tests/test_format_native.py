"""Native YAML and JSON formats: exact round trip, NFC, lines, and never raising on garbage."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.errors import BankInvalid
from question_bank.formats import Parsed, detect_format, dumps, format_module, loads
from question_bank.ids import BankId, OptionId, QuestionId
from question_bank.models import (
    Bank,
    Numeric,
    NumericAnswer,
    Option,
    ShortText,
    SingleChoice,
    TextAnswer,
    TrueFalse,
)
from tests.strategies import banks

NATIVE = ("yaml", "json")
SLOW_DATA = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLE = Bank(
    id=BankId("mau"),
    title="Ngân hàng mẫu",
    questions=[
        SingleChoice(
            id=QuestionId("q1"),
            text="Thủ đô của Việt Nam là thành phố nào?",
            options=[
                Option(id=OptionId("a"), text="Hà Nội", weight=1.0),
                Option(id=OptionId("b"), text="Đà Nẵng"),
            ],
            explanation="Hà Nội là thủ đô từ năm 1976\n(của nước Việt Nam thống nhất).",
        ),
        ShortText(
            id=QuestionId("q2"),
            text="Tác giả Truyện Kiều?",
            answers=[TextAnswer(text="Nguyễn Du")],
            ignore_diacritics=True,
        ),
    ],
)


def read(fmt: str, text: str) -> Parsed:
    parsed: Parsed = format_module(fmt).read(text, source="f", bank_id=BankId("b"), title="Tiêu đề")
    return parsed


@pytest.mark.slow
@SLOW_DATA
@given(bank=banks())
def test_round_trip_is_exact(bank: Bank) -> None:
    for fmt in NATIVE:
        written = dumps(bank, fmt)
        assert written.warnings == []
        assert loads(written.text, fmt) == bank
        # and stable: writing what was read gives the same text
        assert dumps(loads(written.text, fmt), fmt).text == written.text


@pytest.mark.parametrize("fmt", NATIVE)
def test_defaults_are_left_out_and_keys_come_in_a_stable_order(fmt: str) -> None:
    text = dumps(SAMPLE, fmt).text
    for default in ("points", "difficulty", "language", "version", "weight: 0", "time_limit"):
        assert default not in text
    order = [text.index(key) for key in ("id", "title", "questions", "kind", "text", "options")]
    assert order == sorted(order)
    assert loads(text, fmt) == SAMPLE


def test_yaml_is_readable() -> None:
    text = dumps(SAMPLE, "yaml").text
    assert "Hà Nội" in text  # not escaped
    assert "explanation: |" in text  # multi-line text as a literal block
    assert text.startswith("id: mau\ntitle: Ngân hàng mẫu\nquestions:\n- id: q1\n  kind: single\n")


@pytest.mark.parametrize("fmt", NATIVE)
def test_text_typed_in_nfd_loads_equal_to_nfc(fmt: str) -> None:
    text = dumps(SAMPLE, fmt).text
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert loads(decomposed, fmt) == loads(text, fmt) == SAMPLE
    assert loads(decomposed.encode("utf-8"), fmt) == SAMPLE


@pytest.mark.parametrize("fmt", NATIVE)
def test_escaped_decomposed_text_is_normalised(fmt: str) -> None:
    # "Hà Nội" written with escapes for the combining marks: the file's text is pure ASCII
    escaped = r"Ha\u0300 No\u0323\u0302i"
    original = dumps(SAMPLE, fmt).text
    if fmt == "yaml":
        text = original.replace("text: Hà Nội", f'text: "{escaped}"')
    else:
        text = original.replace('"text": "Hà Nội"', f'"text": "{escaped}"')
    assert text != original and "Nội" not in text.split("explanation")[0]
    assert loads(text, fmt) == SAMPLE


def test_bom_is_dropped() -> None:
    assert loads(b"\xef\xbb\xbf" + dumps(SAMPLE, "json").text.encode(), "json") == SAMPLE


@pytest.mark.parametrize("fmt", NATIVE)
def test_lines_of_questions(fmt: str) -> None:
    text = dumps(SAMPLE, fmt).text
    lines = text.splitlines()
    parsed = read(fmt, text)
    assert parsed.problems == []
    assert set(parsed.lines) == {"q1", "q2"}
    for qid, line in parsed.lines.items():
        if fmt == "yaml":
            assert lines[line - 1] == f"- id: {qid}"
        else:  # the line the question's object opens on
            assert lines[line - 1].strip() == "{" and f'"id": "{qid}"' in lines[line]


def test_json_lines_are_exact() -> None:
    text = '{"id": "b", "title": "t", "questions": [\n\n  {"id": "x", "kind": "true_false",\n'
    text += '"text": "Đ", "answer": true},\n {"id": "y", "kind": "prediction", "text": "?"}]}'
    assert read("json", text).lines == {"x": 3, "y": 5}


def test_yaml_lines_are_exact() -> None:
    text = "id: b\ntitle: t\nquestions:\n\n  # a comment\n  - id: x\n    kind: true_false\n"
    text += "    text: Đ\n    answer: yes\n  -\n    kind: prediction\n    id: y\n    text: '?'\n"
    parsed = read("yaml", text)
    assert parsed.problems == []
    assert parsed.lines == {"x": 6, "y": 11}
    assert parsed.bank.questions[0] == TrueFalse(id=QuestionId("x"), text="Đ", answer=True)


def test_empty_questions_key_is_no_question() -> None:
    parsed = read("yaml", "id: a\ntitle: b\nquestions:\n")
    assert parsed.problems == [] and parsed.bank.questions == []
    (problem,) = read("yaml", "id: a\ntitle: b\nquestions: 0\n").problems
    assert (problem.code, problem.where.line, problem.where.field) == ("wrong_type", 3, "questions")


def test_missing_id_and_title_come_from_the_file_name() -> None:
    parsed = read("yaml", "questions:\n  - {id: x, kind: prediction, text: Bao nhiêu?}\n")
    assert (parsed.bank.id, parsed.bank.title) == ("b", "Tiêu đề")
    assert parsed.problems == []


def test_yaml_plain_scalars_under_text_keys_stay_text() -> None:
    text = """\
questions:
  - id: 007
    kind: single
    text: 1945
    options:
      - {id: 1, text: yes, weight: 1}
      - {id: 2, text: 3.50}
      - {id: 3, text: 2024-01-02}
  - id: n
    kind: numeric
    text: Số Avogadro xấp xỉ?
    answers:
      - {value: 6.022e+23, tolerance: 1e21}
"""
    parsed = read("yaml", text)
    assert parsed.problems == []
    single, numeric = parsed.bank.questions
    assert isinstance(single, SingleChoice) and isinstance(numeric, Numeric)
    assert single.id == "007" and single.text == "1945"
    assert [(o.id, o.text) for o in single.options] == [
        ("1", "yes"),
        ("2", "3.50"),
        ("3", "2024-01-02"),
    ]
    assert numeric.answers == [NumericAnswer(value=6.022e23, tolerance=1e21)]


def test_json_is_strict_about_types() -> None:
    text = (
        '{"questions": [{"id": "q", "kind": "numeric", "text": "?", "answers": [{"value": "1"}]}]}'
    )
    (problem,) = read("json", text).problems
    assert (problem.code, problem.where.field) == ("wrong_type", "answers[0].value")


@pytest.mark.parametrize(
    ("fmt", "text", "code", "line"),
    [
        ("yaml", "id: x\ntitle: y\nquestions:\n  - [1,\n  - 2\n", "syntax_error", 5),
        ("json", '{"id": "x",\n "title": }', "syntax_error", 2),
        ("yaml", "id: a\nid: b\n", "duplicate_key", 2),
        ("json", '{"id": "a",\n"id": "b"}', "duplicate_key", 2),
        ("yaml", "a: &a [x, *a]\n", "too_complex", 1),
        ("json", "[" * 5000 + "]" * 5000, "too_complex", None),
        ("yaml", "when: 2024-13-45\n", "syntax_error", None),
        ("yaml", "questions: {a: 1}\n", "wrong_type", 1),
        ("json", "42", "bad_document", 1),
    ],
)
def test_decode_problems(fmt: str, text: str, code: str, line: int | None) -> None:
    parsed = read(fmt, text)
    assert code in [p.code for p in parsed.problems]
    problem = next(p for p in parsed.problems if p.code == code)
    assert problem.where.line == line
    assert problem.where.file == "f"


def test_alias_bomb_is_refused_before_it_expands() -> None:
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        layers.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (problem,) = read("yaml", "\n".join(layers)).problems
    assert problem.code == "too_complex"


@pytest.mark.parametrize(
    ("path", "fmt"), [("a.yaml", "yaml"), ("b.YML", "yaml"), ("c.json", "json")]
)
def test_detect_format(path: str, fmt: str) -> None:
    assert detect_format(path) == fmt


@SLOW_DATA
@given(data=st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_reading_garbage_never_raises(data: str) -> None:
    for fmt in NATIVE:
        parsed = read(fmt, data)
        assert isinstance(parsed, Parsed)


@pytest.mark.slow
@SLOW_DATA
@given(bank=banks(max_questions=3), data=st.data())
def test_reading_damaged_files_never_raises(bank: Bank, data: st.DataObject) -> None:
    for fmt in NATIVE:
        text = dumps(bank, fmt).text
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 20)))
        damaged = text[:start] + data.draw(st.text(max_size=5)) + text[end:]
        try:
            loads(damaged, fmt)
        except BankInvalid as exc:
            assert exc.problems
            assert all(p.code and p.message for p in exc.problems)
