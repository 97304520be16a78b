"""Identifier types shared by every layer of the engine.

They live in the lowest package (``question_bank`` imports nothing of the others), so
``scoring`` and ``engine`` use the same names. Each is a ``NewType`` over ``str``: free at
run time, distinct for the type checker.
"""

import re
from typing import NewType

__all__ = [
    "BankId",
    "ContestId",
    "MemberId",
    "OptionId",
    "OrgId",
    "ProvinceId",
    "QuestionId",
    "TopicId",
    "UnitId",
    "STORED_ID_PATTERN",
]

OrgId = NewType("OrgId", str)
"""An organisation: ``central`` or one province's organiser (for example ``hanoi``)."""
BankId = NewType("BankId", str)
"""A question bank, unique within its organisation."""
QuestionId = NewType("QuestionId", str)
"""A question, stable across versions of its bank."""
OptionId = NewType("OptionId", str)
"""An option of a choice question, stable across shuffles (``a``, ``b``, ...)."""
TopicId = NewType("TopicId", str)
ContestId = NewType("ContestId", str)
MemberId = NewType("MemberId", str)
"""A member, as the member app's join token names them."""
ProvinceId = NewType("ProvinceId", str)
UnitId = NewType("UnitId", str)

STORED_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What the engine accepts as the id of a bank, an organisation or a contest it stores."""
