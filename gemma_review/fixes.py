"""Fixes: the model's suggested code, re-indented as one block, offered only if it passes
the checks a careful reviewer would make (fix_checks, python_checks, scope_check), and
written back without touching anything else."""

from __future__ import annotations

import ast
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .fix_checks import added_controls, moves_code, new_syntax_errors, no_op, repeats_neighbours, tree_of
from .findings import SEVERITY_RANK, Finding, Fix
from .languages import language_of
from .textfile import content_hash, newline_of, read_text, split_lines, write_atomic


_BOM = "\ufeff"


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_unit(widths: list[int], default: int) -> int:
    """The step between indentation levels (2, 4, ...) that the widths are multiples of."""
    unit = 0
    for w in widths:
        unit = math.gcd(unit, w)
    return unit if 1 < unit <= 8 else default


def _file_uses_tabs(original: list[str], file_lines: list[str]) -> bool | None:
    """Whether the code indents with tabs: the replaced lines decide, then the file, else unknown."""
    for pool in (original, file_lines):
        for ln in pool:
            lead = _indent_of(ln)
            if lead and ln.strip():
                return lead.startswith("\t")
    return None


def _to_style(lines: list[str], tabs: bool, file_lines: list[str]) -> list[str]:
    """The suggestion's indentation in the file's style; levels are kept, only their spelling changes."""
    leads = [_indent_of(ln) for ln in lines if ln.strip()]
    if tabs and any(lead.startswith(" ") for lead in leads) and not any("\t" in lead for lead in leads):
        unit = _indent_unit([len(lead) for lead in leads], 4)
        return [("\t" * (len(_indent_of(ln)) // unit) + " " * (len(_indent_of(ln)) % unit) + ln.lstrip()) if ln.strip() else "" for ln in lines]
    if not tabs and any(lead.startswith("\t") for lead in leads):
        spaced = [len(_indent_of(ln)) for ln in file_lines if ln.strip() and _indent_of(ln) and "\t" not in _indent_of(ln)]
        unit = _indent_unit(spaced, 4)
        out = []
        for ln in lines:
            lead = _indent_of(ln)
            n_tabs = len(lead) - len(lead.lstrip("\t"))
            out.append((" " * (n_tabs * unit) + lead[n_tabs:] + ln.lstrip()) if ln.strip() else "")
        return out
    return lines


def _shift(lines: list[str], delta: int, char: str) -> list[str] | None:
    """Every line moved by the same ``delta`` indentation characters; None when that cannot be done."""
    out = []
    for ln in lines:
        if not ln.strip():
            out.append("")
        elif delta >= 0:
            out.append(char * delta + ln)
        elif ln[:-delta] == char * -delta:
            out.append(ln[-delta:])
        else:
            return None
    return out


def reindent_candidates(suggested: str, original: list[str], file_lines: list[str] | None = None) -> list[list[str]]:
    """The placements of ``suggested`` at the indentation of the ``original`` lines.

    One delta moves every line, so the suggestion's own structure is never changed. Its
    base is its least-indented line, or its first line when the model put that one at the
    indentation of the first replaced line; when those disagree both placements are
    returned (least-indented first) and the checks decide.
    """
    lines = [ln.rstrip() for ln in suggested.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return [[]]
    tabs = _file_uses_tabs(original, file_lines or [])
    if tabs is not None:
        lines = _to_style(lines, tabs, file_lines or original)
    char = "\t" if tabs else " "
    body = [ln for ln in lines if ln.strip()]
    code = [ln for ln in original if ln.strip()]
    target_min = min((len(_indent_of(ln)) for ln in code), default=0)
    target_first = len(_indent_of(code[0])) if code else 0
    deltas = [
        target_min - min(len(_indent_of(ln)) for ln in body),
        target_first - len(_indent_of(body[0])),
    ]
    out: list[list[str]] = []
    for delta in deltas:
        placed = _shift(lines, delta, char)
        if placed is not None and placed not in out:
            out.append(placed)
    return out


def reindent(suggested: str, original: list[str], file_lines: list[str] | None = None) -> list[str]:
    """The first placement of ``suggested`` (see :func:`reindent_candidates`); [] when none fits."""
    candidates = reindent_candidates(suggested, original, file_lines)
    return candidates[0] if candidates else []


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
    return new_syntax_errors(lang, before, after) is None


@dataclass(frozen=True)
class FixDecision:
    """A validated edit, or why the suggestion is not offered as one (both None: no suggestion)."""

    fix: Fix | None
    rejected: str | None = None


def _check_placement(lang: str | None, path: str, text: str, lines: list[str], start: int, end: int, new_lines: list[str]) -> str | None:
    after, _ = apply_to_text(text, [Fix(start, end, "\n".join(new_lines), "")])
    if lang is None:
        return None
    new_end = start + len(new_lines) - 1
    reason = new_syntax_errors(lang, text, after)
    if reason is None and lang == "python":
        from . import python_checks

        reason = python_checks.check(path, text, after, start, end, new_end)
    if reason is None:
        reason = moves_code(lang, text, after, lines, start, end, new_lines)
    if reason is None and lang != "python":
        from .scope_check import lost_binding

        try:
            reason = lost_binding(lang, tree_of(lang, text).root_node, tree_of(lang, after).root_node, start - 1, end - 1, new_end - 1)
        except Exception:  # noqa: BLE001 - when unsure, no edit
            reason = "could not be checked"
    return reason


def validate_fix(path: str, text: str, start: int, end: int, suggested: str) -> FixDecision:
    """Replace lines ``start..end`` of ``text`` with ``suggested``, if every check passes.

    The one gate for every edit gemma-review offers: ``--fix``, ``--show-fixes``, SARIF,
    the editor's quick fix, fix-all and the refactor action.
    """
    if not suggested.strip():
        return FixDecision(None)
    whole = text
    text = text[1:] if text.startswith(_BOM) else text  # the BOM is not part of line 1's code
    lines = split_lines(text)
    if not 1 <= start <= end <= len(lines):
        return FixDecision(None, "reaches outside the file")
    original = lines[start - 1 : end]
    candidates = reindent_candidates(suggested, original, lines)
    if not candidates:
        return FixDecision(None, "cannot be indented to fit the replaced lines")
    first = candidates[0]
    lang = language_of(path)
    reason = (
        added_controls(original, first)
        or no_op(original, first, indent_matters=lang == "python")
        or repeats_neighbours(lines, start, end, first)
    )
    if reason is not None:
        return FixDecision(None, reason)
    passing: list[list[str]] = []
    reasons: list[str] = []
    for placed in candidates:
        why = _check_placement(lang, path, text, lines, start, end, placed)
        if why is None:
            passing.append(placed)
        else:
            reasons.append(why)
    if len(passing) == 1 or (passing and lang not in (None, "python")):
        # In brace languages the placements differ only in layout, not in meaning: the
        # least-indented one is as safe as the other. Where indentation is meaning (Python),
        # or nothing could check it, two valid readings mean no edit.
        return FixDecision(Fix(start, end, "\n".join(passing[0]), content_hash(whole)))
    if not passing:
        return FixDecision(None, reasons[0])
    return FixDecision(None, "ambiguous indentation: the suggestion fits at more than one depth")


def decide_fix(finding: Finding, text: str) -> FixDecision:
    return validate_fix(finding.path, text, finding.line, finding.end_line, finding.suggested_code)


def make_fix(finding: Finding, text: str) -> Fix | None:
    """A validated whole-line fix for ``finding`` in ``text``, or None."""
    return decide_fix(finding, text).fix


def choose_fixes(findings: list[Finding]) -> list[Finding]:
    """Findings whose fixes can all be applied: of two that overlap, the more severe one wins
    (then the more confident, then the earlier)."""
    chosen: list[Finding] = []
    ranked = sorted(
        (f for f in findings if f.fix is not None),
        key=lambda f: (-SEVERITY_RANK[f.severity], -f.confidence, f.line),
    )
    for f in ranked:
        assert f.fix is not None
        if any(f.fix.start_line <= c.fix.end_line and c.fix.start_line <= f.fix.end_line for c in chosen if c.fix):
            continue
        chosen.append(f)
    return sorted(chosen, key=lambda f: f.line)


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
    bom = _BOM if text.startswith(_BOM) else ""  # stays first, whatever replaces line 1
    text = text[len(bom) :]
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
    return bom + "".join(content + ending for content, ending in lines), applied


@dataclass
class FixResult:
    path: str
    applied: int
    refused: str | None = None


def _write_refusal(path: Path, shown: str) -> str | None:
    """Why ``path`` must not be written: --fix edits files, it does not change their permissions."""
    try:
        mode = path.resolve().stat().st_mode
        folder = path.resolve().parent
        folder_mode = folder.stat().st_mode
    except OSError as exc:
        return f"{shown}: cannot write: {exc.strerror}; fixes not applied"
    # Checked by mode as well as access(): root may write anywhere, but a read-only file
    # is a statement by its owner that --fix must respect.
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        return f"{shown} is read-only; fixes not applied (make it writable to let --fix change it)"
    if not folder_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(folder, os.W_OK | os.X_OK):
        return f"{shown}: its folder is not writable, so the file cannot be replaced safely; fixes not applied"
    return None


def apply_fixes(path: Path, shown: str, fixes: list[Fix]) -> FixResult:
    """Write fixes into ``path`` atomically; refuse when the file changed since it was read,
    is read-only, or cannot be replaced."""
    if not fixes:
        return FixResult(shown, 0)
    try:
        current = read_text(path)
    except InputError as exc:
        return FixResult(shown, 0, str(exc))
    expected = {f.content_hash for f in fixes}
    if expected != {content_hash(current)}:
        return FixResult(shown, 0, f"{shown} changed since it was reviewed; fixes not applied, review it again")
    refusal = _write_refusal(path, shown)
    if refusal is not None:
        return FixResult(shown, 0, refusal)
    new_text, applied = apply_to_text(current, fixes)
    if applied:
        try:
            write_atomic(path, new_text)
        except OSError as exc:
            return FixResult(shown, 0, f"{shown}: cannot write: {exc.strerror or exc}; fixes not applied")
    return FixResult(shown, applied)


@dataclass
class FixRun:
    """What ``--fix`` did: messages for stderr and the findings it left unfixed."""

    remaining: list[Finding] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def fix_files(files: dict, findings: list[Finding]) -> FixRun:
    """Apply every chosen fix, file by file; every finding whose fix was not written remains.

    ``files`` maps a shown path to its change (``abspath`` None: not a working-tree file).
    """
    run = FixRun()
    fixed: set[int] = set()
    for path, change in files.items():
        chosen = choose_fixes([f for f in findings if f.path == path])
        if not chosen:
            continue
        if getattr(change, "abspath", None) is None:
            run.messages.append(f"{path}: not a working-tree file; fixes not applied")
            continue
        outcome = apply_fixes(change.abspath, path, [f.fix for f in chosen if f.fix is not None])
        if outcome.refused:
            run.messages.append(outcome.refused)
        elif outcome.applied:
            run.messages.append(f"fixed {outcome.applied} finding{'s' if outcome.applied != 1 else ''} in {path}")
            fixed.update(id(f) for f in chosen)
    run.remaining = [f for f in findings if id(f) not in fixed]
    return run


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
