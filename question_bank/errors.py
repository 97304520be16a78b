"""Exceptions of the question bank package.

::

    QuestionBankError
    ├── BankInvalid          the input has problems; carries every one of them at once
    ├── UnsupportedFormat    no reader/writer for that format name or file
    ├── DrawImpossible       the bank cannot satisfy a contest's draw rules
    ├── BankNotFound         no such bank (or version) in storage
    └── InvalidAnswer        an answer's shape does not fit its question (peer input)

Problems carry where they are: file and line for formats that have lines, otherwise the
question id and field, so a person can act on each one.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BankInvalid",
    "BankNotFound",
    "DrawImpossible",
    "InvalidAnswer",
    "Location",
    "Problem",
    "QuestionBankError",
    "UnsupportedFormat",
]


class Location(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a problem is. Every field is optional; the most precise ones known are set."""

    file: str | None = None
    line: int | None = None
    question: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.question is not None:
            parts.append(f"question {self.question}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ", ".join(parts) or "bank"


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One problem found in a bank: a stable ``code``, where it is and why."""

    code: str
    """Stable machine-readable code, for example ``no_correct_option``."""
    message: str
    where: Location = Location()

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


class QuestionBankError(Exception):
    """Base class of every error this package raises."""


class BankInvalid(QuestionBankError):
    """The input has one or more problems; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self) -> tuple[type[BankInvalid], tuple[list[Problem]]]:
        # Pickled with its problems (a parse in a worker process raises it across).
        return (type(self), (self.problems,))


class UnsupportedFormat(QuestionBankError):
    """No reader or writer for that format."""


class DrawImpossible(QuestionBankError):
    """The bank cannot satisfy the draw rules; ``shortfalls`` says which quota and by how much."""

    def __init__(self, shortfalls: list[str]) -> None:
        self.shortfalls = shortfalls
        super().__init__("; ".join(shortfalls))


class BankNotFound(QuestionBankError):
    """No such bank, or no such version of it."""


class InvalidAnswer(QuestionBankError):
    """An answer whose shape does not fit its question (wrong type, unknown option id, ...).

    The peer sent bad input: the gateway refuses the answer with ``code`` and the message.
    """

    code = "bad_answer"

    def __init__(self, message: str, *, question: str | None = None) -> None:
        self.question = question
        super().__init__(message if question is None else f"question {question}: {message}")
