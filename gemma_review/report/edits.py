"""A fix as a text edit with 1-based line/column positions (shared by JSON and SARIF)."""

from __future__ import annotations

from typing import Any

from ..findings import Fix
from ..textfile import split_lines


def fix_edit(fix: Fix, text: str) -> dict[str, Any]:
    """Replace the content of lines start..end (not their final newline) with the new lines."""
    lines = split_lines(text)
    last = lines[fix.end_line - 1] if fix.end_line <= len(lines) else ""
    return {
        "start": {"line": fix.start_line, "column": 1},
        "end": {"line": fix.end_line, "column": len(last) + 1},
        "content": fix.replacement,
    }
