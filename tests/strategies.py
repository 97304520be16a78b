"""Hypothesis strategies for question banks, for any test that needs arbitrary valid banks.

``banks()`` draws banks that :func:`question_bank.validation.validate` accepts with no
problem: every kind of question, ids that are valid and unique, option texts distinct
after folding, weights that reach 100 %, numeric answers with a value or an ordered range,
Vietnamese and arbitrary Unicode text (already NFC, since every reader normalises to it).

Each part is its own strategy (``texts``, ``ids``, ``questions`` ...) so a format test can
restrict itself to what its format can express, e.g.
``banks(kinds=("single",), max_questions=5)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from question_bank.ids import BankId, OptionId, QuestionId, TopicId
from question_bank.models import (
    DIFFICULTIES,
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
from question_bank.text import fold, nfc
from question_bank.validation import ID_PATTERN

__all__ = [
    "KINDS",
    "VIETNAMESE_WORDS",
    "banks",
    "ids",
    "questions",
    "texts",
    "weights",
]

KINDS: tuple[str, ...] = ("single", "multiple", "true_false", "numeric", "short_text", "prediction")

VIETNAMESE_WORDS = (
    "Hà Nội",
    "Thành phố Hồ Chí Minh",
    "Đà Nẵng",
    "sông Hồng",
    "Điện Biên Phủ",
    "Chủ tịch Hồ Chí Minh",
    "Tuyên ngôn Độc lập",
    "năm 1945",
    "Đoàn Thanh niên",
    "Truyện Kiều",
    "Nguyễn Du",
    "quần đảo Hoàng Sa",
    "nước",
    "ước mơ",
    "khoa học",
    "?",
    "Ư Ơ ư ơ Đ đ",
)

_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n")

texts = st.one_of(
    st.sampled_from(VIETNAMESE_WORDS),
    st.lists(st.sampled_from(VIETNAMESE_WORDS), min_size=1, max_size=4).map(" ".join),
    st.text(_CHARS, min_size=1, max_size=40),
).map(nfc)
"""Text that may be empty or blank (for feedback, explanations)."""

non_blank = texts.filter(lambda text: bool(text.strip()))
"""Text with something in it (question, option and answer texts)."""

ids = st.from_regex(ID_PATTERN, fullmatch=True)
"""A valid bank, topic, question or option id."""

weights = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
"""Any weight in range (partial credit and penalties)."""

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
urls = st.sampled_from([None, "https://example.org/a.png", "http://cdn.example.vn/v/1.mp4"])


def _base(draw: st.DrawFn, qid: str, topics: Sequence[str]) -> dict[str, object]:
    return {
        "id": QuestionId(qid),
        "text": draw(non_blank),
        "points": draw(st.integers(0, 100_000)),
        "time_limit": draw(st.none() | st.integers(1, 86_400)),
        "topic": draw(st.none() | st.sampled_from(topics)) if topics else None,
        "difficulty": draw(st.sampled_from(DIFFICULTIES)),
        "explanation": draw(st.just("") | texts),
        "media_url": draw(urls),
        "title": draw(st.just("") | texts),
    }


@st.composite
def _options(draw: st.DrawFn, multiple: bool) -> list[Option]:
    option_texts = draw(
        st.lists(non_blank, min_size=2, max_size=6, unique_by=fold).filter(
            lambda found: all(fold(text) for text in found)
        )
    )
    n = len(option_texts)
    if multiple:
        k = draw(st.integers(1, n))
        shares = draw(st.lists(st.integers(1, 100), min_size=k, max_size=k))
        good = [share / sum(shares) for share in shares]
        bad = draw(st.lists(st.floats(-1.0, 0.0), min_size=n - k, max_size=n - k))
        scores = draw(st.permutations(good + bad))
    else:
        right = draw(st.integers(0, n - 1))
        others = st.floats(-1.0, 0.99)
        scores = [1.0 if i == right else draw(others) for i in range(n)]
    option_ids = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    return [
        Option(
            id=OptionId(oid),
            text=text,
            weight=weight,
            feedback=draw(st.just("") | texts),
        )
        for oid, text, weight in zip(option_ids, option_texts, scores, strict=True)
    ]


@st.composite
def _numeric_answer(draw: st.DrawFn, weight: float) -> NumericAnswer:
    if draw(st.booleans()):
        value = draw(finite)
        tolerance = draw(st.just(0.0) | st.floats(0.0, 1e6))
        return NumericAnswer(value=value, tolerance=tolerance, weight=weight)
    low, high = sorted(draw(st.lists(finite, min_size=2, max_size=2)))
    return NumericAnswer(low=low, high=high, weight=weight, feedback=draw(texts))


@st.composite
def questions(
    draw: st.DrawFn, qid: str, topics: Sequence[str] = (), kinds: Sequence[str] = KINDS
) -> Question:
    """One valid question of one of *kinds*, with id *qid* and a topic among *topics*."""
    base = _base(draw, qid, topics)
    kind = draw(st.sampled_from(kinds))
    if kind == "single":
        return SingleChoice(options=draw(_options(False)), **base)  # type: ignore[arg-type]
    if kind == "multiple":
        return MultipleChoice(options=draw(_options(True)), **base)  # type: ignore[arg-type]
    if kind == "true_false":
        return TrueFalse(
            answer=draw(st.booleans()),
            feedback_true=draw(st.just("") | texts),
            feedback_false=draw(st.just("") | texts),
            **base,  # type: ignore[arg-type]
        )
    if kind == "numeric":
        extra = draw(st.lists(weights, max_size=2))
        answers = [draw(_numeric_answer(w)) for w in [1.0, *extra]]
        return Numeric(answers=draw(st.permutations(answers)), **base)  # type: ignore[arg-type]
    if kind == "short_text":
        ignore = draw(st.booleans())
        accepted = draw(
            st.lists(
                non_blank,
                min_size=1,
                max_size=4,
                unique_by=lambda text: fold(text, ignore_diacritics=ignore),
            ).filter(lambda found: all(fold(t, ignore_diacritics=ignore) for t in found))
        )
        text_answers = [
            TextAnswer(text=text, weight=1.0 if i == 0 else draw(weights))
            for i, text in enumerate(accepted)
        ]
        return ShortText(answers=text_answers, ignore_diacritics=ignore, **base)  # type: ignore[arg-type]
    return Prediction(
        measure=draw(st.sampled_from(["perfect_scores", "participants", "completed"])),
        max_value=draw(st.integers(0, 10**9)),
        **base,  # type: ignore[arg-type]
    )


@st.composite
def banks(
    draw: st.DrawFn,
    *,
    kinds: Sequence[str] = KINDS,
    min_questions: int = 1,
    max_questions: int = 8,
) -> Bank:
    """A bank :func:`~question_bank.validation.validate` finds nothing wrong with."""
    topic_ids = draw(st.lists(ids, max_size=4, unique=True))
    topics = [Topic(id=TopicId(t), name=draw(st.just("") | texts)) for t in topic_ids]
    question_ids = draw(st.lists(ids, min_size=min_questions, max_size=max_questions, unique=True))
    return Bank(
        id=BankId(draw(ids)),
        title=draw(texts),
        language=draw(st.sampled_from(["vi", "en"])),
        topics=topics,
        version=draw(st.integers(1, 1000)),
        questions=[draw(questions(qid, topic_ids, kinds)) for qid in question_ids],
    )
