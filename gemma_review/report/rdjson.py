"""reviewdog's diagnostic format (rdjson: one ``DiagnosticResult``), with suggested changes.

``reviewdog -f=rdjson -reporter=github-pr-review`` turns each diagnostic into an inline
comment and each suggestion into a GitHub "suggested change". Schema:
https://github.com/reviewdog/reviewdog/tree/master/proto/rdf

- Columns are UTF-8 byte counts, 1-based; a range's end is exclusive.
- A suggestion is line-based (no columns): it replaces lines ``start..end`` whole, which is
  what a validated fix is (``Fix``: start_line..end_line replaced by ``replacement``), and
  the only form reviewdog's GitHub reporter turns into a suggested change. Its lines are the
  diagnostic's lines, as that reporter requires.
"""

from __future__ import annotations

import json
from typing import Any

from ..findings import Finding
from ..result import ReviewResult
from ..textfile import split_lines
from .sarif import rule_id

SOURCE = {"name": "gemma-review", "url": "https://example.invalid/gemma-review"}
SEVERITIES = {"error": "ERROR", "warning": "WARNING", "info": "INFO"}


def _byte_column(line: str, column: int) -> int:
    """A 1-based character column as a 1-based UTF-8 byte column."""
    return len(line[: max(0, column - 1)].encode("utf-8", "surrogateescape")) + 1


def diagnostic(f: Finding, text: str | None) -> dict[str, Any]:
    lines = split_lines(text) if text is not None else []

    def line_text(n: int) -> str:
        return lines[n - 1] if 0 < n <= len(lines) else ""

    message = f.title.rstrip(".") + "."
    if f.explanation:
        message += f" {f.explanation}"
    item: dict[str, Any] = {
        "message": message,
        "location": {
            "path": f.path,
            "range": {
                "start": {"line": f.line, "column": _byte_column(line_text(f.line), f.column)},
                "end": {"line": f.end_line, "column": _byte_column(line_text(f.end_line), f.end_column)},
            },
        },
        "severity": SEVERITIES[f.severity],
        "source": SOURCE,
        "code": {"value": rule_id(f.category)},
        "original_output": f.fingerprint,
    }
    if f.fix is not None and text is not None:
        span = {"start": {"line": f.fix.start_line}, "end": {"line": f.fix.end_line}}
        item["location"]["range"] = span
        item["suggestions"] = [{"range": span, "text": f.fix.replacement}]
    return item


def render(result: ReviewResult, **_: object) -> str:
    diagnostics = [
        diagnostic(f, result.files[f.path].text if f.path in result.files else None) for f in result.findings
    ]
    # No field outside the schema: reviewdog reads rdjson with protojson, which refuses unknown fields.
    doc: dict[str, Any] = {"source": SOURCE, "diagnostics": diagnostics}
    if diagnostics:
        doc["severity"] = next(s for s in ("ERROR", "WARNING", "INFO") if any(d["severity"] == s for d in diagnostics))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
