"""The protocol's line model: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line.

Everything in the server that turns buffer text into lines or offsets goes through
here. ``str.splitlines`` (which pygls uses) also breaks at form feeds, vertical tabs,
``\\x1c``-``\\x1e``, NEL and U+2028/U+2029, so a buffer holding one of them would have
more lines in the server than in the editor; git's model (LF only, see
``gemma_review.textfile.split_lines``) has fewer when a lone ``\\r`` ends a line.
"""

from __future__ import annotations

import re

from .positions import from_utf16

_BREAK = re.compile(r"\r\n|\r|\n")
_LONE_CR = re.compile(r"\r(?!\n)")
# A line with its break, or the last line when no break follows it.
_LINE_KEEPENDS = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split(text: str) -> list[str]:
    """The document's lines without their breaks; ``"a\\n"`` has two lines, ``""`` one."""
    return _BREAK.split(text)


def split_keepends(text: str) -> list[str]:
    """The lines with their breaks, no empty last entry (``splitlines(True)``'s shape)."""
    return _LINE_KEEPENDS.findall(text)


def newline_of(text: str) -> str:
    """The line break new lines should use: the most common one in ``text`` (``\\n`` if none)."""
    counts = {"\r\n": 0, "\n": 0, "\r": 0}
    for match in _BREAK.finditer(text):
        counts[match.group()] += 1
    if not any(counts.values()):
        return "\n"
    return max(counts, key=lambda k: counts[k])  # ties keep the order above


def for_engine(text: str) -> str:
    """``text`` with each lone ``\\r`` made a ``\\n``.

    The engine numbers lines the way git does (``\\n`` and ``\\r\\n``); after this, its
    line N is the protocol's line N with the same content, so findings land where the
    editor shows them.
    """
    return _LONE_CR.sub("\n", text)


def offset_at(text: str, line: int, character: int) -> int:
    """Index into ``text`` of the LSP position (``character`` in UTF-16 code units).

    As the protocol says, a character past the end of a line means the end of that line
    (never into or past its break), and a line past the end means the end of the text.
    """
    if line < 0:
        return 0
    start = 0
    for _ in range(line):
        match = _BREAK.search(text, start)
        if match is None:
            return len(text)
        start = match.end()
    match = _BREAK.search(text, start)
    end = match.start() if match is not None else len(text)
    return start + from_utf16(text[start:end], character)


def apply_change(text: str, start: tuple[int, int], end: tuple[int, int], new_text: str) -> str:
    """``text`` after the range ``start``..``end`` (line, UTF-16 character) became ``new_text``."""
    a = offset_at(text, *start)
    b = offset_at(text, *end)
    if b < a:  # a reversed range from a confused client: still replace what it spans
        a, b = b, a
    return text[:a] + new_text + text[b:]
