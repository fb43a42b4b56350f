"""Every finding as a Markdown table: the GitHub job summary (``$GITHUB_STEP_SUMMARY``), or
any file ``--summary`` names. Appended, as GitHub expects of every step writing there."""

from __future__ import annotations

from ..findings import Finding
from ..result import ReviewResult
from ..terminal import safe

# GitHub refuses a step summary over 1 MiB; rows stop well before that, with a word.
MAX_BYTES = 900_000
ICONS = {"error": "🔴 error", "warning": "🟠 warning", "info": "🔵 info"}


def _cell(text: str) -> str:
    """One table cell: no pipes, newlines or HTML that would break the table."""
    text = " ".join(safe(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _row(f: Finding) -> str:
    lines = f"{f.line}" if f.end_line == f.line else f"{f.line}–{f.end_line}"
    what = f"**{_cell(f.title)}**" + (f"<br>{_cell(f.explanation)}" if f.explanation else "")
    fix = "yes" if f.fix is not None else ""
    return f"| {ICONS[f.severity]} | `{_cell(f.path)}` | {lines} | {f.category} | {what} | {fix} |"


def render(result: ReviewResult, **_: object) -> str:
    from .text import answered_by

    n = len(result.findings)
    counts = ", ".join(
        f"{c} {s}{'s' if c != 1 else ''}"
        for s in ("error", "warning", "info")
        if (c := sum(1 for f in result.findings if f.severity == s))
    )
    head = [f"### gemma-review: {n} finding{'s' if n != 1 else ''}" + (f" ({counts})" if counts else ""), ""]
    who = answered_by(result)
    if who:
        head += [f"Reviewed {len(result.files)} file{'s' if len(result.files) != 1 else ''} "
                 f"({result.units} units, {result.cached_units} from the cache) with {_cell(who)}.", ""]
    if not n:
        return "\n".join(head) + "\n"
    rows = ["| Severity | File | Lines | Category | Finding | Fix |", "|---|---|---|---|---|---|"]
    size = sum(len(x.encode()) + 1 for x in head + rows)
    for i, f in enumerate(result.findings):
        row = _row(f)
        size += len(row.encode("utf-8", "replace")) + 1
        if size > MAX_BYTES:
            rows += ["", f"… and {n - i} more findings (the job summary is limited to 1 MiB; the SARIF or JSON report has them all)."]
            break
        rows.append(row)
    return "\n".join(head + rows) + "\n\n"
