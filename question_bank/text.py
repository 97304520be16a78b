"""Unicode text normalisation.

Vietnamese text typed on different keyboards arrives precomposed (NFC) or decomposed
(NFD); every text the engine stores or compares is first brought to NFC so both compare
equal. :func:`fold` is the comparison key for short-text answers.
"""

import re
import unicodedata

__all__ = ["fold", "nfc", "strip_diacritics"]

_WHITESPACE = re.compile(r"\s+")


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
