"""One policy decides which findings are shown, and names every other one's reason.

Severity caps, the changed-lines rule, confidence, severity and category filters, the
``gemma-review: ignore`` comments, the team's decisions (``.gemma-review/``) and
de-duplication (which folds the same problem on other lines into one finding with several
locations), in that order, with the reason
vocabulary of :data:`findings.DROP_REASONS` (anchoring's reasons come from
:func:`findings.judge`). JSON ``dropped``, ``--explain``, the run's notes and the LSP log
all read these records; nothing else decides.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Mapping

from . import findings as fnd
from .config import CATEGORIES, Settings, parse_severity_limits
from .decisions import Decisions
from .findings import Dropped, Finding

# The detail of a "duplicate" drop that became another location of a shown finding.
FOLDED_INTO = "folded into "


@dataclass(frozen=True)
class Folded:
    """``dropped`` ("duplicate", detail "folded into FINGERPRINT") is another location of a
    finding already shown or dismissed; ``into`` is that finding with the location added."""

    dropped: Dropped
    into: Finding

# The detail of a "severity filter" drop: which setting hid it (the notes say how to see it).
BY_SEVERITY = "min_severity"
BY_CATEGORY = "categories"
LEARNED = "learned"  # the detail of a "below confidence" drop by a threshold `learn = true` raised


def why_hidden(f: Finding, settings: Settings, changed: set[int] | frozenset[int] | None, file_lines: list[str],
               learned: Mapping[str, float] | None = None) -> tuple[str, str] | None:
    """(DROP_REASONS key, detail) of the filter that hides ``f``, or None when it passes.

    ``learned``: per category, a min_confidence ``learn = true`` raised (gemma_review.verdicts)."""
    if changed is not None and not fnd.in_changed(f, changed):
        return "outside changed lines", ""
    if f.confidence < settings.min_confidence:
        return "below confidence", ""
    if learned and f.confidence < learned.get(f.category, 0.0):
        return "below confidence", LEARNED
    if not f.at_least(settings.min_severity):
        return "severity filter", BY_SEVERITY
    if f.category not in settings.categories:
        return "severity filter", BY_CATEGORY
    if fnd.suppressed(file_lines, f):
        return "suppressed", ""
    return None


@dataclass
class ShowPolicy:
    """The decisions of one run: what it showed, and how many it hid by which filter."""

    settings: Settings
    limits: dict[str, str] = field(default_factory=dict)
    shown: list[Finding] = field(default_factory=list)
    hidden: Counter[tuple[str, str]] = field(default_factory=Counter)
    _hidden_once: set[tuple[str, str, str]] = field(default_factory=set)
    decisions: Decisions | None = None  # the repository's .gemma-review store
    dismissed: list[Finding] = field(default_factory=list)  # matched a decision (SARIF keeps them)
    learned: dict[str, float] = field(default_factory=dict)  # per category, min_confidence raised by learn

    def __post_init__(self) -> None:
        if not self.limits:
            self.limits = parse_severity_limits(self.settings.severity_limits)

    def cap(self, f: Finding) -> Finding:
        return fnd.cap_severity(f, self.limits)

    def decide(
        self, f: Finding, changed: set[int] | frozenset[int] | None, file_lines: list[str]
    ) -> Finding | Dropped | Folded:
        """``f`` (capped) when it is to be shown, else the record of why not.

        :class:`Folded` when ``f`` is the same problem (:func:`findings.same_title`) as a
        finding already shown, on other lines: that finding, with ``f``'s place added to its
        ``also``, replaces it in :attr:`shown` (the caller tells subscribers). The same
        problem as a finding the team dismissed is dismissed with it.
        """
        f = self.cap(f)
        why = why_hidden(f, self.settings, changed, file_lines, self.learned)
        if why is not None:
            reason, detail = why
            if (reason, detail, f.fingerprint) not in self._hidden_once:  # a cached copy counts once
                self._hidden_once.add((reason, detail, f.fingerprint))
                self.hidden[why] += 1
            return Dropped.of_finding(f, reason, detail)
        owner = fnd.problem_of(self.dismissed, f)
        if owner is not None and not fnd.overlap(owner, f):
            # A decision covers every location of its finding: the same problem elsewhere is dismissed with it.
            if not fnd.at_a_location_of(owner, f):
                _swap(self.dismissed, owner, replace(owner, also=(*owner.also, f.location())))
            return Dropped.of_finding(f, "dismissed", f"{FOLDED_INTO}{owner.fingerprint}")
        decision = self.decisions.match(f) if self.decisions is not None else None
        if decision is not None:
            if not any(k.fingerprint == f.fingerprint for k in self.dismissed):  # a cached copy counts once
                self.hidden[("dismissed", "")] += 1
                self.dismissed.append(replace(f, extra={**f.extra, "decision": {
                    "verdict": decision.verdict, "reason": decision.reason, "who": decision.who,
                    "when": decision.when, "fingerprint": decision.fingerprint}}))
            return Dropped.of_finding(f, "dismissed", decision.why)
        # Overlapping lines with the same category or title: a duplicate, as before folding existed.
        if any(fnd.overlap(k, f) and fnd.same_problem(k, f) for k in self.shown):
            return Dropped.of_finding(f, "duplicate")
        owner = fnd.problem_of(self.shown, f)
        if owner is not None:
            if fnd.at_a_location_of(owner, f):  # one of its folded places, reported again
                return Dropped.of_finding(f, "duplicate", f"{FOLDED_INTO}{owner.fingerprint}")
            folded = replace(owner, also=(*owner.also, f.location()))
            _swap(self.shown, owner, folded)
            return Folded(Dropped.of_finding(f, "duplicate", f"{FOLDED_INTO}{owner.fingerprint}"), folded)
        if any(fnd.same_problem(k, f) for k in self.shown):  # the same code elsewhere, another title
            return Dropped.of_finding(f, "duplicate")
        self.shown.append(f)
        return f

    def replace(self, old: Finding, new: Finding) -> None:
        """``new`` (the verification pass's verdict on ``old``) is shown in its place."""
        for i, k in enumerate(self.shown):
            if k is old:
                self.shown[i] = new
                return

    def notes(self) -> list[str]:
        """One note per filter that hid findings, saying how to see them."""
        s = self.settings
        out = []
        for key in NOTE_ORDER:
            n = self.hidden.get(key, 0)
            if not n:
                continue
            what = f"{n} finding{'s' if n != 1 else ''}"
            them = "them" if n != 1 else "it"
            reason, detail = key
            if reason == "outside changed lines":
                out.append(f"{what} outside the changed lines hidden; reviewing the whole file shows {them}")
            elif reason == "below confidence" and detail == LEARNED:
                out.append(f"{what} below the min_confidence learned for their category hidden "
                           f"(learn = true); --explain says why, learn = false shows {them}")
            elif reason == "below confidence":
                out.append(f"{what} below min_confidence {s.min_confidence:g} hidden; --min-confidence 0 shows {them}")
            elif detail == BY_SEVERITY:
                out.append(f"{what} below min_severity {s.min_severity} hidden; --min-severity info shows {them}")
            elif detail == BY_CATEGORY:
                out.append(
                    f"{what} outside categories {','.join(s.categories)} hidden; "
                    f"--categories {','.join(CATEGORIES)} shows {them}"
                )
            elif reason == "dismissed":
                out.append(f"{what} the team decided about (.gemma-review/decisions.jsonl) hidden; --explain lists {them}")
            else:
                out.append(f"{what} silenced by a gemma-review: ignore comment hidden")
        return out


def _swap(items: list[Finding], old: Finding, new: Finding) -> None:
    """Put ``new`` where ``old`` (that very object) is."""
    items[next(i for i, k in enumerate(items) if k is old)] = new


NOTE_ORDER = (
    ("outside changed lines", ""),
    ("below confidence", ""),
    ("below confidence", LEARNED),
    ("severity filter", BY_SEVERITY),
    ("severity filter", BY_CATEGORY),
    ("suppressed", ""),
    ("dismissed", ""),
)
