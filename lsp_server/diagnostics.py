"""Findings as LSP diagnostics, and keeping them on their code while the user types.

A :class:`LiveFinding` is a finding from a review plus where it is *now* in the
document. Edits move it (``shift``); edits that replace all of it, apply its fix or add
a suppression comment above it remove it. The next review replaces the whole set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

from lsprotocol import types

from gemma_review import findings as fnd
from gemma_review.findings import Finding
from gemma_review.linediff import matched_lines

from .positions import before, before_or_equal, line_range, text_end, to_utf16

SOURCE = "gemma-review"
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


@dataclass
class LiveFinding:
    finding: Finding
    range: types.Range  # where the finding is now (UTF-16 columns)
    code: list[str]  # the finding's lines as reviewed
    fix_offset: int = 0  # first fixed line relative to the finding's first line
    fix_original: list[str] | None = None  # the lines the fix replaces, as reviewed
    fix_lines: list[str] | None = None  # what the fix puts there
    # The same problem on other lines (finding.also), where each is now; moved with edits like
    # ``range``, and dropped when its text is replaced whole. One diagnostic carries them all.
    also: list[types.Range] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint

    @property
    def first_line(self) -> int:
        """0-based line the finding starts on now."""
        return self.range.start.line

    def lines_now(self) -> tuple[int, int]:
        """0-based first and last line the finding covers now."""
        return self.range.start.line, self.range.end.line


def _range(reviewed_lines: list[str], line: int, end_line: int, column: int, end_column: int) -> types.Range:
    first, last = line - 1, end_line - 1
    rng = line_range(reviewed_lines, first, last, column - 1)
    if 0 <= last < len(reviewed_lines):
        rng.end = types.Position(last, to_utf16(reviewed_lines[last], end_column - 1))
    return rng


def live(f: Finding, reviewed_lines: list[str]) -> LiveFinding:
    """A finding of a review of ``reviewed_lines`` (the text the engine saw)."""
    first, last = f.line - 1, f.end_line - 1
    rng = _range(reviewed_lines, f.line, f.end_line, f.column, f.end_column)
    item = LiveFinding(f, rng, reviewed_lines[first : last + 1])
    item.also = [_range(reviewed_lines, loc.line, loc.end_line, loc.column, loc.end_column) for loc in f.also]
    if f.fix is not None:
        item.fix_offset = f.fix.start_line - f.line
        item.fix_original = reviewed_lines[f.fix.start_line - 1 : f.fix.end_line]
        item.fix_lines = f.fix.replacement.split("\n") if f.fix.replacement else []
    return item


def _same(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(x.rstrip() == y.rstrip() for x, y in zip(a, b))


def fix_span(item: LiveFinding, doc_lines: list[str]) -> tuple[int, int] | None:
    """0-based first/last line the fix replaces now, or None when the fix no longer applies.

    A fix applies while the lines it replaces still read exactly as they did when they
    were reviewed; an edit inside them makes the fix stale, and it is not offered.
    """
    if item.fix_original is None or item.fix_lines is None:
        return None
    first = item.first_line + item.fix_offset
    last = first + len(item.fix_original) - 1
    if first < 0 or last >= len(doc_lines) or not item.fix_original:
        return None
    if not _same(doc_lines[first : last + 1], item.fix_original):
        return None
    return first, last


def resolved(item: LiveFinding, doc_lines: list[str]) -> bool:
    """The user applied the fix, or silenced the finding with a comment."""
    first, last = item.lines_now()
    if item.fix_lines and not _same(item.fix_lines, item.fix_original or []):
        start = first + item.fix_offset
        if _same(doc_lines[start : start + len(item.fix_lines)], item.fix_lines):
            return True
    moved = dataclasses.replace(item.finding, line=first + 1, end_line=last + 1)
    return fnd.suppressed(doc_lines, moved)


def fix_data(item: LiveFinding, doc_lines: list[str], text_hash: str) -> dict[str, Any] | None:
    span = fix_span(item, doc_lines)
    if span is None or item.fix_lines is None:
        return None
    return {
        "start_line": span[0] + 1,
        "end_line": span[1] + 1,
        "replacement": "\n".join(item.fix_lines),
        "content_hash": text_hash,
    }


def also_lines(item: LiveFinding) -> str:
    """Where the other places are now, 1-based: "3, 6, 7-8"."""
    return ", ".join(
        str(r.start.line + 1) if r.end.line == r.start.line else f"{r.start.line + 1}-{r.end.line + 1}" for r in item.also
    )


def to_diagnostic(
    item: LiveFinding, doc_lines: list[str], text_hash: str, uri: str | None = None
) -> types.Diagnostic:
    """``uri``: the client shows related information (the other places of the same problem);
    without it they are named in the message."""
    f = item.finding
    message = f.title if not f.explanation else f"{f.title}\n{f.explanation}"
    related = None
    if item.also and uri is not None:
        related = [
            types.DiagnosticRelatedInformation(types.Location(uri, r), f"Also here: {f.title}") for r in item.also
        ]
    elif item.also:
        message += f"\nAlso on line{'s' if len(item.also) > 1 else ''} {also_lines(item)}."
    return types.Diagnostic(
        related_information=related,
        range=item.range,
        message=message,
        severity=SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
        code=f.category,
        source=SOURCE,
        data={
            "fingerprint": f.fingerprint,
            "category": f.category,
            "title": f.title,
            "confidence": f.confidence,
            "fix": fix_data(item, doc_lines, text_hash),
            "fix_rejected": f.fix_rejected if f.fix is None else None,
        },
    )


# --- moving findings with the text -----------------------------------------------------


def _map(pos: types.Position, start: types.Position, end: types.Position, new_end: types.Position, side: str) -> types.Position:
    if before(pos, start):
        return pos
    if before_or_equal(end, pos):
        if pos.line == end.line:
            return types.Position(new_end.line, new_end.character + pos.character - end.character)
        return types.Position(pos.line + new_end.line - end.line, pos.character)
    # Inside the replaced text: the finding keeps hold of the new text.
    return start if side == "start" else new_end


def shift_range(rng: types.Range, start: types.Position, end: types.Position, inserted: str) -> types.Range | None:
    """``rng`` after the text between ``start`` and ``end`` became ``inserted``; None when it was replaced whole."""
    replaced = before(start, end)
    if replaced and before_or_equal(start, rng.start) and before_or_equal(rng.end, end):
        return None
    new_end = text_end(start, inserted)
    return types.Range(
        start=_map(rng.start, start, end, new_end, "start"),
        end=_map(rng.end, start, end, new_end, "end"),
    )


def shift(items: Iterable[LiveFinding], change: types.TextDocumentContentChangePartial) -> list[LiveFinding]:
    """Findings after one ranged content change (whole-document changes: ``remap_lines``)."""
    out: list[LiveFinding] = []
    for item in items:
        moved = shift_range(item.range, change.range.start, change.range.end, change.text)
        if moved is not None:
            item.range = moved
            item.also = [
                r for r in (shift_range(a, change.range.start, change.range.end, change.text) for a in item.also)
                if r is not None
            ]
            out.append(item)
    return out


def remap_lines(items: Iterable[LiveFinding], old_lines: list[str], new_lines: list[str]) -> list[LiveFinding]:
    """Whole-document replacement: keep findings whose lines survived unchanged, moved.

    Near-linear (patience diff), so a whole-document change of a big file does not stall
    the event loop the way difflib did (3-4 s at 20,000 lines). The server still matches
    the lines of large documents in a worker thread (``line_mapping`` there, then
    ``apply_mapping`` back on the loop).
    """
    return apply_mapping(items, line_mapping(old_lines, new_lines))


def line_mapping(old_lines: list[str], new_lines: list[str]) -> dict[int, int]:
    """0-based old line -> new line, for the lines both texts share. Pure: safe in any thread."""
    return dict(matched_lines(old_lines, new_lines))


def apply_mapping(items: Iterable[LiveFinding], mapping: dict[int, int]) -> list[LiveFinding]:
    """The findings whose lines all survived, in one piece, moved to where they are now."""
    out: list[LiveFinding] = []
    for item in items:
        first, last = item.lines_now()
        if first in mapping and last in mapping and mapping[last] - mapping[first] == last - first:
            delta = mapping[first] - first
            item.range = types.Range(
                start=types.Position(first + delta, item.range.start.character),
                end=types.Position(last + delta, item.range.end.character),
            )
            item.also = [r for r in (_map_range(a, mapping) for a in item.also) if r is not None]
            out.append(item)
    return out


def _map_range(rng: types.Range, mapping: dict[int, int]) -> types.Range | None:
    """``rng`` moved by ``mapping`` when all its lines survived in one piece, else None."""
    first, last = rng.start.line, rng.end.line
    if first in mapping and last in mapping and mapping[last] - mapping[first] == last - first:
        return types.Range(
            start=types.Position(mapping[first], rng.start.character),
            end=types.Position(mapping[last], rng.end.character),
        )
    return None


def at(items: Iterable[LiveFinding], first_line: int, last_line: int) -> list[LiveFinding]:
    """Findings touching 0-based lines ``first_line``..``last_line``."""
    return [i for i in items if i.range.start.line <= last_line and first_line <= i.range.end.line]
