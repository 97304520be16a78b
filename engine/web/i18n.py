"""Message catalogues and Vietnamese formats for the web pages.

Texts live in gettext catalogues, one per page family (*domain*: ``console``, ``player``) and
locale, at ``engine/web/locale/<locale>/LC_MESSAGES/<domain>.po``. They are read with Babel
at first use (no compile step, no ``.mo`` files) and cached for the life of the process::

    t = translator("console", "vi")
    t("Sign in")                          # "Đăng nhập"
    number(1234567.5, "vi")               # "1.234.567,5"
    moment(1_733_400_000_000, "Asia/Ho_Chi_Minh", "vi")   # "19:00 05/12/2024"

Vietnamese is the first locale (:data:`DEFAULT_LOCALE`), English the second. A text missing
from a catalogue falls back to its msgid (English), so a page never shows a key.
:func:`negotiate` picks the locale from an explicit choice (a ``lang`` query parameter or
cookie) first, then the browser's ``Accept-Language``. The player, which renders in the
browser, fetches its catalogue as JSON (:func:`messages`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCALE_DIR",
    "messages",
    "moment",
    "negotiate",
    "number",
    "translator",
]

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_DIR = Path(__file__).parent / "locale"


@functools.cache
def messages(domain: str, locale: str) -> dict[str, str]:
    """The translated texts of *domain* in *locale* (msgid → text); untranslated ones left out.

    An unknown locale or a domain without a catalogue gives ``{}`` (every text in English).
    """
    if locale not in LOCALES:
        return {}
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale, domain=domain)
    out: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            if message.string and not message.fuzzy:
                out[message.id] = message.string
    return out


def translator(domain: str, locale: str) -> Callable[[str], str]:
    """A ``gettext``-like function for *domain* in *locale*; unknown texts come back as given."""
    table = messages(domain, locale)

    def gettext(text: str) -> str:
        return table.get(text, text)

    return gettext


def negotiate(choice: str | None, accept_language: str | None) -> str:
    """The locale to render in: *choice* (``lang`` query or cookie) if supported, else the
    first supported language of an ``Accept-Language`` header by weight, else Vietnamese."""
    if choice in LOCALES:
        return choice
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower().split("-")[0]))
    for weight, _, language in sorted(ranked):
        if weight < 0 and language in LOCALES:
            return language
    return DEFAULT_LOCALE


def number(value: float, locale: str) -> str:
    """*value* with the locale's separators (``1.234.567,5`` in Vietnamese)."""
    return str(format_decimal(value, locale=locale if locale in LOCALES else DEFAULT_LOCALE))


def moment(epoch_ms: int, zone: str, locale: str) -> str:
    """The instant *epoch_ms* in *zone*, to the minute, the locale's way: the time before
    the day, day before month, in Vietnamese (``19:00 05/12/2024``); ``5 Dec 2024, 19:00``
    in English (24-hour clock in both: the contests' own times are read that way)."""
    when = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone(ZoneInfo(zone))
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    return str(format_datetime(when, _MOMENT[locale], locale=locale))


_MOMENT = {"vi": "HH:mm dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}
