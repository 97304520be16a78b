"""The web pages' catalogues and formats (engine.web.i18n)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.web.i18n import DEFAULT_LOCALE, LOCALES, messages, moment, negotiate, number, translator


def test_vietnamese_is_first_and_english_falls_back_to_the_msgid() -> None:
    assert translator("console", "vi")("Sign in") == "Đăng nhập"
    assert translator("console", "en")("Sign in") == "Sign in"
    assert translator("console", "vi")("a text nobody wrote") == "a text nobody wrote"
    assert messages("no-such-domain", "vi") == {}


def test_vietnamese_numbers_and_dates() -> None:
    assert number(1234567.5, "vi") == "1.234.567,5"
    assert number(1234567.5, "en") == "1,234,567.5"
    # 2024-12-05 12:00 UTC is 19:00 in Ho Chi Minh City (UTC+7), day before month.
    assert moment(1_733_400_000_000, "Asia/Ho_Chi_Minh", "vi") == "19:00 05/12/2024"
    assert moment(1_733_400_000_000, "Asia/Ho_Chi_Minh", "en") == "5 Dec 2024, 19:00"
    assert moment(1_733_400_000_000, "UTC", "vi") == "12:00 05/12/2024"


def test_negotiate_prefers_an_explicit_choice_then_weights() -> None:
    assert negotiate("en", "vi") == "en"
    assert negotiate("xx", "en-US,en;q=0.9") == "en"
    assert negotiate(None, "fr;q=1, vi;q=0.2, en;q=0.5") == "en"
    assert negotiate(None, "fr, de") == DEFAULT_LOCALE
    assert negotiate(None, None) == DEFAULT_LOCALE
    assert negotiate(None, "en;q=0") == DEFAULT_LOCALE


@given(st.one_of(st.none(), st.text(max_size=8)), st.one_of(st.none(), st.text(max_size=60)))
def test_negotiate_always_answers_a_supported_locale(
    choice: str | None, header: str | None
) -> None:
    assert negotiate(choice, header) in LOCALES
