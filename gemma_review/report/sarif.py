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
# What a reader of an alert should do, per rule (GitHub shows `help` on every alert).
RULE_ADVICE = {
    "bug": "Check the flagged lines against what the code is meant to do; the alert's message says "
    "which input or path goes wrong.",
    "security": "Treat the flagged input as attacker-controlled until proven otherwise: validate it, "
    "parameterise queries and commands, and never build them from strings.",
    "performance": "Measure before and after: the alert names the repeated work or the allocation "
    "that grows with the input.",
    "maintainability": "Make the intent visible: name the value, split the function or remove the "
    "duplication the alert points at.",
    "style": "Follow the convention the rest of the file (or the repository's review guidelines) uses.",
}
# A rule id never changes: code scanning keys alerts on it (renaming one reopens every alert).
RULE_PREFIX = "gemma-review/"
# GitHub reads `security-severity` (0-10) on security rules to rank alerts.
SECURITY_SEVERITY = "7.0"
# The content fingerprint (file, category, anchored code): it survives line moves, so code
# scanning keeps one alert per problem across pushes.
FINGERPRINT_KEY = "gemmaReview/v1"
INFORMATION_URI = "https://example.invalid/gemma-review"  # the project's Homepage (pyproject.toml)


def rule_id(category: str) -> str:
    return RULE_PREFIX + category


def _rule(category: str) -> dict[str, Any]:
    what = RULE_HELP[category]
    advice = RULE_ADVICE[category]
    tags = [category] + (["security"] if category == "security" else [])
    properties: dict[str, Any] = {"tags": sorted(set(tags)), "precision": "medium", "problem.severity": "warning"}
    if category == "security":
        properties["security-severity"] = SECURITY_SEVERITY
    return {
        "id": rule_id(category),
        "name": category.capitalize(),
        "shortDescription": {"text": f"Gemma review: {category}"},
        "fullDescription": {"text": what},
        "help": {
            "text": f"{what} {advice} Findings come from a language model reading the changed code: "
            "judge each one; a suggested fix is offered only when the file still parses with it.",
            "markdown": f"**{category.capitalize()}**: {what}\n\n{advice}\n\n"
            "Findings come from a language model reading the changed code: judge each one. "
            "A suggested fix is offered only when the file still parses with it. "
            "Silence one with `# gemma-review: ignore` on the line or the line above.",
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": properties,
    }


def render(result: ReviewResult, **_: object) -> str:
    rules = [_rule(c) for c in CATEGORIES]
    index = {c: i for i, c in enumerate(CATEGORIES)}
    results: list[dict[str, Any]] = []
    # Findings the team dismissed stay results, marked suppressed (code scanning shows them closed).
    for f in [*result.findings, *result.dismissed]:
        # A URI reference: spaces and other reserved characters are percent-encoded.
        location = {"uri": quote(f.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}
        item: dict[str, Any] = {
            "ruleId": rule_id(f.category),
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
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
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
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {"model": result.model, "backend": result.backend, "demo": result.demo},
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
