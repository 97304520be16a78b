"""Hypothesis strategies for the foreign formats (GIFT, Aiken, CSV) round-trip tests.

Each strategy builds banks restricted to what one format can express, in the canonical form
its reader produces (topics in order of first use, option ids ``a``, ``b``..., stripped
texts), so ``read(write(bank)).bank == bank`` must hold exactly: :func:`assert_round_trip`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from question_bank.formats import Parsed, Written
from question_bank.formats._common import option_id, slug, topic_from_label
from question_bank.ids import BankId, OptionId, QuestionId, TopicId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TextAnswer,
    Topic,
    TrueFalse,
)

# Vietnamese letters (precomposed, as loads() normalises to NFC), ASCII, and every
# character some format treats specially.
VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐƠƯ"
)
SPECIAL = "~=#{}:\\%[]/->,;|\"'.()*$@_"
ALPHABET = VIETNAMESE + "ABCXYZ0123456789" + SPECIAL + "  \n"

DATA = Path(__file__).parent / "data" / "banks"
"""Files as other tools (Moodle, spreadsheets, Aiken editors) write them."""

ROUND_TRIP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Settings of each format's round-trip property."""

FUZZ = settings(max_examples=300, deadline=None)
"""Settings of each format's never-raises property on arbitrary text."""

PERCENT_WEIGHTS = [1.0, 0.5, 0.25, 0.1, 1 / 3, 0.0, -0.25, -0.5, -1 / 3, -1.0, 0.83333, 0.125]


@functools.cache
def texts(
    *,
    min_size: int = 0,
    max_size: int = 16,
    alphabet: str = ALPHABET,
    keep: Callable[[str], bool] = lambda s: True,
) -> st.SearchStrategy[str]:
    """Stripped texts over *alphabet*, sometimes starting with a GIFT format marker."""
    filler = "x" * min_size
    plain = st.text(alphabet=alphabet, min_size=min_size, max_size=max_size).map(
        lambda s: s.strip() if len(s.strip()) >= min_size else filler
    )
    marked = st.tuples(st.sampled_from(["[html]", "[markdown]", "//", "::", "%50%"]), plain).map(
        lambda t: (t[0] + t[1]).strip()
    )
    return st.one_of(plain, plain, plain, marked).filter(keep)


def one_line(s: str) -> bool:
    return "\n" not in s


@functools.cache
def labels() -> st.SearchStrategy[str]:
    """Topic labels a GIFT category or CSV topic cell can carry."""
    return (
        st.text(alphabet=VIETNAMESE + "ABC 012-_", min_size=1, max_size=12)
        .map(lambda s: " ".join(s.split()))
        .filter(lambda s: bool(slug(s)) and s not in ("top",))
    )


def numbers() -> st.SearchStrategy[float]:
    return st.one_of(
        st.integers(-10_000, 10_000).map(float),
        st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    )


def numeric_answers(feedback: bool = True) -> st.SearchStrategy[NumericAnswer]:
    exact = st.builds(
        lambda v, t: NumericAnswer(value=v, tolerance=t),
        numbers(),
        st.sampled_from([0.0, 0.5, 2.0, 0.01]),
    )
    ranged = st.tuples(numbers(), numbers()).map(
        lambda lh: NumericAnswer(low=min(lh), high=max(lh))
    )
    return st.builds(
        lambda a, w, fb: NumericAnswer(
            value=a.value, tolerance=a.tolerance, low=a.low, high=a.high, weight=w, feedback=fb
        ),
        st.one_of(exact, ranged),
        st.sampled_from(PERCENT_WEIGHTS),
        texts(max_size=6) if feedback else st.just(""),
    )


def options(
    n: int, correct: int | None, *, feedback: bool, text_ok: Callable[[str], bool]
) -> st.SearchStrategy[list[Option]]:
    def build(items: list[tuple[str, float, str]]) -> list[Option]:
        return [
            Option(
                id=option_id(i),
                text=t,
                weight=(1.0 if i == correct else 0.0) if correct is not None else w,
                feedback=fb if feedback else "",
            )
            for i, (t, w, fb) in enumerate(items)
        ]

    item = st.tuples(
        texts(min_size=1, keep=text_ok), st.sampled_from(PERCENT_WEIGHTS), texts(max_size=6)
    )
    return st.lists(item, min_size=n, max_size=n).map(build)


@st.composite
def questions(
    draw: st.DrawFn,
    *,
    kinds: tuple[str, ...],
    rich: bool = True,
    text_ok: Callable[[str], bool] = lambda s: True,
    partial: bool = True,
    feedback: bool = True,
    answer_ok: Callable[[str], bool] = lambda s: True,
) -> Question:
    """One question of one of *kinds*; *rich*: with points, feedback, explanation etc."""
    kind = draw(st.sampled_from(kinds))
    common: dict[str, object] = {
        "id": QuestionId("q" + draw(st.text(alphabet="abcxyz019_-.:", max_size=6))),
        "text": draw(texts(min_size=1, keep=text_ok)),
    }
    if rich:
        common |= {
            "title": draw(st.one_of(st.just(""), texts(max_size=8, keep=one_line))),
            "points": draw(st.integers(0, 1000)),
            "time_limit": draw(st.one_of(st.none(), st.integers(1, 600))),
            "difficulty": draw(st.sampled_from(["easy", "medium", "hard"])),
            "explanation": draw(texts(max_size=10)),
            "media_url": draw(st.one_of(st.none(), st.just("https://example.org/x.png"))),
        }
    fb = rich and feedback
    n = draw(st.integers(2, 5))
    match kind:
        case "single":
            correct = draw(st.integers(0, n - 1))
            opts = draw(options(n, correct, feedback=fb, text_ok=text_ok))
            if partial:  # partial credit on a wrong option
                k = draw(st.integers(0, n - 1))
                if k != correct:
                    w = draw(st.sampled_from([0.5, 0.25, -0.5]))
                    opts[k] = Option(id=OptionId(opts[k].id), text=opts[k].text, weight=w)
            return SingleChoice(**common, options=opts)  # type: ignore[arg-type]
        case "multiple":
            return MultipleChoice(
                **common, options=draw(options(n, None, feedback=fb, text_ok=text_ok))
            )  # type: ignore[arg-type]
        case "true_false":
            return TrueFalse(
                **common,  # type: ignore[arg-type]
                answer=draw(st.booleans()),
                feedback_true=draw(texts(max_size=6)) if fb else "",
                feedback_false=draw(texts(max_size=6)) if fb else "",
            )
        case "numeric":
            return Numeric(
                **common, answers=draw(st.lists(numeric_answers(fb), min_size=1, max_size=3))
            )  # type: ignore[arg-type]
        case "short_text":
            answers = st.builds(
                TextAnswer,
                text=texts(min_size=1, keep=lambda s: "->" not in s and answer_ok(s)),
                weight=st.sampled_from(PERCENT_WEIGHTS),
                feedback=texts(max_size=6, keep=lambda s: "->" not in s) if fb else st.just(""),
            )
            return ShortText(
                **common,  # type: ignore[arg-type]
                answers=draw(st.lists(answers, min_size=1, max_size=3)),
                ignore_diacritics=draw(st.booleans()),
            )
        case _:
            return Prediction(
                **common,
                measure=draw(st.sampled_from(["perfect_scores", "participants", "completed"])),
                max_value=draw(st.integers(0, 10**9)),
            )  # type: ignore[arg-type]


@st.composite
def banks(
    draw: st.DrawFn,
    *,
    kinds: tuple[str, ...],
    topics: bool = True,
    rich: bool = True,
    text_ok: Callable[[str], bool] = lambda s: True,
    partial: bool = True,
    feedback: bool = True,
    answer_ok: Callable[[str], bool] = lambda s: True,
) -> Bank:
    """A bank of 1-6 questions with unique ids, topics in the order questions use them."""
    qs = draw(
        st.lists(
            questions(
                kinds=kinds,
                rich=rich,
                text_ok=text_ok,
                partial=partial,
                feedback=feedback,
                answer_ok=answer_ok,
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda q: q.id,
        )
    )
    if topics:
        chosen = [draw(st.one_of(st.none(), labels())) for _ in qs]
        seen: dict[TopicId, Topic] = {}
        out = []
        for q, label in zip(qs, chosen, strict=True):
            topic = topic_from_label(label) if label is not None else None
            # a topic id first seen with one label keeps it
            if topic is not None:
                topic = seen.setdefault(topic.id, topic)
            out.append(_with_topic(q, topic.id if topic else None))
        return Bank(id=BankId("b"), title="T", topics=list(seen.values()), questions=out)
    return Bank(id=BankId("b"), title="T", questions=qs)


def _with_topic(q: Question, topic: TopicId | None) -> Question:
    import msgspec

    return msgspec.structs.replace(q, topic=topic)


def assert_round_trip(
    bank: Bank, write: Callable[[Bank], Written], read: Callable[[str], Parsed]
) -> None:
    """*write* loses nothing of *bank* (no warning), and *read* gives exactly *bank* back with
    no problem."""
    written = write(bank)
    assert written.warnings == [], written.warnings
    again = read(written.text)
    assert again.problems == [], again.problems
    assert again.bank == bank, (again.bank, bank)


def assert_problems_located(parsed: Parsed) -> None:
    """Every problem the reader reports on *parsed* text names its line."""
    assert all(p.where.line is not None for p in parsed.problems), parsed.problems
