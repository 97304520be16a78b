"""Question and bank models: the one place bank schemas are declared.

A bank is a titled, versioned list of questions in one language. Questions are a tagged
union on the field ``kind``::

    Question = SingleChoice | MultipleChoice | TrueFalse | Numeric | ShortText | Prediction

Every struct is frozen and keyword-only; new fields get defaults and are appended, never
reordered (msgspec's schema-evolution rules), so stored banks keep decoding.

Weights are fractions of the question's points, as GIFT writes them in percent:
``weight=1.0`` is ``%100%``, ``0.5`` is ``%50%``, ``-0.25`` is ``%-25%``.

* Single choice: the option with weight 1.0 is the correct one; other options may carry
  partial credit (GIFT ``~%50%``).
* Multiple choice: every option has its own weight; the weights of the options a member
  picks are added, and the total is clamped to ``[0, 1]``. The positive weights must add
  up to 1.0 so that a perfect answer earns the full points.
* Numeric: accepted answers, each an exact value with an optional tolerance or a closed
  range, each with its weight; the best matching answer counts.
* Short text: accepted answers compared after NFC, case folding and whitespace folding
  (see :func:`question_bank.text.fold`), optionally ignoring Vietnamese diacritics.
* Prediction: "how many participants will ...?" has no correct answer in the bank; the
  true figure is measured when the round closes and breaks ties in the final ranking.
"""

from typing import Annotated, Literal

import msgspec

from .ids import BankId, OptionId, QuestionId, TopicId

__all__ = [
    "DIFFICULTIES",
    "MAX_PREDICTION",
    "Bank",
    "Difficulty",
    "MultipleChoice",
    "Numeric",
    "NumericAnswer",
    "Option",
    "Prediction",
    "PredictionMeasure",
    "Question",
    "ShortText",
    "SingleChoice",
    "TextAnswer",
    "Topic",
    "TrueFalse",
]

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")

Weight = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
Points = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Seconds = Annotated[int, msgspec.Meta(ge=1, le=86_400)]


class Topic(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: TopicId
    name: str = ""


class Option(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One option of a choice question."""

    id: OptionId
    """Stable id (``a``, ``b``, ...), kept when options are shuffled for a member."""
    text: str
    weight: Weight = 0.0
    """Fraction of the question's points this option earns (1.0 = correct)."""
    feedback: str = ""


class NumericAnswer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An accepted numeric answer: ``value`` ± ``tolerance``, or the range ``low..high``."""

    value: float | None = None
    tolerance: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0
    low: float | None = None
    high: float | None = None
    weight: Weight = 1.0
    feedback: str = ""


class TextAnswer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An accepted short-text answer."""

    text: str
    weight: Weight = 1.0
    feedback: str = ""


class _QuestionBase(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Fields every question kind has."""

    id: QuestionId
    text: str
    points: Points = 10
    time_limit: Seconds | None = None
    """Seconds to answer (live shows); ``None`` uses the contest's setting."""
    topic: TopicId | None = None
    difficulty: Difficulty = "medium"
    explanation: str = ""
    """Shown to members after the question closes (GIFT general feedback)."""
    media_url: str | None = None
    title: str = ""
    """A short name for organisers (GIFT ``::title::``); never shown to members."""


class SingleChoice(_QuestionBase, tag="single", frozen=True):
    options: list[Option]


class MultipleChoice(_QuestionBase, tag="multiple", frozen=True):
    options: list[Option]


class TrueFalse(_QuestionBase, tag="true_false", frozen=True):
    answer: bool
    feedback_true: str = ""
    feedback_false: str = ""


class Numeric(_QuestionBase, tag="numeric", frozen=True):
    answers: list[NumericAnswer]


class ShortText(_QuestionBase, tag="short_text", frozen=True):
    answers: list[TextAnswer]
    ignore_diacritics: bool = False
    """Also accept the answer typed without Vietnamese diacritics (``Ha Noi`` for ``Hà Nội``)."""


PredictionMeasure = Literal["perfect_scores", "participants", "completed"]


MAX_PREDICTION = 10**12
"""The largest prediction anywhere in the engine: a prediction question's ``max_value``
(checked by validation), a member's ``submit`` (engine.core.messages) and what an attempt stores
(scoring.attempts: Redis's cjson keeps 14 significant digits, so from 10**14 a prediction
would come back as a float). Exact as a double in Redis, Lua and JavaScript."""


class Prediction(_QuestionBase, tag="prediction", frozen=True):
    """A "how many participants will ...?" question, ranked by distance from the true figure."""

    measure: PredictionMeasure = "perfect_scores"
    """What is counted at close: members with every question right, members who took part,
    or members who submitted a completed attempt."""
    max_value: Annotated[int, msgspec.Meta(ge=0)] = 100_000_000


Question = SingleChoice | MultipleChoice | TrueFalse | Numeric | ShortText | Prediction
"""Every kind of question the engine can run."""


class Bank(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A question bank: the unit organisers import, version and draw contests from."""

    id: BankId
    title: str
    language: str = "vi"
    topics: list[Topic] = []
    version: Annotated[int, msgspec.Meta(ge=1)] = 1
    questions: list[Question] = []
