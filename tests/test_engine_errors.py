"""The engine's error hierarchy, error codes and close codes."""

import inspect

import pytest

from engine.core import errors
from engine.core.errors import (
    CLOSE_DESCRIPTIONS,
    ERROR_DESCRIPTIONS,
    AnswerRefused,
    CloseCode,
    ContestInvalid,
    EngineError,
    ErrorCode,
    IllegalTransition,
    PeerError,
    TokenError,
    UsageError,
    may_reconnect,
)


def test_every_error_code_is_documented() -> None:
    assert set(ERROR_DESCRIPTIONS) == set(ErrorCode)
    assert all(text.endswith(".") for text in ERROR_DESCRIPTIONS.values())


def test_every_close_code_is_documented_and_in_a_range() -> None:
    assert set(CLOSE_DESCRIPTIONS) == set(CloseCode)
    for code in CloseCode:
        assert 4000 <= code <= 4999


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (4000, True),
        (4499, True),
        (4500, False),
        (4999, False),
        (1000, False),
        (1001, True),
        (1006, True),
        (1008, False),
        (1009, False),
        (1011, True),
    ],
)
def test_may_reconnect(code: int, expected: bool) -> None:
    assert may_reconnect(code) is expected


def test_close_codes_of_errors_sit_in_the_right_range() -> None:
    assert may_reconnect(errors.TokenExpired.close or 0)
    for cls in (errors.TokenForged, errors.TokenWrongContest, errors.NotEligible):
        assert cls.close is not None and not may_reconnect(cls.close)


def test_every_exception_belongs_to_the_one_hierarchy_and_the_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, EngineError)
        assert cls.__name__ in doc, cls.__name__


def test_peer_errors_carry_a_code_a_status_and_a_default_message() -> None:
    exc = errors.TokenExpired()
    assert isinstance(exc, TokenError) and isinstance(exc, PeerError)
    assert exc.code is ErrorCode.TOKEN_EXPIRED
    assert exc.status == 401
    assert exc.message == ERROR_DESCRIPTIONS[ErrorCode.TOKEN_EXPIRED]
    assert errors.ContestNotFound("no contest x").message == "no contest x"


def test_answer_refused_takes_the_scoring_reason() -> None:
    exc = AnswerRefused("late")
    assert exc.code is ErrorCode.LATE
    with pytest.raises(ValueError):
        AnswerRefused("no_such_reason")


def test_contest_invalid_lists_problems() -> None:
    exc = ContestInvalid([{"field": "timing", "message": "closes before it opens"}])
    assert exc.status == 422
    assert "timing: closes before it opens" in str(exc)
    assert exc.problems[0]["field"] == "timing"


def test_illegal_transition_is_our_misuse_not_the_peers() -> None:
    exc = IllegalTransition("draft", "close")
    assert isinstance(exc, UsageError) and not isinstance(exc, PeerError)
    assert (exc.state, exc.event) == ("draft", "close")
    assert str(exc) == "cannot close a contest that is draft"
