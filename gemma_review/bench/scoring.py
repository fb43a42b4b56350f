"""Scoring findings against the labels: recall, precision, false positives, breakdowns.

A labelled finding counts as found when a finding overlaps its lines with the same category;
the labels file is all scoring knows about a sample.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from ..findings import Finding
from .samples import Label, Sample


def rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


@dataclass
class Score:
    labelled: int = 0
    found: int = 0  # labelled findings matched by some finding
    fp_clean: int = 0  # findings on clean samples
    fp_unlabelled: int = 0  # findings on labelled samples that match no label
    fixes_valid: int = 0  # findings with a fix that passes the fix checks
    fixes_suggested: int = 0  # findings with non-empty suggested_code
    findings: int = 0
    matched: int = 0  # findings that match a label
    clean_files: int = 0
    clean_files_flagged: int = 0  # clean samples with at least one finding

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.findings if self.findings else None

    @property
    def false_positives(self) -> int:
        return self.fp_clean + self.fp_unlabelled

    @property
    def clean_flagged_rate(self) -> float | None:
        return self.clean_files_flagged / self.clean_files if self.clean_files else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled, "found": self.found, "recall": rounded(self.recall),
            "findings": self.findings, "matched": self.matched, "precision": rounded(self.precision),
            "false_positives": self.false_positives, "clean_files_flagged": self.clean_files_flagged,
            "clean_files": self.clean_files,
        }


def _matches(f: Finding, label: Label) -> bool:
    return f.line <= label.end_line and label.line <= f.end_line and f.category == label.category


def score(samples: Sequence[Sample], findings: Sequence[Finding]) -> Score:
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path.replace("\\", "/"), []).append(f)
    s = Score()
    for sample in samples:
        found = by_file.get(sample.file, [])
        s.labelled += len(sample.labels)
        s.found += sum(1 for label in sample.labels if any(_matches(f, label) for f in found))
        unmatched = sum(1 for f in found if not any(_matches(f, label) for label in sample.labels))
        s.findings += len(found)
        s.matched += len(found) - unmatched
        if sample.clean:
            s.fp_clean += unmatched
            s.clean_files += 1
            s.clean_files_flagged += bool(found)
        else:
            s.fp_unlabelled += unmatched
    for f in findings:
        if f.suggested_code.strip():
            s.fixes_suggested += 1
            s.fixes_valid += f.fix is not None
    return s


CONFIDENCE_BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def only_category(samples: Sequence[Sample], category: str) -> list[Sample]:
    """The samples with only ``category``'s labels (clean samples stay clean)."""
    return [dataclasses.replace(s, labels=[lb for lb in s.labels if lb.category == category]) for s in samples]


def breakdown(samples: Sequence[Sample], findings: Sequence[Finding], min_confidence: float) -> dict[str, Any]:
    """Precision and recall per category and severity, and precision by confidence bucket.

    ``findings`` are all the anchored findings (the bench reviews with no confidence floor);
    the per-category and per-severity figures count only those at or above ``min_confidence``,
    the buckets count all of them, so a user can pick ``min_confidence`` from data.
    """
    from ..config import CATEGORIES, SEVERITIES

    kept = [f for f in findings if f.confidence >= min_confidence]
    out: dict[str, Any] = {"by_category": {}, "by_severity": {}, "by_confidence": []}
    for category in CATEGORIES:
        sc = score(only_category(samples, category), [f for f in kept if f.category == category])
        if sc.labelled or sc.findings:
            out["by_category"][category] = sc.to_dict()
    for severity in SEVERITIES:
        chosen = [f for f in kept if f.severity == severity]
        sc = score(samples, chosen)
        out["by_severity"][severity] = {"findings": sc.findings, "matched": sc.matched, "precision": rounded(sc.precision)}
    edges = list(CONFIDENCE_BUCKETS) + [1.0000001]
    for lo, hi in zip(edges, edges[1:]):
        chosen = [f for f in findings if lo <= f.confidence < hi]
        sc = score(samples, chosen)
        out["by_confidence"].append(
            {"from": lo, "to": min(hi, 1.0), "findings": sc.findings, "matched": sc.matched, "precision": rounded(sc.precision)}
        )
    return out


def blocking_score(samples: Sequence[Sample], findings: Sequence[Finding], fail_on: str, before_verify: bool) -> Score:
    """Score of the findings that would fail the run (at or above ``fail_on``)."""
    from ..findings import SEVERITY_RANK

    if fail_on == "never":
        return score(samples, [])

    def severity(f: Finding) -> str:
        return str(f.extra.get("severity_before_verify", f.severity)) if before_verify else f.severity

    return score(samples, [f for f in findings if SEVERITY_RANK[severity(f)] >= SEVERITY_RANK[fail_on]])
