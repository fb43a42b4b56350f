"""Findings: validate what the model said, anchor it in the file, filter and merge.

A finding is kept only if the code it quotes (``existing_code``) is found near the
lines it claims, inside the unit it was asked about: exact match first, then ignoring
whitespace, then fuzzy. Otherwise it is dropped, never guessed.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .config import CATEGORIES, SEVERITIES, Settings
from .units import Unit

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_SEVERITY_ALIASES = {
    "critical": "error", "high": "error", "blocker": "error", "major": "error",
    "medium": "warning", "moderate": "warning", "warn": "warning",
    "low": "info", "minor": "info", "note": "info", "suggestion": "info", "hint": "info",
}
_CATEGORY_ALIASES = {
    "correctness": "bug", "logic": "bug", "error": "bug", "bugs": "bug",
    "vulnerability": "security", "perf": "performance", "readability": "maintainability",
    "design": "maintainability", "clarity": "maintainability", "formatting": "style",
}
_PREFIX = re.compile(r"^[> ]?\s*\d+ \| ?")
_SUPPRESS = re.compile(r"gemma-review:\s*ignore(?:\[([a-z ,]+)\])?", re.IGNORECASE)
_COMMENT_OPENERS = {"", "#", "//", "/*", "/**", "*", "--", ";", ";;", "<!--", "%", "{/*"}
FUZZY_RATIO = 0.85


@dataclass
class Fix:
    """Replace lines ``start_line..end_line`` (whole lines) with ``replacement``."""

    start_line: int
    end_line: int
    replacement: str  # the new lines joined by "\n", no trailing newline
    content_hash: str  # of the text the fix applies to; a stale fix is refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_line": self.start_line,
            "end_line": self.end_line,
            "replacement": self.replacement,
            "content_hash": self.content_hash,
        }


@dataclass
class Finding:
    path: str
    line: int
    end_line: int
    column: int  # 1-based, in characters
    end_column: int
    severity: str
    category: str
    title: str
    explanation: str
    existing_code: str
    suggested_code: str
    confidence: float
    fingerprint: str = ""
    fix: Fix | None = None
    fix_rejected: str | None = None  # why suggested_code is not offered as an edit
    extra: dict[str, Any] = field(default_factory=dict)

    def at_least(self, severity: str) -> bool:
        return SEVERITY_RANK[self.severity] >= SEVERITY_RANK[severity]

    def moved(self, delta: int) -> Finding:
        """The same finding ``delta`` lines lower (cache hits for code that moved)."""
        import dataclasses

        fix = None
        if self.fix is not None:
            fix = dataclasses.replace(self.fix, start_line=self.fix.start_line + delta, end_line=self.fix.end_line + delta)
        return dataclasses.replace(self, line=self.line + delta, end_line=self.end_line + delta, fix=fix)


def normalize(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Coerce one model finding to the contract, or None when it is unusable."""

    def text(key: str) -> str:
        value = raw.get(key, "")
        return value if isinstance(value, str) else ("" if value is None else str(value))

    try:
        line = int(raw.get("line"))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # json.loads accepts Infinity
        return None
    try:
        end_line = int(raw.get("end_line", line))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        end_line = line
    title = " ".join(text("title").split())
    if not title:
        return None
    severity = text("severity").strip().lower()
    severity = _SEVERITY_ALIASES.get(severity, severity)
    if severity not in SEVERITY_RANK:
        severity = "warning"
    category = text("category").strip().lower()
    category = _CATEGORY_ALIASES.get(category, category)
    if category not in CATEGORIES:
        category = "maintainability"
    try:
        confidence = float(raw.get("confidence", 0.5))
    except (TypeError, ValueError):
        confidence = 0.5
    if not math.isfinite(confidence):
        confidence = 0.5  # NaN would pass no threshold and is not valid JSON output
    if confidence > 1.0 and confidence <= 100.0:
        confidence /= 100.0  # some models answer in percent
    return {
        "line": line,
        "end_line": max(line, end_line),
        "severity": severity,
        "category": category,
        "title": title[:200],
        "explanation": text("explanation").strip(),
        "existing_code": strip_numbers(text("existing_code")),
        "suggested_code": strip_numbers(text("suggested_code")),
        "confidence": min(max(confidence, 0.0), 1.0),
    }


def strip_numbers(code: str) -> str:
    """Models sometimes copy the "  12 | " prefixes; take them off when every line has one."""
    lines = code.split("\n")
    real = [ln for ln in lines if ln.strip()]
    if real and all(_PREFIX.match(ln) for ln in real):
        lines = [_PREFIX.sub("", ln, count=1) for ln in lines]
    return "\n".join(lines)


def _quote_lines(code: str) -> list[str]:
    lines = [ln.rstrip() for ln in code.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _squash(s: str) -> str:
    return "".join(s.split())


def anchor(unit: Unit, claimed: int, existing_code: str) -> tuple[int, int] | None:
    """Where in ``unit`` the quoted code really is (start, end lines), nearest ``claimed``."""
    quote = _quote_lines(existing_code)
    lines = [ln.rstrip() for ln in unit.lines]
    if not quote:
        if unit.start <= claimed <= unit.end:
            return claimed, claimed
        return None
    k = len(quote)
    positions = range(unit.start, unit.end - k + 2)

    def nearest(matches: list[int]) -> int | None:
        return min(matches, key=lambda p: abs(p - claimed)) if matches else None

    def window(p: int) -> list[str]:
        return lines[p - unit.start : p - unit.start + k]

    exact = [p for p in positions if window(p) == quote]
    if not exact:
        # Indentation lost or changed by the model.
        squashed = [_squash(q) for q in quote]
        exact = [p for p in positions if [_squash(w) for w in window(p)] == squashed]
    best = nearest(exact)
    if best is not None:
        return best, best + k - 1
    if k == 1:
        # A fragment of one line ("prev_date = current") anchors the line holding it.
        needle = _squash(quote[0])
        hits = [unit.start + i for i, ln in enumerate(lines) if needle and needle in _squash(ln)]
        best = nearest(hits)
        if best is not None:
            return best, best
    target = "\n".join(_squash(q) for q in quote)
    best_score: tuple[float, int] | None = None
    for p in positions:
        candidate = "\n".join(_squash(w) for w in window(p))
        ratio = difflib.SequenceMatcher(None, target, candidate, autojunk=False).ratio()
        score = (ratio, -abs(p - claimed))
        if ratio >= FUZZY_RATIO and (best_score is None or score > best_score):
            best_score, best = score, p
    if best is not None:
        return best, best + k - 1
    return None


def fingerprint(path: str, category: str, code_lines: list[str]) -> str:
    """Stable across line moves and model rewording: file, category and the anchored code."""
    body = "\n".join(_squash(ln) for ln in code_lines)
    return hashlib.sha256(f"{path}\0{category}\0{body}".encode("utf-8", "surrogateescape")).hexdigest()[:16]


def suppressed(file_lines: list[str], f: Finding) -> bool:
    """``# gemma-review: ignore`` or ``ignore[bug,style]`` on the finding's lines or the line above.

    The line above counts only when the comment is all it holds: a trailing comment on the
    previous statement silences that statement, not the next one.
    """
    for n in range(max(1, f.line - 1), min(f.end_line, len(file_lines)) + 1):
        line = file_lines[n - 1]
        m = _SUPPRESS.search(line)
        if m and n < f.line and line[: m.start()].strip() not in _COMMENT_OPENERS:
            continue
        if m:
            cats = m.group(1)
            if cats is None or f.category in {c.strip().lower() for c in cats.split(",")}:
                return True
    return False


def passes(f: Finding, settings: Settings) -> bool:
    return (
        f.confidence >= settings.min_confidence
        and f.at_least(settings.min_severity)
        and f.category in settings.categories
    )


def build_finding(unit: Unit, raw: dict[str, Any], file_lines: list[str]) -> Finding | None:
    """Normalize and anchor one model finding; None when it cannot be trusted."""
    data = normalize(raw)
    if data is None:
        return None
    span = anchor(unit, data["line"], data["existing_code"])
    if span is None:
        return None
    start, end = span
    first, last = file_lines[start - 1], file_lines[end - 1]
    column = len(first) - len(first.lstrip()) + 1
    code = file_lines[start - 1 : end]
    return Finding(
        path=unit.path,
        line=start,
        end_line=end,
        column=column,
        end_column=len(last) + 1,
        severity=data["severity"],
        category=data["category"],
        title=data["title"],
        explanation=data["explanation"],
        existing_code="\n".join(code),
        suggested_code=data["suggested_code"],
        confidence=data["confidence"],
        fingerprint=fingerprint(unit.path, data["category"], code),
    )


def in_changed(f: Finding, changed: set[int] | frozenset[int]) -> bool:
    return any(n in changed for n in range(f.line, f.end_line + 1))


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (fingerprint) or per overlapping same-category title; the surest wins."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda x: -x.confidence):
        dup = False
        for k in kept:
            same_code = k.fingerprint == f.fingerprint
            overlap = k.path == f.path and k.line <= f.end_line and f.line <= k.end_line
            same_title = _squash(k.title.lower()) == _squash(f.title.lower())
            if same_code or (overlap and (same_title or k.category == f.category)):
                dup = True
                break
        if not dup:
            kept.append(f)
    return sorted(kept, key=lambda x: (x.path, x.line, x.column, -SEVERITY_RANK[x.severity]))
