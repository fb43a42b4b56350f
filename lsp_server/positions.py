"""LSP positions: line numbers and UTF-16 code-unit columns, as the protocol requires.

Python strings index code points; LSP columns count UTF-16 code units, so a character
outside the Basic Multilingual Plane (most emoji) is one index in Python and two in LSP.
Everything that crosses the protocol boundary goes through these functions.
"""

from __future__ import annotations

import re

from lsprotocol import types

_NEWLINE = re.compile(r"\r\n|\r|\n")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    # Each code point above U+FFFF takes a surrogate pair: one more unit than in Python.
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def to_utf16(line: str, index: int) -> int:
    """UTF-16 column of the Python character index ``index`` in ``line`` (clamped to the line)."""
    index = max(0, min(index, len(line)))
    return utf16_len(line[:index])


def from_utf16(line: str, column: int) -> int:
    """Python character index of the UTF-16 column ``column`` in ``line``.

    A column inside a surrogate pair (which a correct client never sends) rounds down to
    the character it splits; a column past the end clamps to the end of the line.
    """
    if column <= 0:
        return 0
    units = 0
    for i, ch in enumerate(line):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > column:
            return i
        if units == column:
            return i + 1
    return len(line)


def split_lsp_lines(text: str) -> list[str]:
    """Lines the way LSP counts them: ``\\r\\n``, ``\\r`` and ``\\n`` all end a line."""
    return _NEWLINE.split(text)


def text_end(start: types.Position, inserted: str) -> types.Position:
    """Where inserted text ends when it is put at ``start``."""
    parts = split_lsp_lines(inserted)
    if len(parts) == 1:
        return types.Position(start.line, start.character + utf16_len(inserted))
    return types.Position(start.line + len(parts) - 1, utf16_len(parts[-1]))


def before(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


def before_or_equal(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) <= (b.line, b.character)


def line_range(lines: list[str], first: int, last: int, column: int = 0) -> types.Range:
    """Range over 0-based lines ``first``..``last``: from ``column`` (characters) to the end of ``last``."""
    first_text = lines[first] if 0 <= first < len(lines) else ""
    last_text = lines[last] if 0 <= last < len(lines) else ""
    return types.Range(
        start=types.Position(first, to_utf16(first_text, column)),
        end=types.Position(last, utf16_len(last_text)),
    )
