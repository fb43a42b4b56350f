"""Findings: validate what the model said, anchor it in the file, filter and merge.

A finding is kept only if the code it quotes (``existing_code``) is found near the
lines it claims, inside the unit it was asked about: exact match first, then ignoring
whitespace, then fuzzy. Otherwise it is dropped, never guessed.

The anchoring policy is strict (docs/how-it-works.md, "How findings are anchored"):

- a quote with an elision (``...``, ``…``) or a placeholder ("rest of the code") is an
  anchor only where it is literally in the code (whole lines, or a fragment of one line):
  real code does hold ``...`` (spread, variadics, Ellipsis); never by similarity;
- fuzzy matching needs a similarity of at least ``FUZZY_RATIO`` over a window of exactly
  as many lines as the quote, so a multi-line quote never lands on a single line;
- a one-line fragment needs ``MIN_FRAGMENT_CHARS`` non-blank characters;
- findings about the prompt's own format (line-number prefixes, ``>`` markers) are dropped.

Every finding that is not kept has a :class:`Dropped` record saying why.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .config import CATEGORIES, SEVERITIES
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
FUZZY_RATIO = 0.85  # difflib ratio over whitespace-free text; below it a quote is not the code
MIN_FRAGMENT_CHARS = 4  # "i+=1": shorter fragments ("x", "(") would anchor almost anywhere
_ELISION = re.compile(
    r"\.\.\.|\u2026|\[\s*\.\.\.\s*\]"
    r"|\b(?:rest of (?:the )?(?:code|function|file|body)|(?:existing|original|remaining|other|your) code"
    r"|code (?:here|omitted))\b",
    re.IGNORECASE,
)
# A finding about how the prompt shows code ("Remove unnecessary line numbers", "the '>' marker").
_PROMPT_FORMAT = re.compile(
    r"line[- ]?number(?:s|ing)?\s+(?:prefix|prefixes|marker|markers|column)"
    r"|\b(?:remove|unnecessary|redundant|extra|delete|strip)\b[^.]*\bline[- ]?numbers?\b"
    r"|\bline[- ]?numbers?\b[^.]*\b(?:removed|unnecessary|redundant|deleted|stripped)\b"
    r"|[\'\"`]>[\'\"`]\s*(?:marker|prefix|symbol|character|sign)"
    r"|\b(?:marker|prefix)\s+[\'\"`]>[\'\"`]",
    re.IGNORECASE,
)

# Why a raw finding was not reported; the keys of JSON's "dropped" and of --explain.
DROP_REASONS = {
    "unusable": "not a usable finding (no line or title)",
    "no anchor": "the quoted code is not in the reviewed lines",
    "elided quote": "the quote elides code (... or a placeholder) and matches nothing exactly",
    "prompt format": "about the prompt's own format (line numbers, markers), not the code",
    "below confidence": "confidence below min_confidence",
    "severity filter": "below min_severity or in a category not asked for",
    "outside changed lines": "on lines that did not change",
    "suppressed": "silenced by a gemma-review: ignore comment",
    "dismissed": "the team decided about it (.gemma-review/decisions.jsonl)",
    "duplicate": "the same problem as a finding already reported",  # detail "folded into FP": another location of it
    "loop": "a copy written while the model was looping",
    "cut off": "the reply stopped in the middle of this finding",
}


@dataclass
class Dropped:
    """A raw finding the engine did not report, and why (``reason`` is a DROP_REASONS key)."""

    path: str
    line: int | None
    title: str
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "title": self.title, "reason": self.reason, "detail": self.detail}

    @classmethod
    def of_raw(cls, path: str, raw: dict[str, Any] | None, reason: str, detail: str = "") -> Dropped:
        raw = raw or {}
        try:
            line: int | None = int(raw.get("line"))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            line = None
        title = " ".join(str(raw.get("title") or "").split())[:200]
        return cls(path, line, title, reason, detail)

    @classmethod
    def of_finding(cls, f: Finding, reason: str, detail: str = "") -> Dropped:
        return cls(f.path, f.line, f.title, reason, detail)


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


@dataclass(frozen=True)
class Location:
    """Another place of a finding's problem: the same title and category on other lines
    (issue 21 item 7). Anchored like the finding; it has no fix of its own."""

    line: int
    end_line: int
    column: int
    end_column: int
    existing_code: str

    def overlaps(self, line: int, end_line: int) -> bool:
        return self.line <= end_line and line <= self.end_line

    def moved(self, delta: int) -> Location:
        import dataclasses

        return dataclasses.replace(self, line=self.line + delta, end_line=self.end_line + delta)


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
    # The same problem on other lines, folded into this finding by the show policy (its
    # fingerprint, fix and decisions are this finding's); in the order the model wrote them.
    also: tuple[Location, ...] = ()

    def at_least(self, severity: str) -> bool:
        return SEVERITY_RANK[self.severity] >= SEVERITY_RANK[severity]

    def moved(self, delta: int) -> Finding:
        """The same finding ``delta`` lines lower (cache hits for code that moved)."""
        import dataclasses

        fix = None
        if self.fix is not None:
            fix = dataclasses.replace(self.fix, start_line=self.fix.start_line + delta, end_line=self.fix.end_line + delta)
        also = tuple(loc.moved(delta) for loc in self.also)
        return dataclasses.replace(self, line=self.line + delta, end_line=self.end_line + delta, fix=fix, also=also)

    def location(self) -> Location:
        """Where this finding is, as a :class:`Location` (to fold it into another)."""
        return Location(self.line, self.end_line, self.column, self.end_column, self.existing_code)

    def locations(self) -> tuple[Location, ...]:
        """Its own place first, then the folded ones."""
        return (self.location(), *self.also)

    def also_lines(self) -> str:
        """The folded places as a reader says them: "3, 6, 7-8" ("" when there are none)."""
        return ", ".join(str(loc.line) if loc.end_line == loc.line else f"{loc.line}-{loc.end_line}" for loc in self.also)

    def also_sentence(self) -> str:
        """ "Also on lines 3, 6." for reports that name one place per problem ("" when alone)."""
        if not self.also:
            return ""
        return f"Also on line{'s' if len(self.also) > 1 or self.also[0].end_line > self.also[0].line else ''} {self.also_lines()}."

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Finding:
        """The inverse of ``dataclasses.asdict`` (the cache's and last-findings' round trip)."""
        item = dict(item)
        fix = item.pop("fix", None)
        also = tuple(Location(**loc) for loc in item.pop("also", None) or ())
        return cls(**item, fix=Fix(**fix) if fix else None, also=also)


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


def elided(code: str) -> bool:
    """The quote may stand for code it does not show (``...``, ``…``, "rest of the code").

    Such a quote still anchors where it is literally in the code (a JS spread, a Go
    variadic), never by similarity.
    """
    return _ELISION.search(code) is not None


def about_prompt_format(raw_quote: str, title: str, explanation: str) -> bool:
    """The finding criticises how the prompt printed the code, not the code."""
    if raw_quote.strip() and not strip_numbers(raw_quote).strip():
        return True  # the quote is nothing but a "  12 | " prefix
    return _PROMPT_FORMAT.search(f"{title}\n{explanation}") is not None


def anchor(unit: Unit, claimed: int, existing_code: str) -> tuple[int, int] | None:
    """Where in ``unit`` the quoted code really is (start, end lines), nearest ``claimed``."""
    quote = _quote_lines(existing_code)
    loose = not elided(existing_code)  # an elided quote may only match literally
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
        if len(needle) < MIN_FRAGMENT_CHARS:
            needle = ""
        hits = [unit.start + i for i, ln in enumerate(lines) if needle and needle in _squash(ln)]
        best = nearest(hits)
        if best is not None:
            return best, best
    if not loose:
        return None
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


# The engine's severity rule (docs/how-it-works.md, "Severity"): how bad a finding may be depends on what
# it is about. A style remark never blocks a commit; only a bug or a security hole is an error.
# The limits are the ``severity_limits`` setting, parsed by config.parse_severity_limits.


def cap_severity(f: Finding, limits: dict[str, str]) -> Finding:
    """``f`` with its severity lowered to its category's limit (the original kept in ``extra``)."""
    import dataclasses

    cap = limits.get(f.category)
    if cap is None or SEVERITY_RANK[f.severity] <= SEVERITY_RANK[cap]:
        return f
    return dataclasses.replace(f, severity=cap, extra={**f.extra, "severity_capped_from": f.severity})


def build_finding(unit: Unit, raw: dict[str, Any], file_lines: list[str]) -> Finding | None:
    """Normalize and anchor one model finding; None when it cannot be trusted."""
    built = judge(unit, raw, file_lines)
    return built if isinstance(built, Finding) else None


def judge(unit: Unit, raw: dict[str, Any], file_lines: list[str]) -> Finding | Dropped:
    """Normalize and anchor one model finding, or say why it cannot be trusted."""
    data = normalize(raw)
    if data is None:
        return Dropped.of_raw(unit.path, raw, "unusable")
    raw_quote = raw.get("existing_code") if isinstance(raw.get("existing_code"), str) else ""
    if about_prompt_format(raw_quote, data["title"], data["explanation"]):
        return Dropped.of_raw(unit.path, raw, "prompt format")
    span = anchor(unit, data["line"], data["existing_code"])
    if span is None:
        reason = "elided quote" if elided(data["existing_code"]) else "no anchor"
        return Dropped.of_raw(unit.path, raw, reason)
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


def same_problem(a: Finding, b: Finding) -> bool:
    """One rule for "the same problem": the same anchored code, or overlapping lines with the
    same category or the same title (ignoring case and spacing)."""
    if a.fingerprint == b.fingerprint:
        return True
    return overlap(a, b) and (a.category == b.category or _squash(a.title.lower()) == _squash(b.title.lower()))


def same_title(a: Finding, b: Finding) -> bool:
    """The same problem wherever it is: same file, category and title (case and spacing ignored)."""
    return a.path == b.path and a.category == b.category and _squash(a.title.lower()) == _squash(b.title.lower())


def problem_of(kept: list[Finding], f: Finding) -> Finding | None:
    """The finding of ``kept`` that ``f`` is the same problem as (:func:`same_title`), or None."""
    return next((k for k in kept if same_title(k, f)), None)


def overlap(a: Finding, b: Finding) -> bool:
    return a.path == b.path and a.line <= b.end_line and b.line <= a.end_line


def at_a_location_of(k: Finding, f: Finding) -> bool:
    """``f`` overlaps one of ``k``'s places (its own or a folded one)."""
    return k.path == f.path and any(loc.overlaps(f.line, f.end_line) for loc in k.locations())


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per problem (:func:`same_problem`); the surest wins; in report order."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda x: -x.confidence):
        if not any(same_problem(k, f) for k in kept):
            kept.append(f)
    return in_report_order(kept)


def in_report_order(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda x: (x.path, x.line, x.column, -SEVERITY_RANK[x.severity]))
