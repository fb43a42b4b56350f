"""Verdicts: what people did with the findings, counted on this machine, and what ``learn`` adapts.

Counts live in the cache's SQLite file (``verdicts`` table), per repository root, category
and severity; they never leave the machine:

- shown: a finding a review showed (CLI, hook, editor), once per fingerprint per day;
- fixed: ``review --fix`` wrote its fix, or the editor's quick fix (or "fix all") was applied;
- dismissed: ``dismiss`` or the editor's "Dismiss for the team…" (``accepted-risk`` too);
- ignored: the editor's "Ignore this finding", and findings a ``gemma-review: ignore``
  comment hid in a review (once per fingerprint per day).

With ``learn = true`` (off by default: see docs/learning.md) a review adapts, within fixed bounds:

- a category with at least :data:`MIN_SHOWN` showings whose dismissed+ignored rate is over
  50 % needs more confidence: ``min_confidence + 0.1`` per started 20 points over 50 %,
  at most :data:`MAX_THRESHOLD` (never lower than configured);
- the prompt carries up to :data:`MAX_EXAMPLES` of the repository's dismissals
  (``.gemma-review/decisions.jsonl``), same file first, then same language, as "judged not
  a problem here", within :data:`EXAMPLE_BUDGET` tokens, after the fixed instructions.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

from .cache import ReviewCache, default_cache_dir
from .config import CATEGORIES, Settings
from .languages import language_of
from .tokens import estimate_tokens

if TYPE_CHECKING:
    from .decisions import Decision, Decisions
    from .findings import Finding

MIN_SHOWN = 20  # showings of a category before its rate means anything
RATE_FLOOR = 0.5  # dismissed+ignored share above which a category needs more confidence
STEP_POINTS = 20  # ... +STEP per started STEP_POINTS percentage points over the floor
STEP = 0.1
MAX_THRESHOLD = 0.9  # a learned min_confidence never goes above this
MAX_EXAMPLES = 3  # dismissals carried in one prompt
EXAMPLE_BUDGET = 200  # tokens the examples block may take (header included)
EXAMPLE_HEADER = "Judged not a problem here by this team (do not report again):"
DISMISS_VERDICTS = ("dismissed", "accepted-risk")  # a baseline record is not a judgement


def folder_of(settings: Settings) -> Path:
    return Path(settings.cache_dir).expanduser() if settings.cache_dir else default_cache_dir()


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def record(settings: Settings, root: Path, kind: str, items: Iterable[tuple[str, str, str]], once_a_day: bool = False) -> int:
    """Count ``kind`` for each (category, severity, fingerprint); the number counted."""
    return ReviewCache(folder_of(settings)).count_verdicts(str(root), kind, list(items), today() if once_a_day else None)


def record_findings(settings: Settings, root: Path, kind: str, findings: Iterable[Finding], once_a_day: bool = False) -> int:
    return record(settings, root, kind, ((f.category, f.severity, f.fingerprint) for f in findings), once_a_day)


# --- rates and the learned thresholds ---------------------------------------------------


@dataclass
class Rates:
    category: str
    shown: int = 0
    fixed: int = 0
    dismissed: int = 0
    ignored: int = 0

    def share(self, n: int) -> float:
        return min(1.0, n / self.shown) if self.shown else 0.0

    @property
    def rejected(self) -> float:
        """Dismissed or ignored, as a share of shown (at most 1)."""
        return self.share(self.dismissed + self.ignored)


def rates(settings: Settings, root: Path) -> dict[str, Rates]:
    """Per category (all severities), in CATEGORIES order, only the ones with counts."""
    out: dict[str, Rates] = {}
    for category, _severity, shown, fixed, dismissed, ignored in ReviewCache(folder_of(settings)).verdict_counts(str(root)):
        r = out.setdefault(category, Rates(category))
        r.shown += shown
        r.fixed += fixed
        r.dismissed += dismissed
        r.ignored += ignored
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def learned_threshold(base: float, r: Rates) -> float | None:
    """The min_confidence ``r`` earns, or None when it stays ``base``.

    +0.1 per started 20 points of dismissed+ignored over 50 % (integer arithmetic: no
    float edge at exactly 70 %), only after MIN_SHOWN showings, at most MAX_THRESHOLD."""
    n, over = r.shown, r.dismissed + r.ignored
    if n < MIN_SHOWN or 2 * min(over, n) <= n:
        return None
    points = 100 * min(over, n) - 50 * n  # percentage points over the floor, times n
    steps = -(-points // (STEP_POINTS * n))
    raised = min(MAX_THRESHOLD, round(base + STEP * steps, 2))
    return raised if raised > base else None


@dataclass(frozen=True)
class Adapted:
    category: str
    threshold: float
    base: float
    rates: Rates

    def why(self) -> str:
        r = self.rates
        return (f"{self.category} needs confidence {self.threshold:g} (min_confidence {self.base:g}): "
                f"{round(100 * r.rejected)}% of {r.shown} shown were dismissed or ignored "
                f"({r.dismissed} dismissed, {r.ignored} ignored)")


def adaptations(settings: Settings, all_rates: dict[str, Rates]) -> dict[str, Adapted]:
    out = {}
    for category, r in all_rates.items():
        t = learned_threshold(settings.min_confidence, r)
        if t is not None:
            out[category] = Adapted(category, t, settings.min_confidence, r)
    return out


# --- examples in the prompt ---------------------------------------------------------------


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


def example_line(d: Decision) -> str:
    """One dismissal: path, category, title, reason and the first line of its code, each cut short."""
    code = next((ln.strip() for ln in d.code.splitlines() if ln.strip()), "")
    why = f" ({_cut(d.reason, 40)})" if d.reason.strip() else ""
    where = f" on `{_cut(code, 40).replace('`', chr(39))}`" if code else ""
    return f"- {_cut(d.path, 60)}, {d.category}: \u201c{_cut(d.title, 70)}\u201d{why}{where}"


def examples_block(decisions: Decisions | None, path: str, categories: Iterable[str],
                   estimate: Callable[[str], int] = estimate_tokens, k: int = MAX_EXAMPLES,
                   budget: int = EXAMPLE_BUDGET) -> str:
    """Up to ``k`` dismissals most relevant to ``path``: the same file first, then the same
    language; newest first within each; "" when none (the prompt is then unchanged)."""
    if decisions is None or not decisions.records:
        return ""
    wanted = set(categories)
    language = language_of(path)
    ranked = []
    for d in decisions.records:
        if d.verdict not in DISMISS_VERDICTS or d.category not in wanted:
            continue
        if d.path == path:
            rank = 0
        elif language is not None and language_of(d.path) == language:
            rank = 1
        else:
            continue
        ranked.append((rank, _neg(d.when), d.fingerprint, d))
    ranked.sort(key=lambda t: t[:3])
    lines = [EXAMPLE_HEADER]
    for *_, d in ranked[:k]:
        line = example_line(d)
        if estimate("\n".join([*lines, line]) + "\n") > budget:
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if len(lines) > 1 else ""


def _neg(when: str) -> str:
    """Sorts newer dates first (YYYY-MM-DD digits inverted)."""
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in when)


# --- what a run uses ------------------------------------------------------------------------


@dataclass
class Learning:
    """What ``learn = true`` adapts in one run (empty with learn off)."""

    thresholds: dict[str, Adapted] = field(default_factory=dict)
    decisions: Decisions | None = None
    categories: tuple[str, ...] = ()
    _examples: dict[str, str] = field(default_factory=dict)

    @property
    def on(self) -> bool:
        return self.decisions is not None or bool(self.thresholds)

    def min_confidence(self) -> dict[str, float]:
        return {c: a.threshold for c, a in self.thresholds.items()}

    def examples(self, path: str) -> str:
        """The examples block for a unit of ``path`` (depends on the path only, so every
        unit of one file, and a request holding only that file, carries the same block)."""
        if self.decisions is None:
            return ""
        if path not in self._examples:
            self._examples[path] = examples_block(self.decisions, path, self.categories)
        return self._examples[path]

    def explain(self) -> list[str]:
        out = [f"learned: {a.why()}" for a in self.thresholds.values()]
        used = {p: e for p, e in self._examples.items() if e}
        for path, block in sorted(used.items()):
            n = block.count("\n") - 1
            out.append(f"learned: the prompt for {path} carried {n} dismissal{'s' if n != 1 else ''} "
                       f"as \u201cjudged not a problem here\u201d (~{estimate_tokens(block)} tokens)")
        return out


def learning(settings: Settings, root: Path, decisions: Decisions | None) -> Learning:
    if not settings.learn:
        return Learning()
    return Learning(adaptations(settings, rates(settings, root)), decisions, tuple(settings.categories))


# --- gemma-review stats, doctor -------------------------------------------------------------


def would(settings: Settings, r: Rates) -> str:
    t = learned_threshold(settings.min_confidence, r)
    if t is not None:
        return f"min_confidence {settings.min_confidence:g} -> {t:g}"
    if r.shown < MIN_SHOWN:
        return f"nothing yet ({r.shown} of {MIN_SHOWN} shown)"
    return "nothing (mostly kept)"


def stats(settings: Settings, root: Path, stream: TextIO | None = None) -> int:
    """``gemma-review stats``: the rates per category of this repository, and what learning would adapt."""
    from .errors import EXIT_OK

    out = stream or sys.stdout
    all_rates = rates(settings, root)
    out.write(f"verdicts for {root} (counted on this machine, in {folder_of(settings)})\n")
    if not all_rates:
        out.write("no findings shown here yet\n")
    else:
        out.write(f"{'category':<16}{'shown':>7}{'fixed':>8}{'dismissed':>11}{'ignored':>9}  learning would adapt\n")
        for c, r in all_rates.items():
            pct = [f"{round(100 * r.share(n))}%" for n in (r.fixed, r.dismissed, r.ignored)]
            out.write(f"{c:<16}{r.shown:>7}{pct[0]:>8}{pct[1]:>11}{pct[2]:>9}  {would(settings, r)}\n")
    state = "on" if settings.learn else "off (learn = false: nothing is adapted)"
    out.write(f"learn: {state}\n")
    return EXIT_OK


def doctor_line(settings: Settings, root: Path) -> str:
    """What ``doctor`` says about learning: off, or the adapted thresholds."""
    if not settings.learn:
        return "off (learn = false; `gemma-review stats` shows what it would adapt)"
    adapted = adaptations(settings, rates(settings, root))
    if not adapted:
        return f"on: nothing adapted yet (a category needs {MIN_SHOWN} shown and over 50% dismissed or ignored)"
    return "on: " + "; ".join(a.why() for a in adapted.values())
