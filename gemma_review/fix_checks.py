"""Checks a careful reviewer applies before accepting a suggested fix (any language).

Each check answers with the reason the fix is refused, or None. The text checks run
first (cheap); the syntax and structure checks parse the file before and after.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from .languages import parse, syntax_errors

_QUOTES = str.maketrans({"'": '"', "`": '"'})
# Bidirectional overrides and isolates reorder what a reader sees ("Trojan Source").
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _controls(text: str) -> list[str]:
    return [
        ch for ch in text
        if (ch not in "\t\n" and unicodedata.category(ch) == "Cc") or ch in _BIDI or ch in "\u2028\u2029"
    ]


def added_controls(old_lines: list[str], new_lines: list[str]) -> str | None:
    """A control character (NUL, BEL, ESC, lone CR, bidi override...) that the replaced lines lacked."""
    had = set(_controls("\n".join(old_lines)))
    for ch in _controls("\n".join(new_lines)):
        if ch not in had:
            return f"adds a control character (U+{ord(ch):04X})"
    return None


def squash(text: str) -> str:
    """Text with whitespace removed and every quote made the same, for no-op comparisons."""
    return "".join(text.split()).translate(_QUOTES)


def _shape(lines: list[str], indent_matters: bool) -> list[tuple[int, str]]:
    code = [ln for ln in lines if ln.strip()]
    base = min((len(ln) - len(ln.lstrip()) for ln in code), default=0)
    return [((len(ln) - len(ln.lstrip()) - base) if indent_matters else 0, squash(ln)) for ln in code]


def no_op(old_lines: list[str], new_lines: list[str], indent_matters: bool = False) -> str | None:
    """The suggestion says the same thing as the code (Python: relative indentation is meaning)."""
    if _shape(old_lines, indent_matters) == _shape(new_lines, indent_matters):
        same = ["".join(ln.split()) for ln in old_lines if ln.strip()] == ["".join(ln.split()) for ln in new_lines if ln.strip()]
        return "changes only whitespace" if same else "changes only quotes or whitespace"
    return None


def repeats_neighbours(lines: list[str], start: int, end: int, new_lines: list[str]) -> str | None:
    """The suggestion also rewrote lines around the anchored ones: applying it would duplicate them.

    Only whole non-blank lines count, and only lines the replaced code does not also end
    (or begin) with, so a fix that keeps a closing brace is not mistaken for one.
    """
    new = [squash(ln) for ln in new_lines if ln.strip()]
    old = [squash(ln) for ln in lines[start - 1 : end] if ln.strip()]
    after = [squash(ln) for ln in lines[end:] if ln.strip()]
    before = [squash(ln) for ln in lines[: start - 1] if ln.strip()]
    if after and new and new[-1] == after[0] and (not old or old[-1] != new[-1]):
        n = end + 1 + next(i for i, ln in enumerate(lines[end:]) if ln.strip())
        return f"repeats line {n}, which follows the anchored lines"
    if before and new and new[0] == before[-1] and (not old or old[0] != new[0]):
        n = max(i for i, ln in enumerate(lines[: start - 1]) if ln.strip()) + 1
        return f"repeats line {n}, which precedes the anchored lines"
    return None


@lru_cache(maxsize=64)
def tree_of(lang: str, text: str) -> Any:
    return parse(lang, text)


@lru_cache(maxsize=64)
def _errors(lang: str, text: str) -> int:
    return syntax_errors(lang, text)


def new_syntax_errors(lang: str, before: str, after: str) -> str | None:
    try:
        if _errors(lang, after) > _errors(lang, before):
            return "would not parse"
    except Exception:  # noqa: BLE001 - a grammar that cannot parse it: no edit
        return "could not be checked"
    return None


# --- structure: the code around the fix stays in the blocks it was in ------------------------

_COMMENT = re.compile(r"^\s*(#|//|/\*|\*)")
# Lists that start at their first statement, not at a header: where they start moves with edits.
_SKIP_TYPES = {"python": {"block"}, "go": {"statement_list"}}


def _containers(lang: str, tree: Any, line: str, row: int) -> list[int]:
    """Start rows of the syntax nodes that enclose ``row`` and start above it, outermost first."""
    col = len(line[: len(line) - len(line.lstrip())].encode("utf-8", "surrogateescape"))
    node = tree.root_node.descendant_for_point_range((row, col), (row, col))
    rows: list[int] = []
    skip = _SKIP_TYPES.get(lang, set())
    while node is not None and node.parent is not None:  # the root encloses everything
        if node.start_point[0] < row and node.type not in skip:
            rows.append(node.start_point[0])
        node = node.parent
    rows.reverse()
    return rows


def _code_rows(lines: list[str], lo: int, hi: int) -> list[int]:
    return [r for r in range(lo, hi) if lines[r].strip() and not _COMMENT.match(lines[r])]


def moves_code(lang: str, before: str, after: str, lines: list[str], start: int, end: int, new_lines: list[str]) -> str | None:
    """Refuse a fix that changes which blocks hold the code after it, or lands in another block.

    Rows are 0-based here. A container that starts inside the replaced lines is compared as
    "the fix" (its header may legitimately change); rows below the fix move by the
    difference in length.
    """
    try:
        old_tree, new_tree = tree_of(lang, before), tree_of(lang, after)
    except Exception:  # noqa: BLE001
        return "could not be checked"
    s, e = start - 1, end - 1
    ne = s + len(new_lines) - 1
    shift = ne - e
    after_lines = lines[:s] + new_lines + lines[e + 1 :]

    def old_key(r: int) -> object:
        return r if r < s else ("fix" if r <= e else r + shift)

    def new_key(r: int) -> object:
        return r if r < s else ("fix" if r <= ne else r)

    old_region = _code_rows(lines, s, e + 1)
    new_region = _code_rows(after_lines, s, ne + 1)
    if old_region and new_region:
        outer_old = [c for c in _containers(lang, old_tree, lines[old_region[0]], old_region[0]) if c < s]
        outer_new = [c for c in _containers(lang, new_tree, after_lines[new_region[0]], new_region[0]) if c < s]
        if outer_old != outer_new:
            return "moves the code into a different block"
        allowed = {c for r in old_region for c in _containers(lang, old_tree, lines[r], r) if c < s}
        for r in new_region[1:]:
            if any(c < s and c not in allowed for c in _containers(lang, new_tree, after_lines[r], r)):
                return "moves the code into a different block"
    # Rows up to the end of the top-level statement around the fix, and the first code row
    # after it: past that, only a syntax error (already refused) could move anything.
    top = old_tree.root_node.descendant_for_point_range((s, 0), (s, 0))
    while top is not None and top.parent is not None and top.parent.parent is not None:
        top = top.parent
    stop = len(lines) if top is None or top.parent is None else max(top.end_point[0], e) + 1
    rows = _code_rows(lines, e + 1, len(lines))
    rows = [r for r in rows if r < stop] + [r for r in rows if r >= stop][:1]
    for r in rows:
        old = [old_key(c) for c in _containers(lang, old_tree, lines[r], r)]
        new = [new_key(c) for c in _containers(lang, new_tree, after_lines[r + shift], r + shift)]
        if old != new:
            return f"changes the block that line {r + 1} belongs to"
    return None
