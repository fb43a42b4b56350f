"""The editor side of fixes: fix-all lets the more severe finding win, hover says why a
suggestion is not offered, and the refactor action passes the same checks."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from gemma_review.engine import ReviewEngine
from gemma_review.findings import Finding
from gemma_review.fixes import decide_fix
from gemma_review.lsp import actions, diagnostics
from tests.helpers import finding

LINES = ["def f(xs):", "    total = 0", "    for x in xs:", "        total += x", "    return total"]
TEXT = "\n".join(LINES) + "\n"


def decided(line: int, end_line: int, suggested: str, severity: str = "error", confidence: float = 0.9) -> Finding:
    """A finding on LINES with the fix decision the engine would make."""
    code = LINES[line - 1 : end_line]
    f = finding(
        line, end_line, path="x.py", end_column=len(code[-1]) + 1, severity=severity, title=f"{severity} at {line}",
        explanation="e", existing_code="\n".join(code), suggested_code=suggested, confidence=confidence,
        fingerprint=f"fp{line}{severity}",
    )
    decision = decide_fix(f, TEXT)
    f.fix, f.fix_rejected = decision.fix, decision.rejected
    return f


def doc() -> actions.Doc:
    return actions.Doc("file:///x.py", 1, LINES, "\n", "x.py", False)


def test_fix_all_the_more_severe_fix_wins_an_overlap() -> None:
    info = decided(2, 3, "total = 0.0\nfor x in xs:", severity="info", confidence=1.0)
    error = decided(3, 4, "for x in xs or []:\n    total += x", severity="error", confidence=0.6)
    assert info.fix is not None and error.fix is not None
    items = [diagnostics.live(f, LINES) for f in (info, error)]
    action = actions.fix_all_action(items, doc())
    (edit,) = action.edit.changes["file:///x.py"]
    assert edit.range.start.line == 2 and edit.new_text.startswith("    for x in xs or []:")


def test_a_rejected_suggestion_is_hover_text_not_a_quick_fix() -> None:
    f = decided(2, 2, "count = 0")
    assert f.fix is None and f.fix_rejected == "introduces undefined name 'total'"
    item = diagnostics.live(f, LINES)
    diag = types.Diagnostic(range=item.range, message="m")
    assert actions.fix_action(item, doc(), diag) is None
    assert actions.fix_all_action([item], doc()) is None
    data = diagnostics.to_diagnostic(item, LINES, "h").data
    assert data["fix"] is None and data["fix_rejected"] == "introduces undefined name 'total'"
    hover = actions.hover_markdown([item], "x.py")
    assert "Suggested (not offered as a fix: introduces undefined name 'total'):" in hover
    assert "count = 0" in hover


class _Rewrite:
    """A backend that answers a refactor with a fixed rewrite."""

    name = "stub"

    def __init__(self, replacement: str) -> None:
        self.replacement = replacement

    def stream_chat(self, request, cancel=None):
        import json

        from gemma_review.backends.base import Chunk

        yield Chunk(json.dumps({"summary": "s", "replacement": self.replacement}), done=True)


def test_refactor_result_passes_the_same_checks(tmp_path: Path) -> None:
    from gemma_review.config import Settings

    engine = ReviewEngine(Settings(cache_dir=str(tmp_path)), backend=_Rewrite("count = 0\nfor x in xs:"))
    result = engine.refactor("x.py", TEXT, 2, 3)
    assert result.fix is None and result.rejected == "introduces undefined name 'total'"
    engine = ReviewEngine(Settings(cache_dir=str(tmp_path)), backend=_Rewrite("total = 0\nfor x in sorted(xs):"))
    result = engine.refactor("x.py", TEXT, 2, 3)
    assert result.rejected is None and result.fix is not None
    assert result.fix.replacement == "    total = 0\n    for x in sorted(xs):"
