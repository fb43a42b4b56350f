"""Prompt: fixed instructions and schema first (cacheable by the server), then the unit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .config import CATEGORIES, SEVERITIES
from .languages import display_language
from .units import Unit

GUIDELINE_FILES = (".gemma-review.md", "REVIEW_GUIDELINES.md", ".github/review-guidelines.md")
MAX_GUIDELINE_CHARS = 4000
REMOVED_MARK = "-"  # a deleted line: shown where it was, with no number

# The schema describes itself: each property's description is the rule the instructions
# give for it, so the prompt and the schema sent to the server cannot disagree. Examples
# stay neutral: nothing here may come from the samples or the bench set.
FINDING_PROPERTIES: dict[str, dict[str, Any]] = {
    "line": {
        "type": "integer",
        "description": "the printed number of the first line the problem is on (a numbered line, never a removed one)",
    },
    "end_line": {
        "type": "integer",
        "description": "the printed number of the last line the problem is on; equal to line for one line",
    },
    "severity": {
        "type": "string",
        # Mildest first: weak models pick the first value they see.
        "enum": list(SEVERITIES),
        "description": '"info" for a minor point that should not block anything (every style remark); '
        '"warning" for a likely problem or code that is hard to maintain; '
        '"error" only for a bug or security hole that will cause wrong results, a crash or an exploit',
    },
    "category": {
        "type": "string",
        "enum": list(CATEGORIES),
        "description": '"bug" for wrong behaviour or a crash, "security" for something exploitable, '
        '"performance" for needless work or memory, "maintainability" for code that is hard to change '
        'or understand, "style" for formatting, naming and conventions',
    },
    "title": {"type": "string", "description": "a short imperative summary of the fix, under ten words"},
    "explanation": {"type": "string", "description": "why it is a problem, in one to three sentences"},
    "existing_code": {
        "type": "string",
        "description": "the complete lines being criticised, copied verbatim without the number prefix; "
        "never shortened with ... and never a removed line",
    },
    "suggested_code": {
        "type": "string",
        "description": 'the replacement for existing_code with the same indentation, or "" when there is no concrete fix',
    },
    "confidence": {"type": "number", "description": "0.0 to 1.0: how sure you are that this is a real problem"},
}

FINDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": FINDING_PROPERTIES,
    "required": list(FINDING_PROPERTIES),
}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "description": "the problems found; empty when the code is fine",
            "items": FINDING_SCHEMA,
        }
    },
    "required": ["findings"],
}

REFACTOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "what changed and why, in one to three sentences"},
        "replacement": {"type": "string", "description": "the full new text of the selected lines"},
    },
    "required": ["summary", "replacement"],
}


def without_descriptions(schema: Any) -> Any:
    """The schema's shape only: the descriptions are given once, as the field rules."""
    if isinstance(schema, dict):
        return {k: without_descriptions(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [without_descriptions(v) for v in schema]
    return schema


def field_rules(schema: dict[str, Any]) -> str:
    """One "- name: description" line per property, in schema order."""
    return "\n".join(f"- {name}: {spec['description']}." for name, spec in schema["properties"].items())


def _compact(schema: dict[str, Any]) -> str:
    return json.dumps(without_descriptions(schema), separators=(",", ":"))


SYSTEM_PROMPT = f"""You are a senior engineer reviewing a code change. Report only concrete problems \
that matter: bugs, security holes, performance traps, and code that is genuinely hard to \
maintain. Do not comment on formatting or naming taste, do not praise, do not restate the code.

An empty list is the expected answer for good code: answer {{"findings": []}} unless you are \
sure something is wrong. Never invent a problem to have something to say, and report each \
problem once.

How the code is shown: each line is prefixed by its number and a bar, like "   12 | code". \
Lines marked with ">" are the ones that changed: review those (the rest is context). Lines \
marked with "{REMOVED_MARK}" and no number were deleted by the change: they are no longer in the \
file, so judge what deleting them does, report it on the nearest numbered line, and never \
quote them. The numbers, bars and marks are not part of the code: never comment on them.

Answer with JSON only, exactly this schema:
{_compact(REVIEW_SCHEMA)}

Field rules:
{field_rules(FINDING_SCHEMA)}"""

REFACTOR_SYSTEM_PROMPT = f"""You are a senior engineer. Refactor the selected code to be clearer \
and correct, keeping its behaviour except where it is plainly a bug (then fix the bug and say so). \
Keep the same language, indentation and public names. The code is given with line numbers \
("   12 | code"); do not include them in your answer.

Answer with JSON only, exactly this schema:
{_compact(REFACTOR_SCHEMA)}
{field_rules(REFACTOR_SCHEMA)}"""

def number_lines(start: int, lines: tuple[str, ...] | list[str], changed: frozenset[int] | set[int]) -> str:
    return "\n".join(
        f"{'>' if start + i in changed else ' '}{start + i:>5} | {line}" for i, line in enumerate(lines)
    )


def removed_line(text: str) -> str:
    """A deleted line as the prompt shows it: the mark, no number, the bar, the old text."""
    return f"{REMOVED_MARK}{'':>5} | {text}"


def unit_prompt_lines(unit: Unit) -> list[str]:
    """The unit's code as prompt lines: numbered lines, changed ones marked, deleted lines at their place."""
    gone = {at: (lines, cut) for at, lines, cut in unit.removed}

    def deleted(at: int) -> list[str]:
        if at not in gone:
            return []
        lines, cut = gone[at]
        out = [removed_line(t) for t in lines]
        if cut:
            out.append(removed_line(f"({cut} more removed lines not shown)"))
        return out

    out: list[str] = []
    for i, text in enumerate(unit.lines):
        n = unit.start + i
        out.extend(deleted(n))
        out.append(f"{'>' if n in unit.changed else ' '}{n:>5} | {text}")
    out.extend(deleted(unit.end + 1))
    return out


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


def review_messages(unit: Unit, guidelines: str = "", learned: str = "") -> list[dict[str, str]]:
    """``learned``: the team's dismissals (``learn = true``), after the instructions and the
    guidelines, so the prefix a server caches reads the same with and without them."""
    parts = []
    if guidelines:
        parts.append(f"Project review guidelines (follow them):\n{guidelines}\n")
    if learned:
        parts.append(learned)
    scope = "the whole file" if unit.whole_file else "a changed region"
    parts.append(
        f"File: {unit.path} ({display_language(unit.language, unit.path)}), lines {unit.start}-{unit.end}, {scope}:"
    )
    parts.append("\n".join(unit_prompt_lines(unit)))
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


VERIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirmed": {
            "type": "boolean",
            "description": "true only if the finding is a real problem in the code shown; false to withdraw it",
        },
        "reason": {"type": "string", "description": "one sentence saying why"},
    },
    "required": ["confirmed", "reason"],
}

VERIFY_SYSTEM_PROMPT = f"""You check one finding of an automated code review. Read the code \
and decide whether the finding describes a real problem in it. Withdraw it when the code does \
not do what the finding claims, when the problem is only a matter of taste, or when you are unsure.

Answer with JSON only, exactly this schema:
{_compact(VERIFY_SCHEMA)}
{field_rules(VERIFY_SCHEMA)}"""


def verify_messages(unit: Unit, line: int, end_line: int, severity: str, category: str, title: str, explanation: str) -> list[dict[str, str]]:
    """The short second request: the finding, then the code it is about."""
    finding = (
        f"Finding on lines {line}-{end_line} ({severity}, {category}): {title}\n"
        f"Explanation: {explanation or '(none)'}"
    )
    code = "\n".join(unit_prompt_lines(unit))
    return [
        {"role": "system", "content": VERIFY_SYSTEM_PROMPT},
        {"role": "user", "content": f"{finding}\n\nFile: {unit.path} ({display_language(unit.language, unit.path)}):\n{code}"},
    ]


def prompt_version(*parts: str | dict[str, Any]) -> str:
    """A short hash of prompt texts and schemas (schemas hashed with their descriptions)."""
    blob = "\0".join(p if isinstance(p, str) else json.dumps(p, sort_keys=True) for p in parts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# The cache key's prompt part: any change to the instructions, a schema or the way code is
# shown is a new version, so a cached review is never served for a prompt now asked differently.
PROMPT_VERSION = prompt_version(
    SYSTEM_PROMPT, REVIEW_SCHEMA, VERIFY_SYSTEM_PROMPT, VERIFY_SCHEMA, number_lines(7, ["x"], {7}), removed_line("x")
)
