"""Units: what the model sees. The smallest enclosing definition around each change.

Tree-sitter finds functions, methods and classes; a change outside any definition
gets a window of nearby lines. Overlapping units merge; a unit over the line or
token budget is split into windows around its changed lines.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Callable

from .intake import FileChange
from .languages import DEFINITIONS, language_of, parse
from .textfile import split_lines

CONTEXT_LINES = 6  # around a change that is not inside any definition
MAX_REMOVED_LINES = 30  # deleted lines shown per deletion point; the rest are counted, not shown
_TOP_LEVEL_ONLY = {"lexical_declaration", "variable_declaration", "export_statement"}


@dataclass(frozen=True)
class Unit:
    path: str
    language: str | None
    start: int  # 1-based, inclusive
    end: int
    lines: tuple[str, ...]
    changed: frozenset[int]  # absolute line numbers inside [start, end]
    whole_file: bool = False
    # Deleted lines shown at their place: (new-side line they stood above, the lines, how
    # many more were cut for the budget). Diff mode only.
    removed: tuple[tuple[int, tuple[str, ...], int], ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def line(self, n: int) -> str:
        return self.lines[n - self.start]


def definition_spans(lang: str, text: str, tree: Any = None) -> list[tuple[int, int]]:
    """(start, end) line spans (1-based) of definitions, outermost first."""
    wanted = DEFINITIONS.get(lang, set())
    tree = tree if tree is not None else parse(lang, text)
    spans: list[tuple[int, int, int]] = []
    stack = [(tree.root_node, 0)]
    while stack:
        node, depth = stack.pop()
        kind = node.type
        if kind in wanted:
            parent = node.parent
            top = parent is not None and parent.type in ("program", "module", "source_file")
            if kind not in _TOP_LEVEL_ONLY or top:
                spans.append((depth, node.start_point[0] + 1, node.end_point[0] + 1))
        stack.extend((child, depth + 1) for child in node.children if child.end_point[0] > child.start_point[0] or child.type in wanted)
    spans.sort()
    return [(a, b) for _, a, b in spans]


def _enclosing(n_lines: int, spans: list[tuple[int, int]]) -> list[tuple[int, int] | None]:
    """For each line, the innermost definition span containing it (outer painted first)."""
    owner: list[tuple[int, int] | None] = [None] * (n_lines + 2)
    for a, b in sorted(spans, key=lambda s: -(s[1] - s[0])):
        for n in range(a, min(b, n_lines) + 1):
            owner[n] = (a, b)
    return owner


def statement_spans(lang: str, text: str, tree: Any = None) -> list[tuple[int, int]]:
    """(start, end) line spans (1-based) of the top-level statements, in file order."""
    root = (tree if tree is not None else parse(lang, text)).root_node
    return [(c.start_point[0] + 1, c.end_point[0] + 1) for c in root.children if c.is_named]


def _on_statements(c: int, a: int, b: int, stmts: list[tuple[int, int]], starts: list[int], limit: int) -> tuple[int, int]:
    """Move the window [a, b] around changed line ``c`` onto top-level statement boundaries.

    The statement holding ``c`` is taken whole (a parenthesised import, a call spread
    over lines); a statement cut by the window's edge but not holding ``c`` is left out
    rather than pulled in whole. A statement longer than ``limit`` lines (a 2,000-line
    literal) is not followed: the later line split handles it.
    """
    i = bisect_right(starts, a) - 1
    if i >= 0 and stmts[i][0] < a <= stmts[i][1]:
        if stmts[i][1] >= c:
            if b - stmts[i][0] + 1 <= limit:
                a = stmts[i][0]
        else:
            a = stmts[i][1] + 1
    j = bisect_right(starts, b) - 1
    if j >= 0 and stmts[j][0] <= b < stmts[j][1]:
        if stmts[j][0] <= c:
            if stmts[j][1] - a + 1 <= limit:
                b = stmts[j][1]
        else:
            b = stmts[j][0] - 1
    return a, b


def _merge(spans: dict[tuple[int, int], set[int]], gap: int = 1) -> list[tuple[int, int, set[int]]]:
    # The last span's set grows in place: a new set per merge made whole-file units quadratic.
    merged: list[tuple[int, int, set[int]]] = []
    for (a, b), changed in sorted(spans.items()):
        if merged and a <= merged[-1][1] + gap:
            pa, pb, pc = merged[-1]
            pc |= changed
            merged[-1] = (pa, max(pb, b), pc)
        else:
            merged.append((a, b, set(changed)))
    return merged


def _windows(a: int, b: int, changed: set[int], max_lines: int, whole: bool) -> list[tuple[int, int]]:
    """Split [a, b] into windows of at most ``max_lines`` that cover the changed lines."""
    if b - a + 1 <= max_lines:
        return [(a, b)]
    if whole:
        return [(s, min(s + max_lines - 1, b)) for s in range(a, b + 1, max_lines)]
    out: list[tuple[int, int]] = []
    for n in sorted(changed):
        if out and n <= out[-1][1]:
            continue
        lead = min(CONTEXT_LINES, max_lines // 4)
        s = max(a, n - lead)
        e = min(b, s + max_lines - 1)
        out.append((s, e))
    return out


def build_units(
    change: FileChange,
    max_lines: int,
    max_tokens: int,
    estimate: Callable[[str], int],
) -> list[Unit]:
    """Units for one changed file, each within ``max_lines`` and ``max_tokens``."""
    if change.text is None:
        return []
    lines = split_lines(change.text)
    n = len(lines)
    if n == 0:
        return []
    whole = change.changed is None
    changed = set(range(1, n + 1)) if whole else {c for c in (change.changed_lines() or set()) if 1 <= c <= n}
    if not changed:
        return []
    if len(changed) == n:
        whole = True  # a new (or rewritten) file: cut it like a whole file, without overlapping windows
    lang = language_of(change.path)

    removed = {} if whole else getattr(change, "removed", None) or {}

    def removed_in(a: int, b: int) -> tuple[tuple[int, tuple[str, ...], int], ...]:
        """Deletion points a unit over lines a..b shows (the end of the file belongs to the last unit)."""
        last = b + 1 if b == n else b
        return tuple(
            (at, tuple(gone[:MAX_REMOVED_LINES]), max(0, len(gone) - MAX_REMOVED_LINES))
            for at, gone in sorted(removed.items()) if a <= at <= last and gone
        )

    def numbered_cost(a: int, b: int) -> int:
        cost = estimate("\n".join(lines[a - 1 : b])) + 3 * (b - a + 1)  # line-number prefixes
        for _at, gone, cut in removed_in(a, b) if removed else ():
            cost += estimate("\n".join(gone)) + 3 * len(gone) + (8 if cut else 0)
        return cost

    if whole and n <= max_lines and numbered_cost(1, n) <= max_tokens:
        spans_by_unit = [(1, n, changed)]
    else:
        defs: list[tuple[int, int]] = []
        stmts: list[tuple[int, int]] = []
        if lang is not None:
            try:
                tree = parse(lang, change.text)  # once: parsing is most of the time on big files
                defs = definition_spans(lang, change.text, tree)
                if not whole:
                    stmts = statement_spans(lang, change.text, tree)
            except Exception:  # a grammar failure must not stop the review; fall back to windows
                defs, stmts = [], []
        starts = [a for a, _ in stmts]
        owner = _enclosing(n, defs)
        spans: dict[tuple[int, int], set[int]] = {}
        for c in sorted(changed):
            span = owner[c]
            if span is None:
                span = (max(1, c - CONTEXT_LINES), min(n, c + CONTEXT_LINES))
                if stmts:
                    span = _on_statements(c, span[0], span[1], stmts, starts, max_lines)
            spans.setdefault(span, set()).add(c)
        spans_by_unit = _merge(spans, gap=1 if whole else 0)
        if whole:
            # Pack neighbouring definitions so a file is a few requests, not one per function.
            packed: list[tuple[int, int, set[int]]] = []
            for a, b, ch in spans_by_unit:
                if packed and a <= packed[-1][1] + 1 and b - packed[-1][0] + 1 <= max_lines:
                    pa, _pb, pc = packed[-1]
                    pc |= ch
                    packed[-1] = (pa, b, pc)
                else:
                    packed.append((a, b, ch))
            spans_by_unit = packed

    units: list[Unit] = []
    for a, b, ch in spans_by_unit:
        order = sorted(ch)  # bisect for the changed lines of each window: linear, not windows x lines
        size = max_lines
        while True:
            windows = _windows(a, b, ch, size, whole)
            if all(numbered_cost(s, e) <= max_tokens for s, e in windows) or size <= 1:
                break
            size = max(1, size // 2)  # very long lines: shrink the window until it fits
        for s, e in windows:
            inside = frozenset(order[bisect_left(order, s) : bisect_right(order, e)])
            if inside and any(ln.strip() for ln in lines[s - 1 : e]):  # blank lines: nothing to review
                units.append(
                    Unit(change.path, lang, s, e, tuple(lines[s - 1 : e]), inside, whole, removed_in(s, e) if removed else ())
                )
    return units
