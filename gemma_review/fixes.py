"""Fixes: the model's suggested code, re-indented, offered only if the file still parses."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .findings import Finding, Fix
from .languages import language_of, syntax_errors
from .textfile import content_hash, newline_of, read_text, split_lines, write_atomic


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


_OPENERS = (":", "{", "(", "[", "=>")


def reindent(suggested: str, original: list[str]) -> list[str]:
    """Lines of ``suggested`` placed at the indentation of the ``original`` lines."""
    lines = suggested.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return []
    base = _indent_of(next((ln for ln in original if ln.strip()), ""))
    rest = [ln for ln in lines[1:] if ln.strip()]
    if base and not _indent_of(lines[0]) and rest and all(ln.startswith(base) for ln in rest):
        # Either the model stripped only the first line (a common copy artefact: the rest is
        # absolute) or it wrote the whole block dedented and the body is one level in. Only
        # the second reading fits a first line that opens a block with the rest at ``base``.
        at_base = min(len(_indent_of(ln)) for ln in rest) == len(base)
        if not (at_base and lines[0].rstrip().endswith(_OPENERS)):
            return [base + lines[0]] + [ln.rstrip() for ln in lines[1:]]
    body = textwrap.dedent("\n".join(lines)).split("\n")
    if "\t" in base and "\t" not in "".join(_indent_of(ln) for ln in body):
        # Keep a tab-indented file tab-indented: map groups of 4 (or 2) spaces to tabs.
        width = 4 if any(_indent_of(ln) and len(_indent_of(ln)) % 4 == 0 for ln in body) else 2
        body = ["\t" * (len(_indent_of(ln)) // width) + ln.lstrip() for ln in body]
    return [(base + ln).rstrip() if ln.strip() else "" for ln in body]


def parses(lang: str | None, path: str, before: str, after: str) -> bool:
    """True when ``after`` is not less valid than ``before`` (no new syntax errors)."""
    if lang is None:
        return True
    if lang == "python":
        try:
            ast.parse(before)
        except (SyntaxError, ValueError):
            pass  # the file was already broken: tree-sitter's error count decides
        else:
            try:
                ast.parse(after)
            except (SyntaxError, ValueError):
                return False
    try:
        return syntax_errors(lang, after) <= syntax_errors(lang, before)
    except Exception:
        return False


def make_fix(finding: Finding, text: str) -> Fix | None:
    """A validated whole-line fix for ``finding`` in ``text``, or None."""
    if not finding.suggested_code.strip():
        return None
    lines = split_lines(text)
    original = lines[finding.line - 1 : finding.end_line]
    new_lines = reindent(finding.suggested_code, original)
    if [ln.rstrip() for ln in new_lines] == [ln.rstrip() for ln in original]:
        return None
    candidate = lines[: finding.line - 1] + new_lines + lines[finding.end_line :]
    nl = newline_of(text)
    after = nl.join(candidate) + (nl if text.endswith("\n") else "")
    if not parses(language_of(finding.path), finding.path, text, after):
        return None
    return Fix(finding.line, finding.end_line, "\n".join(new_lines), content_hash(text))


def _lines_with_endings(text: str) -> list[tuple[str, str]]:
    """(content, ending) per line as git counts them; the last ending may be ""."""
    *full, last = text.split("\n")
    out = [(piece[:-1], "\r\n") if piece.endswith("\r") else (piece, "\n") for piece in full]
    if last:  # no newline at end of file
        out.append((last[:-1], "\r") if last.endswith("\r") else (last, ""))
    return out


def apply_to_text(text: str, fixes: list[Fix]) -> tuple[str, int]:
    """Apply non-overlapping fixes bottom-up; returns the new text and how many applied.

    Every untouched line keeps its own ending (files with mixed CRLF/LF stay that way);
    new lines take the ending of the lines they replace.
    """
    lines = _lines_with_endings(text)
    nl = newline_of(text)
    applied = 0
    last_start = len(lines) + 1
    for fix in sorted(fixes, key=lambda f: f.start_line, reverse=True):
        if fix.end_line >= last_start or fix.end_line > len(lines) or fix.start_line < 1:
            continue  # overlaps a fix already applied below it
        old = lines[fix.start_line - 1 : fix.end_line]
        inner = old[0][1] if old[0][1] in ("\n", "\r\n") else nl
        new = fix.replacement.split("\n") if fix.replacement else []
        replaced = [(ln, inner) for ln in new]
        if replaced:
            replaced[-1] = (new[-1], old[-1][1])  # the last line keeps "no final newline"
        lines[fix.start_line - 1 : fix.end_line] = replaced
        last_start = fix.start_line
        applied += 1
    return "".join(content + ending for content, ending in lines), applied


@dataclass
class FixResult:
    path: str
    applied: int
    refused: str | None = None


def apply_fixes(path: Path, shown: str, fixes: list[Fix]) -> FixResult:
    """Write fixes into ``path`` atomically; refuse when the file changed since it was read."""
    if not fixes:
        return FixResult(shown, 0)
    try:
        current = read_text(path)
    except InputError as exc:
        return FixResult(shown, 0, str(exc))
    expected = {f.content_hash for f in fixes}
    if expected != {content_hash(current)}:
        return FixResult(shown, 0, f"{shown} changed since it was reviewed; fixes not applied, review it again")
    new_text, applied = apply_to_text(current, fixes)
    if applied:
        write_atomic(path, new_text)
    return FixResult(shown, applied)


def unified_diff(path: str, before: str, after: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            [ln + "\n" for ln in split_lines(before)],
            [ln + "\n" for ln in split_lines(after)],
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
