"""GitLab Code Quality report: the JSON array GitLab's merge-request widget reads
(``artifacts: reports: codequality``), a subset of the Code Climate issue format.

GitLab compares the fingerprints of the merge request's report with the target branch's to
show new and resolved findings, so the fingerprint is the content fingerprint (file, category,
anchored code): it survives line moves. Severity is one of info, minor, major, critical,
blocker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..findings import Finding
from ..result import ReviewResult
from .sarif import rule_id

# error -> major (critical for security), warning -> minor, info -> info; nothing is a blocker:
# a model's finding is a reviewer's opinion, not a broken build.
SEVERITIES = {"error": "major", "warning": "minor", "info": "info"}
CODE_CLIMATE_CATEGORIES = {
    "bug": "Bug Risk", "security": "Security", "performance": "Performance",
    "maintainability": "Complexity", "style": "Style",
}


def severity(f: Finding) -> str:
    return "critical" if f.severity == "error" and f.category == "security" else SEVERITIES[f.severity]


def issue(f: Finding, fingerprint: str) -> dict[str, Any]:
    description = f.title.rstrip(".") + "."
    if f.explanation:
        description += f" {f.explanation}"
    return {
        "type": "issue",
        "description": description,
        "check_name": rule_id(f.category),
        "fingerprint": fingerprint,
        "severity": severity(f),
        "categories": [CODE_CLIMATE_CATEGORIES[f.category]],
        "location": {"path": f.path, "lines": {"begin": f.line, "end": f.end_line}},
    }


def render(result: ReviewResult, **_: object) -> str:
    issues = []
    seen: set[str] = set()
    for f in result.findings:
        # Unique in the report (GitLab drops repeats); the content fingerprint where it is one.
        fp = f.fingerprint or hashlib.sha256(f"{f.path}\0{f.line}\0{f.title}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
        n = 1
        unique = fp
        while unique in seen:
            n += 1
            unique = f"{fp}-{n}"
        seen.add(unique)
        issues.append(issue(f, unique))
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
