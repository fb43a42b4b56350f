"""Report: findings as text, JSON, SARIF 2.1.0, GitHub workflow annotations, reviewdog's rdjson
and GitLab Code Quality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the CLI reads FORMATS at start-up: it must not pull in the pipeline
    from ..result import ReviewResult

FORMATS = ("text", "json", "sarif", "github", "rdjson", "gitlab")
JSON_FORMATS = ("json", "sarif", "rdjson", "gitlab")


def render(fmt: str, result: ReviewResult, **options: object) -> str:
    renderer: Callable[..., str]
    if fmt == "json":
        from .json_report import render as renderer
    elif fmt == "sarif":
        from .sarif import render as renderer
    elif fmt == "github":
        from .github import render as renderer
    elif fmt == "rdjson":
        from .rdjson import render as renderer
    elif fmt == "gitlab":
        from .gitlab import render as renderer
    elif fmt == "summary":  # the Markdown job summary (--summary), not a --format
        from .summary import render as renderer
    else:
        from .text import render as renderer
    from ..terminal import encodable, json_escaped

    # Lone surrogates (from a model's "\ud800" or a non-UTF-8 file name) cannot be encoded;
    # escaped here, every format can be written to stdout or an -o file.
    text = renderer(result, **options)
    return json_escaped(text) if fmt in JSON_FORMATS else encodable(text)
