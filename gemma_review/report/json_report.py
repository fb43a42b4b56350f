"""Stable JSON output (documented in docs/cli.md; ``version`` bumps on breaking changes)."""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..result import ReviewResult
from ..findings import Finding
from .edits import fix_edit

JSON_VERSION = 1


def finding_dict(f: Finding, text: str | None) -> dict[str, Any]:
    fix = None
    if f.fix is not None and text is not None:
        fix = {
            "applicability": "suggested",
            "content_hash": f.fix.content_hash,
            "edits": [fix_edit(f.fix, text)],
        }
    return {
        "path": f.path,
        "range": {
            "start": {"line": f.line, "column": f.column},
            "end": {"line": f.end_line, "column": f.end_column},
        },
        "severity": f.severity,
        "category": f.category,
        "title": f.title,
        "explanation": f.explanation,
        "confidence": round(f.confidence, 3),
        "existing_code": f.existing_code,
        "suggested_code": f.suggested_code,
        "fingerprint": f.fingerprint,
        # The same problem on other lines (same title and category): one finding, fixed and
        # dismissed as one; the fix, if any, is the first location's.
        "also": [
            {
                "range": {
                    "start": {"line": loc.line, "column": loc.column},
                    "end": {"line": loc.end_line, "column": loc.end_column},
                },
                "existing_code": loc.existing_code,
            }
            for loc in f.also
        ],
        "fix": fix,
        "fix_rejected": f.fix_rejected if fix is None else None,
    }


def render(result: ReviewResult, **_: object) -> str:
    counts = {s: sum(1 for f in result.findings if f.severity == s) for s in ("error", "warning", "info")}
    doc = {
        "version": JSON_VERSION,
        "tool": {"name": "gemma-review", "version": __version__},
        "model": result.model,  # the model that answered, not only the configured one
        "backend": result.backend,
        "demo": result.demo,
        "findings": [
            finding_dict(f, result.files[f.path].text if f.path in result.files else None) for f in result.findings
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped],
        "notes": result.notes,
        "dropped": result.dropped_counts(),
        "summary": {
            "findings": len(result.findings),
            **counts,
            "files": len(result.files),
            "units": result.units,
            "cached_units": result.cached_units,
            "requests": result.requests,
            "cancelled": result.cancelled,
            "wall_seconds": round(result.wall_seconds, 3),
            "raw_findings": result.raw_findings,
            "loops_stopped": result.loops_stopped,
        },
        "metrics": result.metrics.to_dict(),
    }
    if result.verify is not None:
        doc["verify"] = result.verify.to_dict()
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
