"""Draws: each member's own reproducible list of questions from a bank, options shuffled.

::

    rules = DrawRules(count=10, quotas=[Quota(topic="lich-su", count=4),
                                        Quota(difficulty="hard", count=2)])
    drawn = draw(bank, rules, seed=draw_seed(contest, member, attempt))
    # [DrawnQuestion(id="q17", options=["c", "a", "d", "b"]), ...]

Semantics:

* The *pool* is the bank's questions of the allowed ``kinds`` (every kind when empty),
  without prediction questions when ``exclude_prediction`` (the round's prediction
  question is asked apart from the draw).
* A :class:`Quota` is a **lower bound**: at least ``count`` of the drawn questions have its
  topic and its difficulty (``None`` = any). A drawn question counts toward **every** quota
  it matches, so ``topic=lich-su: 4`` and ``difficulty=hard: 2`` can both be met by 4
  questions of which 2 are hard lịch sử. The rest of ``count`` comes from the whole pool,
  at random. For exact numbers, give quotas that partition ``count`` (4 + 3 + 3 = 10).
* Whether the rules can be met is decided exactly, before drawing, from the pool alone
  (never from the seed): each quota needs enough matching questions, the pool needs
  ``count`` questions, and the quotas together need no more than ``count`` (the fewest
  questions meeting them all is a small minimum flow, :mod:`._quotaflow`). Otherwise
  :class:`DrawImpossible` lists every shortfall; :func:`check_rules` gives them without
  drawing.
* No question is drawn twice. Questions are picked in a random order and each is kept when
  the rules can still be met with it (questions of one cell are exchangeable, so each is
  equally likely; with no quotas the draw is a uniform sample). The kept questions are
  shuffled; each choice question's option ids are shuffled when ``shuffle_options``.
* Reproducible: everything random comes from ``random.Random(int(sha256(seed)))`` used in a
  fixed order over the bank's question order, so the same seed and the same bank version
  give the same draw on any machine and in any process (Python's hash randomisation plays
  no part). :func:`draw_seed` makes the seed of one attempt of one member in one contest.
* :class:`Drawer` checks the rules once and makes the same draws as :func:`draw`: keep one
  per contest and bank version when drawing for many members.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Annotated, Literal, TypeAlias

import msgspec

from ._quotaflow import solve
from .errors import DrawImpossible
from .ids import ContestId, MemberId, OptionId, QuestionId, TopicId
from .models import Bank, Difficulty, MultipleChoice, Prediction, Question, SingleChoice

__all__ = [
    "DrawRules",
    "Drawer",
    "DrawnQuestion",
    "QuestionKind",
    "Quota",
    "check_rules",
    "draw",
    "draw_seed",
]

QuestionKind = Literal["single", "multiple", "true_false", "numeric", "short_text", "prediction"]

Cell = tuple[Hashable, Hashable]


class Quota(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """At least ``count`` drawn questions of this topic and difficulty (``None`` = any)."""

    topic: TopicId | None = None
    difficulty: Difficulty | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)]

    def matches(self, question: Question) -> bool:
        return (self.topic is None or question.topic == self.topic) and (
            self.difficulty is None or question.difficulty == self.difficulty
        )

    def label(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (("topic", self.topic), ("difficulty", self.difficulty))
            if value is not None
        ]
        return " ".join(parts) or "any question"


class DrawRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a contest draws each member's questions."""

    count: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    """How many questions each member gets."""
    quotas: list[Quota] = []
    """Lower bounds by topic and/or difficulty; a question counts toward every one it matches."""
    kinds: list[QuestionKind] = []
    """Question kinds that may be drawn; empty: every kind."""
    shuffle_options: bool = True
    """Shuffle each choice question's options per member (the option ids stay the same)."""
    exclude_prediction: bool = True
    """Leave prediction questions out of the draw (the round asks its own apart)."""
    shuffle_questions: bool = True
    """Shuffle the order of the drawn questions; ``False`` keeps the bank's order."""


class DrawnQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """One question of a member's draw."""

    id: QuestionId
    options: list[OptionId] = []
    """The member's option order (choice questions); empty for other kinds."""


def draw_seed(contest_id: ContestId | str, member_id: MemberId | str, attempt: int) -> str:
    """The seed of one attempt of one member in one contest: a sha256 hex digest.

    The three parts are JSON-encoded together, so no two different triples share a seed.
    """
    encoded = msgspec.json.encode([str(contest_id), str(member_id), int(attempt)])
    return hashlib.sha256(encoded).hexdigest()


def check_rules(bank: Bank, rules: DrawRules) -> list[str]:
    """Why *bank* cannot satisfy *rules*: one line per shortfall, ``[]`` when it can.

    For example ``"topic=lich-su difficulty=hard: needs 5, bank has 3 (short by 2)"``.
    """
    return Drawer(bank, rules).shortfalls


def draw(bank: Bank, rules: DrawRules, *, seed: str) -> list[DrawnQuestion]:
    """Draw a member's questions; raise :class:`DrawImpossible` when the rules cannot be met.

    ``Drawer(bank, rules).draw(seed)`` gives the same draws and checks the rules only once:
    keep one per contest when drawing for many members.
    """
    return Drawer(bank, rules).draw(seed)


class Drawer:
    """Draws from one bank with one set of rules; the pool and the rules are checked once."""

    def __init__(self, bank: Bank, rules: DrawRules) -> None:
        self.rules = rules
        self.pool = _pool(bank, rules)
        self._cells = [_cell(question) for question in self.pool]
        self._available: dict[Cell, int] = {}
        for cell in self._cells:
            self._available[cell] = self._available.get(cell, 0) + 1
        self._start = _Start(self._available, rules)
        self._options: list[tuple[OptionId, ...] | None] = [
            tuple(o.id for o in q.options) if isinstance(q, SingleChoice | MultipleChoice) else None
            for q in self.pool
        ]
        """Each pool question's option ids in the bank's order (``None``: not a choice)."""
        self.shortfalls = self._check()
        """Why the rules cannot be met (:func:`check_rules`); ``[]`` when they can."""

    def _check(self) -> list[str]:
        rules, shortfalls = self.rules, []
        if len(self.pool) < rules.count:
            shortfalls.append(_short("count", rules.count, len(self.pool)))
        for quota in rules.quotas:
            have = sum(
                n
                for cell, n in self._available.items()
                if _hit(quota.topic, quota.difficulty, cell)
            )
            if have < quota.count:
                shortfalls.append(_short(quota.label(), quota.count, have))
        if shortfalls:
            return shortfalls
        least = _Remaining(self._start).least()
        if least is None or least > rules.count:
            need = "more than the pool" if least is None else f"at least {least}"
            shortfalls.append(
                f"quotas together: need {need} questions, but count is {rules.count}"
                + ("" if least is None else f" (short by {least - rules.count})")
            )
        return shortfalls

    def draw(self, seed: str) -> list[DrawnQuestion]:
        """The draw of *seed*; raise :class:`DrawImpossible` when the rules cannot be met."""
        return [DrawnQuestion(id=q.id, options=options) for q, options in self.picks(seed)]

    def picks(self, seed: str) -> list[tuple[Question, list[OptionId]]]:
        """:meth:`draw` as (question, the member's option order) pairs: the same draw,
        without an object per question (a window start builds its own)."""
        if self.shortfalls:
            raise DrawImpossible(self.shortfalls)
        rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest(), "big"))
        remaining = _Remaining(self._start)
        order = _random_order(rng, len(self.pool))
        chosen = _choose(order, self._cells, remaining)
        if self.rules.shuffle_questions:
            rng.shuffle(chosen)
        else:
            chosen.sort()
        shuffle = self.rules.shuffle_options
        picks: list[tuple[Question, list[OptionId]]] = []
        for i in chosen:
            question = self.pool[i]
            ids = self._options[i]
            if ids is None:
                picks.append((question, []))
                continue
            options = list(ids)
            if shuffle:
                rng.shuffle(options)
            picks.append((question, options))
        return picks


def _random_order(rng: random.Random, n: int) -> Iterator[int]:
    """``0 .. n-1`` in a random order, made as it is read (Fisher-Yates from the front), so a
    draw of 10 from 3,000 questions costs 10 random numbers, not 3,000 (nor a list of
    3,000: the swaps are kept in a dict, ``order[k]`` being ``moved.get(k, k)``; position
    ``i`` is never read again once yielded, so only ``order[j]`` is written)."""
    moved: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        at_j = moved.get(j, j)
        moved[j] = moved.get(i, i)
        yield at_j


def _pool(bank: Bank, rules: DrawRules) -> list[Question]:
    kinds = set(rules.kinds)
    return [
        question
        for question in bank.questions
        if (not kinds or _kind(question) in kinds)
        and not (rules.exclude_prediction and isinstance(question, Prediction))
    ]


def _kind(question: Question) -> str:
    tag = question.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _short(label: str, need: int, have: int) -> str:
    return f"{label}: needs {need}, bank has {have} (short by {need - have})"


def _cell(question: Question) -> Cell:
    return (question.topic, question.difficulty)


_MEMO_SIZE = 20_000
_Solved: TypeAlias = tuple[int | None, frozenset[Cell]]


class _Start:
    """What every draw of one Drawer starts from; computed once."""

    def __init__(self, available: dict[Cell, int], rules: DrawRules) -> None:
        self.count = rules.count
        self.available = available
        self.number = {cell: i for i, cell in enumerate(available)}
        self.keys = [(q.topic, q.difficulty) for q in rules.quotas]
        self.needs = [q.count for q in rules.quotas]
        self.wants = {
            cell: tuple(i for i, (t, d) in enumerate(self.keys) if _hit(t, d, cell))
            for cell in available
        }
        """The quotas each cell counts toward, by index."""
        self.memo: dict[tuple[int, ...], _Solved] = {}
        """What :meth:`_Remaining._solve` found, by state, shared by every draw."""


class _Remaining:
    """What is left to satisfy while drawing: free slots, unmet quotas, questions per cell."""

    def __init__(self, start: _Start) -> None:
        self.start = start
        self.slots = start.count
        self.needs = list(start.needs)
        self.available = dict(start.available)
        self.taken: list[int] = []
        """Numbers of the cells taken so far: with the start, they make the whole state."""

    def take(self, cell: Cell) -> None:
        self.slots -= 1
        self.available[cell] -= 1
        for i in self.start.wants[cell]:
            if self.needs[i] > 0:
                self.needs[i] -= 1
        self.taken.append(self.start.number[cell])

    def helps(self, cell: Cell) -> bool:
        """Whether a question of *cell* counts toward an unmet quota."""
        return any(self.needs[i] > 0 for i in self.start.wants[cell])

    def least(self) -> int | None:
        """Fewest further questions that meet the unmet quotas (``None``: they cannot be)."""
        return self._solved()[0]

    def usable(self) -> frozenset[Cell]:
        """Cells some smallest way of meeting the unmet quotas takes a question from."""
        return self._solved()[1]

    def _solved(self) -> _Solved:
        key = tuple(sorted(self.taken))
        memo = self.start.memo
        solved = memo.get(key)
        if solved is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = solved = self._solve()
        return solved

    def _solve(self) -> _Solved:
        unmet = [(t, d, n) for (t, d), n in zip(self.start.keys, self.needs, strict=True) if n > 0]
        anything = max((n for t, d, n in unmet if t is None and d is None), default=0)
        if anything > sum(self.available.values()):
            return None, frozenset()
        unmet = [(t, d, n) for t, d, n in unmet if t is not None or d is not None]
        # a cell no unmet quota wants is never part of a smallest choice: leave it out
        keys = self.start.keys
        useful = {
            cell: n
            for cell, n in self.available.items()
            if n > 0
            and any(self.needs[i] > 0 and keys[i] != (None, None) for i in self.start.wants[cell])
        }
        if _disjoint(unmet):
            # no question counts twice: each quota needs its own questions, from any cell
            for t, d, n in unmet:
                if sum(count for cell, count in useful.items() if _hit(t, d, cell)) < n:
                    return None, frozenset()
            least, usable = sum(n for _, _, n in unmet), frozenset(useful)
        else:
            by_topic: dict[Hashable, int] = {}
            by_difficulty: dict[Hashable, int] = {}
            by_cell: dict[Cell, int] = {}
            for topic, difficulty, need in unmet:
                if topic is not None and difficulty is not None:
                    by_cell[(topic, difficulty)] = max(by_cell.get((topic, difficulty), 0), need)
                elif topic is not None:
                    by_topic[topic] = max(by_topic.get(topic, 0), need)
                else:
                    by_difficulty[difficulty] = max(by_difficulty.get(difficulty, 0), need)
            solved = solve(useful, by_topic, by_difficulty, by_cell)
            if solved is None:
                return None, frozenset()
            least, usable = solved
        if anything > least:  # the extra questions "any question" wants may come from anywhere
            return anything, frozenset(cell for cell, n in self.available.items() if n > 0)
        return least, usable


def _hit(topic: Hashable, difficulty: Hashable, cell: Cell) -> bool:
    """Whether a quota on (*topic*, *difficulty*), ``None`` meaning any, matches *cell*."""
    return (topic is None or topic == cell[0]) and (difficulty is None or difficulty == cell[1])


def _disjoint(quotas: Sequence[tuple[Hashable, Hashable, int]]) -> bool:
    """Whether no question can match two of *quotas* (topic, difficulty, need)."""
    for i, (t1, d1, _) in enumerate(quotas):
        for t2, d2, _ in quotas[i + 1 :]:
            if (t1 is None or t2 is None or t1 == t2) and (d1 is None or d2 is None or d1 == d2):
                return False
    return True


def _choose(order: Iterable[int], cells: list[Cell], remaining: _Remaining) -> list[int]:
    """Walk the shuffled pool, keeping each question while the rules can still be met.

    ``slack`` is a lower bound on (free slots - fewest questions the unmet quotas need):
    while it is positive any question can be kept without a check (keeping one lowers
    both sides' difference by at most one); at zero, only a question that lowers what the
    quotas need is kept, and a cell found useless stays useless (the draw only grows).
    """
    least = remaining.least()
    assert least is not None
    slack = remaining.slots - least
    exact = True  # whether slack is exact or only a lower bound
    useless: set[Cell] = set()
    chosen: list[int] = []
    for index in order:
        if remaining.slots == 0:
            break
        cell = cells[index]
        if cell in useless:
            continue
        if slack < 1 and not exact:
            least = remaining.least()
            assert least is not None
            slack, exact = remaining.slots - least, True
        if slack < 1:
            # no slot to spare: keep it only if some smallest way of meeting the quotas
            # takes it (then what they need drops by one with the free slots)
            if not remaining.helps(cell) or cell not in remaining.usable():
                useless.add(cell)
                continue
            remaining.take(cell)
            chosen.append(index)
            slack = 0  # still exact
            continue
        remaining.take(cell)
        chosen.append(index)
        slack, exact = slack - 1, False
    assert remaining.slots == 0, "check_rules said the rules can be met"
    return chosen
