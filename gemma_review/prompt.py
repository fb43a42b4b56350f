"""Prompt: fixed instructions and schema first (cacheable by the server), then the unit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import CATEGORIES, SEVERITIES
from .languages import display_language
from .units import Unit

PROMPT_VERSION = "1"
GUIDELINE_FILES = (".gemma-review.md", "REVIEW_GUIDELINES.md", ".github/review-guidelines.md")
MAX_GUIDELINE_CHARS = 4000

FINDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "line": {"type": "integer"},
        "end_line": {"type": "integer"},
        "severity": {"type": "string", "enum": list(reversed(SEVERITIES))},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "title": {"type": "string"},
        "explanation": {"type": "string"},
        "existing_code": {"type": "string"},
        "suggested_code": {"type": "string"},
        "confidence": {"type": "number"},
    },
    "required": [
        "line", "end_line", "severity", "category", "title", "explanation",
        "existing_code", "suggested_code", "confidence",
    ],
}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"findings": {"type": "array", "items": FINDING_SCHEMA}},
    "required": ["findings"],
}

REFACTOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "replacement": {"type": "string"}},
    "required": ["summary", "replacement"],
}

SYSTEM_PROMPT = f"""You are a senior engineer reviewing a code change. Report only concrete problems \
that matter: bugs, security holes, performance traps, and code that is genuinely hard to \
maintain. Do not comment on formatting or naming taste, do not praise, do not restate the code.

An empty list is the expected answer for good code: answer {{"findings": []}} unless you are \
sure something is wrong. Never invent a problem to have something to say.

Each line of code is prefixed by its line number and a bar, like "   12 | code". Lines marked \
with ">" are the ones that changed: review those (the rest is context). Use the printed line \
numbers for "line" and "end_line".

Answer with JSON only, exactly this schema:
{json.dumps(REVIEW_SCHEMA, separators=(",", ":"))}

Field rules:
- severity: "error" for bugs and security holes that will bite, "warning" for likely problems, "info" for minor ones.
- category: one of {", ".join(CATEGORIES)}.
- title: a short imperative summary ("Deduplicate dates before counting").
- explanation: why it is a problem, in one to three sentences.
- existing_code: the exact lines being criticised, copied verbatim from the input without the line-number prefix.
- suggested_code: the replacement for existing_code with the same indentation, or "" when there is no concrete fix.
- confidence: 0.0 to 1.0, how sure you are that this is a real problem."""

REFACTOR_SYSTEM_PROMPT = f"""You are a senior engineer. Refactor the selected code to be clearer \
and correct, keeping its behaviour except where it is plainly a bug (then fix the bug and say so). \
Keep the same language, indentation and public names. The code is given with line numbers \
("   12 | code"); do not include them in your answer.

Answer with JSON only, exactly this schema:
{json.dumps(REFACTOR_SCHEMA, separators=(",", ":"))}
- summary: what changed and why, in one to three sentences.
- replacement: the full new text of the selected lines."""


def number_lines(start: int, lines: tuple[str, ...] | list[str], changed: frozenset[int] | set[int]) -> str:
    return "\n".join(
        f"{'>' if start + i in changed else ' '}{start + i:>5} | {line}" for i, line in enumerate(lines)
    )


def load_guidelines(root: Path, configured: str | None) -> str:
    """The repository's own review guidelines, trimmed to a fixed budget."""
    candidates = [Path(configured)] if configured else [Path(name) for name in GUIDELINE_FILES]
    for rel in candidates:
        path = rel if rel.is_absolute() else root / rel
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            if configured:
                from .errors import ConfigError

                raise ConfigError(f"guidelines file {path} cannot be read; fix 'guidelines' in the config") from None
            continue
        return text[:MAX_GUIDELINE_CHARS]
    return ""


def review_messages(unit: Unit, guidelines: str = "") -> list[dict[str, str]]:
    parts = []
    if guidelines:
        parts.append(f"Project review guidelines (follow them):\n{guidelines}\n")
    scope = "the whole file" if unit.whole_file else "a changed region"
    parts.append(
        f"File: {unit.path} ({display_language(unit.language, unit.path)}), lines {unit.start}-{unit.end}, {scope}:"
    )
    parts.append(number_lines(unit.start, unit.lines, unit.changed))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]


def refactor_messages(path: str, language: str | None, start: int, lines: list[str], instruction: str = "") -> list[dict[str, str]]:
    body = number_lines(start, lines, frozenset())
    ask = instruction or "Refactor this code."
    return [
        {"role": "system", "content": REFACTOR_SYSTEM_PROMPT},
        {"role": "user", "content": f"{ask}\nFile: {path} ({display_language(language, path)}):\n{body}"},
    ]
