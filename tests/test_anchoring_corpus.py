"""The anchoring policy on the hand-labelled corpus of raw replies (tests/anchoring_corpus/).

The policy may refuse a finding it could have placed (a recall loss, printed by
benchmarks/anchoring.py) but must never place one at lines other than its label.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import anchoring  # noqa: E402

CASES = [(name, case) for name, cases in anchoring.load_cases().items() for case in cases]


def test_the_corpus_is_there_and_labelled() -> None:
    sources = {case["source"] for _, case in CASES}
    assert "hand-written" in sources and any(s.startswith("gemma-3-270m") for s in sources), sources
    for _, case in CASES:
        assert case["expect"] is None or (len(case["expect"]) == 2 and case["expect"][0] <= case["expect"][1])
        assert (anchoring.REPO / case["file"]).is_file()


@pytest.mark.parametrize("name, case", CASES, ids=[f"{n}:{c['id']}" for n, c in CASES])
def test_never_anchored_at_the_wrong_lines(name: str, case: dict) -> None:
    got = anchoring.outcome(case)
    assert got is None or list(got) == case["expect"], case.get("why")


def test_benchmark_prints_precision(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["anchoring.py"])
    assert anchoring.main() == 0
    out = capsys.readouterr().out
    assert "all: " in out and "precision" in out and "recall" in out
