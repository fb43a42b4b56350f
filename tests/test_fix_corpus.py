"""The fix corpus: realistic model suggestions, each labelled accept or reject.

A correct fix must be offered (and produce the expected text); a harmful, no-op or
sloppy one must be refused with a reason, keeping the finding.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from gemma_review.fixes import apply_to_text, validate_fix
from gemma_review.textfile import split_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).resolve().parent / "fix_corpus"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]


def locate(text: str, existing: str) -> tuple[int, int]:
    """1-based first and last line of ``existing`` in ``text``; it must occur exactly once."""
    lines = split_lines(text)
    quote = existing.split("\n")
    hits = [i for i in range(len(lines) - len(quote) + 1) if lines[i : i + len(quote)] == quote]
    assert len(hits) == 1, f"{existing!r} found {len(hits)} times"
    return hits[0] + 1, hits[0] + len(quote)


def decide(case: dict[str, Any]):
    text = (CORPUS / case["file"]).read_text(encoding="utf-8")
    start, end = locate(text, case["existing"])
    return text, validate_fix(case["file"], text, start, end, case["suggested"])


def test_corpus_covers_every_language_and_kind() -> None:
    suffixes = {Path(c["file"]).suffix for c in CASES}
    assert suffixes == {".py", ".js", ".ts", ".go", ".rs"}
    kinds = {c["kind"] for c in CASES}
    assert {"correct", "misindented", "drops-binding", "no-op", "quote-only", "breaks-syntax", "outside"} <= kinds
    for suffix in suffixes:
        labels = {c["expect"] for c in CASES if c["file"].endswith(suffix)}
        assert labels == {"accept", "reject"}, suffix
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_fix_corpus(case: dict[str, Any]) -> None:
    text, decision = decide(case)
    if case["expect"] == "accept":
        assert decision.rejected is None, decision.rejected
        assert decision.fix is not None
        after, applied = apply_to_text(text, [decision.fix])
        assert applied == 1
        assert case["result"] in after
    else:
        assert decision.fix is None
        assert decision.rejected is not None and case["reason"] in decision.rejected, decision.rejected


# --- the streak sample (issue 12) ------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STREAK = next(s for s in tomllib.loads((SAMPLES / "labels.toml").read_text(encoding="utf-8"))["samples"] if s["file"] == "streak.py")


def streak(source: str, dates: list[str]) -> int:
    from datetime import date

    namespace: dict[str, Any] = {"__name__": "streak_under_test"}
    exec(compile(source, "streak.py", "exec"), namespace)
    return namespace["calculate_streak"]([{"date": date.fromisoformat(d)} for d in dates])


def test_streak_fix_that_leaves_current_undefined_is_rejected() -> None:
    text = (SAMPLES / "streak.py").read_text(encoding="utf-8")
    start, end = locate(text, '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]')
    decision = validate_fix("streak.py", text, start, end, 'for date in sorted({event["date"] for event in events}):')
    assert decision.fix is None
    assert decision.rejected == "introduces undefined name 'current'"


@pytest.mark.parametrize("indent", ["", "    ", "  ", "        "], ids=["dedented", "exact", "two", "too deep"])
def test_streak_correct_fix_is_accepted_and_passes_the_behaviour_cases(indent: str) -> None:
    text = (SAMPLES / "streak.py").read_text(encoding="utf-8")
    start, end = locate(text, '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]')
    suggestion = indent + 'for current in sorted({event["date"] for event in events}):'
    decision = validate_fix("streak.py", text, start, end, suggestion)
    assert decision.rejected is None and decision.fix is not None
    after, applied = apply_to_text(text, [decision.fix])
    assert applied == 1
    cases = STREAK["behaviour"]["cases"]
    assert any(streak(text, c["dates"]) != c["expected"] for c in cases)  # the sample really is wrong
    for case in cases:
        assert streak(after, case["dates"]) == case["expected"], case
