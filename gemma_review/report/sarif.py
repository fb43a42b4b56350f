"""SARIF 2.1.0, shaped so GitHub code scanning accepts it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..config import CATEGORIES
from ..result import ReviewResult
from .edits import fix_edit

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
RULE_HELP = {
    "bug": "Code that does not do what it is meant to.",
    "security": "Code an attacker could exploit.",
    "performance": "Code that wastes time or memory.",
    "maintainability": "Code that is hard to understand or change safely.",
    "style": "Code that departs from the project's conventions.",
}


def render(result: ReviewResult, **_: object) -> str:
    rules = [
        {
            "id": f"gemma-review/{c}",
            "name": c.capitalize(),
            "shortDescription": {"text": f"Gemma review: {c}"},
            "fullDescription": {"text": RULE_HELP[c]},
            "defaultConfiguration": {"level": "warning"},
            "properties": {"tags": [c]},
        }
        for c in CATEGORIES
    ]
    index = {c: i for i, c in enumerate(CATEGORIES)}
    results: list[dict[str, Any]] = []
    # Findings the team dismissed stay results, marked suppressed (code scanning shows them closed).
    for f in [*result.findings, *result.dismissed]:
        # A URI reference: spaces and other reserved characters are percent-encoded.
        location = {"uri": quote(f.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}
        item: dict[str, Any] = {
            "ruleId": f"gemma-review/{f.category}",
            "ruleIndex": index[f.category],
            "level": LEVELS[f.severity],
            "message": {"text": f"{f.title.rstrip('.')}. {f.explanation}".strip()},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": location,
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        },
                    }
                }
            ],
            "partialFingerprints": {"gemmaReview/v1": f.fingerprint},
            "properties": {"confidence": round(f.confidence, 3), "category": f.category},
        }
        decision = f.extra.get("decision")
        if decision:
            item["suppressions"] = [{"kind": "external", "justification": decision["reason"] or decision["verdict"]}]
        change = result.files.get(f.path)
        if f.fix is not None and change is not None and change.text is not None:
            edit = fix_edit(f.fix, change.text)
            item["fixes"] = [
                {
                    "description": {"text": f.title},
                    "artifactChanges": [
                        {
                            "artifactLocation": location,
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": edit["start"]["line"],
                                        "startColumn": edit["start"]["column"],
                                        "endLine": edit["end"]["line"],
                                        "endColumn": edit["end"]["column"],
                                    },
                                    "insertedContent": {"text": edit["content"]},
                                }
                            ],
                        }
                    ],
                }
            ]
        results.append(item)
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gemma-review",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://example.invalid/gemma-review",
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {"model": result.model, "backend": result.backend, "demo": result.demo},
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
