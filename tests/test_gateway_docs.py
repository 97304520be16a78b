"""docs/protocol.md documents every message both ways, every member-facing error code and
every close code, so an app team can write a client from it alone."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from engine.core import messages as m
from engine.core.errors import CLOSE_DESCRIPTIONS, CloseCode, ErrorCode

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()

HTTP_ONLY = {
    "contest_invalid",
    "illegal_transition",
    "contest_exists",
    "unauthorized",
    "forbidden",
    "csrf_failed",
    "bank_exists",
    "org_not_found",
    "org_exists",
    "org_invalid",
    "units_invalid",
    "not_finalized",
    "campaign_not_found",
    "campaign_invalid",
    "campaign_exists",
}


def tags(union: object) -> list[str]:
    return [str(cls.__struct_config__.tag) for cls in typing.get_args(union)]


@pytest.mark.parametrize("tag", tags(m.ClientMessage) + tags(m.ServerMessage))
def test_every_message_has_a_section_with_a_json_example(tag: str) -> None:
    assert f"### `{tag}`" in DOC
    assert f'{{"type": "{tag}"' in DOC


@pytest.mark.parametrize("code", [c.value for c in ErrorCode])
def test_every_error_code_is_documented(code: str) -> None:
    hint = f"add error code {code!r} to docs/protocol.md (table, or the HTTP-only list)"
    if code in HTTP_ONLY:
        assert f"`{code}`" in DOC, hint
    else:
        assert f"| `{code}` |" in DOC, hint


@pytest.mark.parametrize("code", list(CloseCode))
def test_every_close_code_is_documented(code: CloseCode) -> None:
    assert f"| {int(code)} | `{code.name}` |" in DOC


@pytest.mark.parametrize("code", list(CloseCode))
def test_close_code_meanings_are_the_code_s_own(code: CloseCode) -> None:
    """The table says what engine.core.errors says (4005 once claimed every member was closed
    while Redis was down; joined members stay and get `unavailable`)."""
    assert f"| {int(code)} | `{code.name}` | {CLOSE_DESCRIPTIONS[code]} |" in DOC


def test_sequences_and_time_sync_are_documented() -> None:
    for heading in ("## A whole live show", "## A whole window attempt", "## Time sync"):
        assert heading in DOC
