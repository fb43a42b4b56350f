"""Report: findings as text, JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

from typing import Callable

from ..result import ReviewResult

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
    from ..terminal import encodable, json_escaped

    # Lone surrogates (from a model's "\ud800" or a non-UTF-8 file name) cannot be encoded;
    # escaped here, every format can be written to stdout or an -o file.
    text = renderer(result, **options)
    return json_escaped(text) if fmt in ("json", "sarif") else encodable(text)
