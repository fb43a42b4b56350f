"""Report: findings as text, JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

from typing import Callable

from ..engine import ReviewResult

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, result: ReviewResult, **options: object) -> str:
    renderer: Callable[..., str]
    if fmt == "json":
        from .json_report import render as renderer
    elif fmt == "sarif":
        from .sarif import render as renderer
    elif fmt == "github":
        from .github import render as renderer
    else:
        from .text import render as renderer
    return renderer(result, **options)
