"""Human output in the spirit of ruff: location line, code frame, explanation, fix diff."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..result import ReviewResult
from ..findings import Finding
from ..terminal import safe
from ..textfile import split_lines

COLORS = {"error": "31", "warning": "33", "info": "36", "bold": "1", "dim": "2", "add": "32", "del": "31"}
CONTEXT = 1


def use_color(stream: TextIO, choice: str = "auto") -> bool:
    if choice in ("always", "never"):
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


class Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        return f"\x1b[{COLORS[style]}m{text}\x1b[0m" if self.enabled else text


def frame(f: Finding, lines: list[str], paint: Painter) -> list[str]:
    lo, hi = max(1, f.line - CONTEXT), min(len(lines), f.end_line + CONTEXT)
    width = len(str(hi))
    gutter = " " * (width + 3) + "|"  # under the bar of "> 12 |"
    out = [paint(gutter, "dim")]
    for n in range(lo, hi + 1):
        text = safe(lines[n - 1]).expandtabs(4)
        mark = paint(">", f.severity) if f.line <= n <= f.end_line else " "
        out.append(f"{mark} {paint(f'{n:>{width}} |', 'dim')} {text}")
    out.append(paint(gutter, "dim"))
    return out


def fix_diff(f: Finding, text: str, paint: Painter) -> list[str]:
    if f.fix is None:
        if not f.suggested_code.strip():
            return []
        # Refused or a no-op: shown as text so the reader can judge it, never as an edit.
        why = f" (not offered as a fix: {safe(f.fix_rejected)})" if f.fix_rejected else ""
        out = [paint(f"  suggested{why}:", "bold")]
        out += [f"  | {safe(ln).expandtabs(4)}".rstrip() for ln in f.suggested_code.strip("\n").split("\n")]
        return out
    lines = split_lines(text)
    old = lines[f.fix.start_line - 1 : f.fix.end_line]
    new = f.fix.replacement.split("\n") if f.fix.replacement else []
    out = [paint("  fix:", "bold")]
    out += [paint(f"  - {safe(ln).expandtabs(4)}", "del") for ln in old]
    out += [paint(f"  + {safe(ln).expandtabs(4)}", "add") for ln in new]
    return out


def render(
    result: ReviewResult,
    color: bool = False,
    show_fixes: bool = False,
    fix_command: str | None = None,
    **_: object,
) -> str:
    paint = Painter(color)
    out: list[str] = []
    for f in result.findings:
        change = result.files.get(f.path)
        text = change.text if change is not None and change.text is not None else ""
        lines = split_lines(text)
        # Model text (and a hostile repository's file names) never reach the terminal raw.
        loc = paint(f"{safe(f.path)}:{f.line}:{f.column}:", "bold")
        out.append(f"{loc} {paint(f.severity, f.severity)} [{safe(f.category)}] {' '.join(safe(f.title).split())}")
        if lines:
            out.extend(frame(f, lines, paint))
        if f.also:  # the same problem on other lines, one finding (fixed and dismissed as one)
            out.append(f"  also on line{'s' if len(f.also) > 1 else ''} {f.also_lines()}")
        if f.explanation:
            out.extend(f"  {ln}".rstrip() for ln in safe(f.explanation).split("\n"))
        out.extend(fix_diff(f, text, paint))
        if f.fingerprint:  # what `gemma-review dismiss` takes
            out.append(paint(f"  fingerprint {safe(f.fingerprint)}", "dim"))
        out.append("")
    if show_fixes:
        out.extend(fixes_as_diff(result))
    out.append(summary(result, fix_command))
    return "\n".join(out) + "\n"


def fixes_as_diff(result: ReviewResult) -> list[str]:
    from ..fixes import apply_to_text, choose_fixes, unified_diff

    out: list[str] = []
    for path, change in result.files.items():
        fixes = [f.fix for f in choose_fixes([f for f in result.findings if f.path == path]) if f.fix is not None]
        if not fixes or change.text is None:
            continue
        after, _ = apply_to_text(change.text, fixes)
        out.append(safe(unified_diff(path, change.text, after)).rstrip("\n"))
    return out


def answered_by(result: ReviewResult) -> str:
    """Which model answered, for every output; the demo model is labelled as no reviewer."""
    if not result.model:
        return ""
    on = f" ({result.backend})" if result.backend and result.backend != "cache" else ""
    label = f"model {result.model}{on}"
    if result.demo:
        label = f"DEMO model {result.model}: proves the pipeline runs, it does not review code"
    return label


def summary(result: ReviewResult, fix_command: str | None = None) -> str:
    """The last line(s) of the text report; ``fix_command`` is how the caller applies fixes."""
    n = len(result.findings)
    counts = [
        f"{c} {s}{'s' if c != 1 else ''}"
        for s in ("error", "warning", "info")
        if (c := sum(1 for f in result.findings if f.severity == s))
    ]
    fixable = sum(1 for f in result.findings if f.fix is not None)
    head = "No findings" if n == 0 else f"Found {n} finding{'s' if n != 1 else ''} ({', '.join(counts)})"
    files = len(result.files)
    m = result.metrics
    if not files and not result.units and not result.cancelled:
        # Plainly: nothing was reviewed (an empty diff, or every file skipped), not "No findings".
        skipped = len(result.skips_to_tell())
        parts = ["Nothing reviewed" + (f": {skipped} file{'s' if skipped != 1 else ''} skipped" if skipped else "")]
    else:
        parts = [f"{head} in {files} file{'s' if files != 1 else ''}"]
        cached = f", {result.cached_units} cached" if result.cached_units else ""
        parts.append(f"{result.units} unit{'s' if result.units != 1 else ''} reviewed{cached}")
        timing = f"{result.wall_seconds:.1f}s, {m.total_seconds:.1f}s in the model"
        if m.output_tokens:
            timing += f" ({m.prompt_tokens} prompt + {m.output_tokens} output tokens, {m.decode_tps:.0f} tok/s)"
        parts.append(timing)
    if who := answered_by(result):
        parts.append(who)
    line = "; ".join(parts) + "."
    if fixable:
        if fix_command:
            line += f"\n{fixable} fixable: run {fix_command} to apply {'them' if fixable != 1 else 'it'}."
        else:
            line += f"\n{fixable} fixable with --fix."
    if result.cancelled:
        line += "\nThe review was interrupted; results are partial."
    return line


def write_notes(result: ReviewResult, stream: TextIO | None = None) -> None:
    stream = sys.stderr if stream is None else stream
    for note in result.notes:
        stream.write(f"gemma-review: note: {' '.join(safe(note).split())}\n")


def _plain(text: str) -> str:
    """Model text on one terminal line: control characters (escapes, newlines) shown as spaces."""
    return " ".join(safe(text).split())


def explain_lines(result: ReviewResult) -> list[str]:
    """``--explain``: every raw finding the engine did not report, and why."""
    from ..findings import DROP_REASONS

    counts = result.dropped_counts()
    summary = ", ".join(f"{reason} {n}" for reason, n in counts.items()) or "none"
    out = [
        f"explain: {result.raw_findings} raw finding{'s' if result.raw_findings != 1 else ''} from the model, {len(result.findings)} reported, "
        f"{len(result.dropped)} dropped ({summary})"
    ]
    if result.cached_units:
        out.append(f"explain: {result.cached_units} unit(s) came from the cache; their raw findings are not listed (--no-cache)")
    if result.loops_stopped:
        out.append(f"explain: {result.loops_stopped} reply(ies) stopped early because the model was repeating itself")
    out.extend(result.adapted)
    for f in result.findings:
        before = f.extra.get("severity_capped_from")
        if before:
            out.append(
                f"lowered: {_plain(f.path)}:{f.line}: {_plain(f.title)!r}: {before} -> {f.severity} "
                f"(severity_limits: {f.category} is at most {f.severity})"
            )
        if f.extra.get("verified") is False:
            out.append(
                f"lowered: {_plain(f.path)}:{f.line}: {_plain(f.title)!r}: "
                f"{f.extra.get('severity_before_verify')} -> info (withdrawn by the verification pass)"
            )
    for d in sorted(result.dropped, key=lambda d: (d.path, d.line or 0, d.reason)):
        where = _plain(d.path) + (f":{d.line}" if d.line is not None else "")
        title = repr(_plain(d.title)) if d.title else "(no title)"
        why = f": {_plain(d.detail)}" if d.reason in ("dismissed", "duplicate", "below confidence") and d.detail else ""
        out.append(f"dropped: {where}: {title}: {d.reason} ({DROP_REASONS.get(d.reason, d.reason)}){why}")
    return out


def write_explain(result: ReviewResult, stream: TextIO | None = None) -> None:
    stream = sys.stderr if stream is None else stream
    for line in explain_lines(result):
        stream.write(f"gemma-review: {line}\n")
