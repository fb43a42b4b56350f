"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` per finding,
within GitHub's limits.

GitHub shows at most 10 annotations of each level per step and drops the rest without a
word, so at most ``LIMIT`` are printed per level (the most confident first, then in file
order) and a plain log line says how many more there are and where they all are (the job
summary, see :mod:`.summary`).
"""

from __future__ import annotations

from ..findings import Finding
from ..result import ReviewResult
from ..terminal import safe

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}
LIMIT = 10  # annotations GitHub shows per level and step


def _data(s: str) -> str:
    # Also shown on terminals (local runs, raw CI logs): no escape sequences from the model.
    # CR is kept: it is escaped as %0D below, never reaches a terminal raw.
    s = "\r".join(safe(part) for part in s.split("\r"))
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    props = (
        f"file={_prop(f.path)},line={f.line},endLine={f.end_line},col={f.column},"
        f"title={_prop(f'gemma-review [{f.category}] {f.title}')}"
    )
    return f"::{COMMANDS[f.severity]} {props}::{_data(f.explanation or f.title)}"


def shown(findings: list[Finding], limit: int = LIMIT) -> tuple[list[Finding], dict[str, int]]:
    """The findings annotated (report order) and, per severity, how many are left out."""
    keep: set[int] = set()
    left: dict[str, int] = {}
    for severity in COMMANDS:
        level = [i for i, f in enumerate(findings) if f.severity == severity]
        best = sorted(level, key=lambda i: (-findings[i].confidence, i))[:limit]
        keep.update(best)
        if len(level) > limit:
            left[severity] = len(level) - limit
    return [f for i, f in enumerate(findings) if i in keep], left


def render(result: ReviewResult, *, summary_to: str | None = None, **_: object) -> str:
    """``summary_to`` names where every finding is listed (the job summary), if anywhere."""
    annotated, left = shown(result.findings)
    out = [annotation(f) for f in annotated]
    if left:
        words = {"error": "error", "warning": "warning", "info": "notice"}
        more = ", ".join(f"{n} {words[s]}{'s' if n != 1 else ''}" for s, n in left.items())
        where = f"{summary_to} lists every finding" if summary_to else "the SARIF or JSON report lists every finding"
        out.append(
            f"gemma-review: {more} more not annotated (GitHub shows at most {LIMIT} annotations per level "
            f"in a step; the most confident are shown); {where}"
        )
    if result.model:
        # A plain line is the job log, not an annotation: which model answered, every run.
        from .text import answered_by

        n = len(result.findings)
        who = " ".join(answered_by(result).split())  # one line: a model name must not start a command
        out.append(f"gemma-review: {n} finding{'s' if n != 1 else ''}; {who}")
    return "".join(line + "\n" for line in out)
