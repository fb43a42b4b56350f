"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` per finding."""

from __future__ import annotations

from ..result import ReviewResult
from ..terminal import safe

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _data(s: str) -> str:
    # Also shown on terminals (local runs, raw CI logs): no escape sequences from the model.
    # CR is kept: it is escaped as %0D below, never reaches a terminal raw.
    s = "\r".join(safe(part) for part in s.split("\r"))
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(result: ReviewResult, **_: object) -> str:
    out = []
    for f in result.findings:
        props = (
            f"file={_prop(f.path)},line={f.line},endLine={f.end_line},col={f.column},"
            f"title={_prop(f'gemma-review [{f.category}] {f.title}')}"
        )
        out.append(f"::{COMMANDS[f.severity]} {props}::{_data(f.explanation or f.title)}")
    if result.model:
        # A plain line is the job log, not an annotation: which model answered, every run.
        from .text import answered_by

        n = len(result.findings)
        who = " ".join(answered_by(result).split())  # one line: a model name must not start a command
        out.append(f"gemma-review: {n} finding{'s' if n != 1 else ''}; {who}")
    return "".join(line + "\n" for line in out)
