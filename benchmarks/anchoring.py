"""Anchoring precision on a hand-labelled corpus of raw model findings.

Each case in ``tests/anchoring_corpus/*.json`` is one raw finding as a model wrote it, the
sample file and unit it was about, and a hand label: the lines its quoted code really refers
to, or null when it refers to no code (prose, an elision, the prompt's own format).

Prints, per corpus file and overall: how many findings were anchored, how many of those at
their labelled lines (precision), and how many labelled findings were anchored correctly
(recall). ``--code DIR`` runs another checkout's gemma_review (e.g. the policy before a change).

    python benchmarks/anchoring.py [--code DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "anchoring_corpus"


@dataclass
class Tally:
    cases: int = 0
    anchored: int = 0
    correct: int = 0  # anchored at the labelled lines
    should: int = 0  # cases with a label (not null)

    @property
    def precision(self) -> float | None:
        return self.correct / self.anchored if self.anchored else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.should if self.should else None

    def line(self, name: str) -> str:
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        return (f"{name}: {self.cases} findings, {self.anchored} anchored, {self.correct} at the labelled lines; "
                f"precision {self.correct}/{self.anchored} ({pct(self.precision)}), "
                f"recall {self.correct}/{self.should} ({pct(self.recall)})")


def load_cases(folder: Path = CORPUS) -> dict[str, list[dict[str, Any]]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))["cases"] for p in sorted(folder.glob("*.json"))}


def outcome(case: dict[str, Any]) -> tuple[int, int] | None:
    """Where the current policy anchors the case's finding (None: dropped)."""
    from gemma_review.findings import build_finding
    from gemma_review.units import Unit

    text = (REPO / case["file"]).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start, end = case["unit"] or (1, len(lines))
    changed = frozenset(case.get("changed") or range(start, end + 1))
    unit = Unit(case["file"], None, start, end, tuple(lines[start - 1 : end]), changed)
    f = build_finding(unit, case["finding"], lines)
    return None if f is None else (f.line, f.end_line)


def tally(cases: list[dict[str, Any]], verbose: bool = False) -> Tally:
    t = Tally()
    for case in cases:
        got = outcome(case)
        want = tuple(case["expect"]) if case["expect"] is not None else None
        t.cases += 1
        t.should += want is not None
        t.anchored += got is not None
        t.correct += got is not None and got == want
        if verbose and got != want:
            print(f"  {case['id']}: anchored {got}, labelled {want} ({case.get('why', '')})")
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--code", type=Path, help="import gemma_review from this checkout instead")
    ap.add_argument("--verbose", action="store_true", help="list the cases where policy and label differ")
    args = ap.parse_args()
    sys.path.insert(0, str((args.code or REPO).resolve()))
    total = Tally()
    for name, cases in load_cases().items():
        if args.verbose:
            print(f"{name}:")
        t = tally(cases, args.verbose)
        print(t.line(name))
        for k in ("cases", "anchored", "correct", "should"):
            setattr(total, k, getattr(total, k) + getattr(t, k))
    print(total.line("all"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
