"""Unicode text normalisation.

Vietnamese text typed on different keyboards arrives precomposed (NFC) or decomposed
(NFD); every text the engine stores or compares is first brought to NFC so both compare
equal. :func:`fold` is the comparison key for short-text answers.
"""

import re
import unicodedata

from .ids import STORED_ID_PATTERN

__all__ = ["fold", "id_from_name", "nfc", "strip_diacritics"]

_WHITESPACE = re.compile(r"\s+")
_NOT_ID = re.compile(r"[^a-z0-9_.]+")


def nfc(text: str) -> str:
    """Return *text* in Unicode normal form C."""
    return unicodedata.normalize("NFC", text)


def strip_diacritics(text: str) -> str:
    """Remove combining marks, and map ``đ``/``Đ`` (not a combining form) to ``d``/``D``.

    ``"Hồ Chí Minh"`` becomes ``"Ho Chi Minh"``; ``"Đà Nẵng"`` becomes ``"Da Nang"``.
    """
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare.replace("đ", "d").replace("Đ", "D"))


def fold(text: str, *, ignore_diacritics: bool = False) -> str:
    """Comparison key for short-text answers.

    NFC, then case folding, then every run of whitespace folded to one space and the ends
    trimmed; optionally diacritics removed (after case folding, so ``Đ`` and ``đ`` agree).
    """
    key = _WHITESPACE.sub(" ", nfc(text).casefold()).strip()
    if ignore_diacritics:
        key = strip_diacritics(key)
    return key


def id_from_name(name: str, default: str = "bank") -> str:
    """An id for a file named *name* (its stem), as bank ids allow: *name* itself if it is
    one, else lower case without diacritics, every other run of characters a ``-``, at most
    64 characters; *default* if nothing is left.

    ``"geo-2026"`` stays; ``"Lịch sử Đảng (vòng 1)"`` becomes ``"lich-su-dang-vong-1"``.
    """
    if STORED_ID_PATTERN.fullmatch(name):
        return name
    slug = _NOT_ID.sub("-", strip_diacritics(nfc(name)).lower())
    slug = slug.strip("-_.")[:64].rstrip("-_.")
    return slug if STORED_ID_PATTERN.fullmatch(slug) else default
