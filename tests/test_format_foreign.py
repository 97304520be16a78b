"""GIFT, Aiken and CSV writers on arbitrary valid banks: never raise, and never lose silently.

The property: whatever a writer does not warn about reads back exactly. Banks come from
the shared strategy (arbitrary Unicode, any weights and numbers), with option ids and
topics made canonical so that the writers have something left to write without warnings.
"""

from __future__ import annotations

from types import ModuleType

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from question_bank.formats import aiken, gift
from question_bank.formats import csv as csv_format
from question_bank.formats._common import option_id
from question_bank.models import Bank, MultipleChoice, SingleChoice

from .strategies import banks


def canonical(bank: Bank) -> Bank:
    questions = []
    for q in bank.questions:
        if isinstance(q, SingleChoice | MultipleChoice):
            options = [msgspec.structs.replace(o, id=option_id(i)) for i, o in enumerate(q.options)]
            q = msgspec.structs.replace(q, options=options)
        questions.append(msgspec.structs.replace(q, topic=None))
    return msgspec.structs.replace(bank, language="vi", topics=[], version=1, questions=questions)


@pytest.mark.parametrize("fmt", [gift, aiken, csv_format], ids=lambda m: m.NAME)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bank=banks())
def test_what_is_not_warned_about_reads_back(fmt: ModuleType, bank: Bank) -> None:
    written = fmt.write(bank)  # never raises, even with everything it cannot express
    assert all(w.code == "not_expressible" for w in written.warnings)
    bank = canonical(bank)
    written = fmt.write(bank)
    if written.warnings:
        return
    again = fmt.read(written.text, source="x", bank_id=bank.id, title=bank.title)
    assert again.problems == []
    assert again.bank == bank


def test_examples_in_the_docs_load() -> None:
    """Every bank example of docs/question-banks.md's format sections loads without problems."""
    import re
    from pathlib import Path

    from question_bank.formats import loads

    doc = (Path(__file__).parents[1] / "docs" / "question-banks.md").read_text()
    formats = doc[: doc.index("## Validation")]
    blocks = re.findall(r"```(yaml|text|csv)\n(.*?)```", formats, re.DOTALL)
    assert len(blocks) == 4
    for lang, block in blocks:
        fmt = {"yaml": "yaml", "csv": "csv"}.get(lang, "aiken" if "ANSWER:" in block else "gift")
        assert loads(block, fmt, source=f"doc.{fmt}").questions


@pytest.mark.parametrize("fmt", [gift, aiken, csv_format], ids=lambda m: m.NAME)
def test_edge_spaces_and_carriage_returns_are_reported(fmt: ModuleType) -> None:
    from question_bank.models import Option

    for text in (" Q", "Q\n", "Q\rR"):
        options = [Option(id="a", text="x", weight=1.0), Option(id="b", text="y")]
        question = SingleChoice(id="q", text=text, options=options)
        bank = Bank(id="b", title="T", questions=[question])  # type: ignore[arg-type]
        assert fmt.write(bank).warnings, (fmt.NAME, text)
