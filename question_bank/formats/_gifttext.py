"""GIFT text machinery: escapes both ways, text-format markers, HTML to plain text.

GIFT escapes its control characters with a backslash: ``\\~ \\= \\# \\{ \\} \\:`` stand for
the character itself, ``\\\\`` for a backslash and ``\\n`` for a line break; any other
backslash is an ordinary character (``\\(`` stays ``\\(``, as in Moodle). :class:`Escaped`
resolves the escapes once and remembers which characters were escaped and on which source
line each character was, so the parser can look for *unescaped* control characters and
report problems on the exact line.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ..models import Topic
from ..text import nfc
from ._common import topic_from_label

__all__ = [
    "TEXT_FORMATS",
    "Escaped",
    "category_topic",
    "escape",
    "html_to_text",
    "split_format",
]

TEXT_FORMATS = ("moodle", "html", "plain", "markdown")
"""The ``[name]`` markers a GIFT text may start with."""

_ESCAPABLE = frozenset("\\:#={}~")
_TO_ESCAPE = {c: "\\" + c for c in _ESCAPABLE} | {"\n": "\\n", "\r": ""}
_WHITESPACE = re.compile(r"\s+")
_NO_TOPIC = re.compile(r"|top|\$\w*\$")
_PATH_SEP = re.compile(r"(?<!/)/(?!/)")
_BLOCK_TAGS = frozenset(
    "p div li ul ol tr table h1 h2 h3 h4 h5 h6 blockquote pre section article".split()
)


class Escaped:
    """Text with GIFT escapes resolved; ``escaped[i]`` is ``"1"`` where ``text[i]`` was."""

    __slots__ = ("escaped", "lines", "text")

    def __init__(self, text: str, escaped: str, lines: list[int]) -> None:
        self.text = text
        self.escaped = escaped
        self.lines = lines

    @classmethod
    def parse(cls, lines: list[tuple[int, str]]) -> Escaped:
        """Resolve the escapes of source *lines* (``(line number, text)``), joined by ``\\n``."""
        chars: list[str] = []
        flags: list[str] = []
        where: list[int] = []
        for k, (lineno, line) in enumerate(lines):
            if k:
                chars.append("\n")
                flags.append("0")
                where.append(lineno)
            i, n = 0, len(line)
            while i < n:
                c = line[i]
                if c == "\\" and i + 1 < n and (line[i + 1] in _ESCAPABLE or line[i + 1] == "n"):
                    chars.append("\n" if line[i + 1] == "n" else line[i + 1])
                    flags.append("1")
                    i += 2
                else:
                    chars.append(c)
                    flags.append("0")
                    i += 1
                where.append(lineno)
        first = lines[0][0] if lines else 0
        return cls("".join(chars), "".join(flags), where or [first])

    def __str__(self) -> str:
        return self.text

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, item: slice) -> Escaped:
        start, stop, _ = item.indices(len(self.text))
        lines = self.lines[start:stop] or [self.line(start)]
        return Escaped(self.text[start:stop], self.escaped[start:stop], lines)

    def line(self, index: int = 0) -> int:
        """Source line of the character at *index* (the last line past the end)."""
        return self.lines[min(index, len(self.lines) - 1)]

    def find(self, sub: str, start: int = 0) -> int:
        """Index of the first unescaped *sub* at or after *start*, or -1."""
        i = self.text.find(sub, start)
        while i >= 0 and "1" in self.escaped[i : i + len(sub)]:
            i = self.text.find(sub, i + 1)
        return i

    def rfind(self, sub: str) -> int:
        """Index of the last unescaped *sub*, or -1."""
        i = self.text.rfind(sub)
        while i >= 0 and "1" in self.escaped[i : i + len(sub)]:
            i = self.text.rfind(sub, 0, i + len(sub) - 1)
        return i

    def startswith(self, sub: str) -> bool:
        return self.text.startswith(sub) and "1" not in self.escaped[: len(sub)]

    def strip(self) -> Escaped:
        text = self.text
        start = len(text) - len(text.lstrip())
        stop = len(text.rstrip())
        return self[start:stop] if stop > start else self[start:start]

    def split(self, separators: str, maxsplit: int = -1) -> list[tuple[str, Escaped]]:
        """Split at unescaped *separators*; each piece with the separator before it."""
        pieces: list[tuple[str, Escaped]] = []
        sep, begin = "", 0
        for i, c in enumerate(self.text):
            if c in separators and self.escaped[i] == "0" and len(pieces) != maxsplit:
                pieces.append((sep, self[begin:i]))
                sep, begin = c, i + 1
        pieces.append((sep, self[begin:]))
        return pieces


def split_format(text: str, default: str) -> tuple[str, str]:
    """``[html]<p>x</p>`` -> ``("html", "<p>x</p>")``; no known marker: ``(default, text)``."""
    if text.startswith("["):
        end = text.find("]")
        if end > 0 and text[1:end] in TEXT_FORMATS:
            return text[1:end], text[end + 1 :]
    return default, text


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.image: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br" or tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img" and self.image is None:
            src = dict(attrs).get("src") or ""
            if src.startswith(("http://", "https://")):
                self.image = src

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_WHITESPACE.sub(" ", data))


def html_to_text(html: str) -> tuple[str, str | None]:
    """Plain text of an HTML fragment, and the first ``http(s)`` image in it.

    Tags are dropped, entities decoded, whitespace folded as a browser does; ``<br>`` and
    block elements (``<p>``, ``<div>``, ``<li>``...) become line breaks. The text is NFC
    again: entities (``a&#768;``) may decode to decomposed characters.
    """
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return nfc(text), parser.image


def escape(text: str) -> str:
    """GIFT-escape *text*: control characters, backslashes and line breaks."""
    return "".join(_TO_ESCAPE.get(c, c) for c in text)


def category_topic(path: str) -> Topic | None:
    """The topic a ``$CATEGORY:`` path names: its last part (``//`` is a literal ``/``)."""
    last = _PATH_SEP.split(path.strip())[-1].replace("//", "/").strip()
    return None if _NO_TOPIC.fullmatch(last) else topic_from_label(last)
