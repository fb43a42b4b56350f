"""One review run: plan, cache, ask, decide what is shown, and tell subscribers as it goes.

A :class:`ReviewRun` holds everything one review knows while it runs (the plan, the cache
lookups and writes, the show policy's decisions, progress per file) and emits typed
events (:mod:`gemma_review.events`). It runs synchronously in the caller's thread; a
front end that must not block runs it through :mod:`gemma_review.runner`, and may read
:meth:`ReviewRun.snapshot` from another thread when it stops waiting.

Changes are reviewed in batches, each planned just before it is asked: the hook puts the
small, hand-written files first so a multi-megabyte generated file cannot spend the whole
budget before they are looked at.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from . import events as ev
from . import findings as fnd
from .backends.base import Backend
from .cache import ReviewCache
from .config import Settings
from .context import TokenMeter
from .decisions import Decisions, stale
from .errors import ReviewCancelled
from .findings import Dropped, Finding
from .intake import FileChange
from .policy import Folded, ShowPolicy
from .result import SKIP_INPUT, SKIP_NOTHING, SKIP_SELECTED, Progress, ReviewResult, Skip, VerifyStats, measured_tps
from .runner import CancelToken, in_order
from .scheduler import Parallelism, Priority, Scheduler
from .textfile import split_lines
from .units import Unit

if TYPE_CHECKING:
    from .fixes import FixDecision
    from .verdicts import Learning
    from .model_request import Answer
    from .packing import Request


@dataclass(frozen=True)
class Choice:
    """The backend a run talks to, why, and the settings it really runs with."""

    backend: Backend
    reason: str
    notice: str | None
    demo: bool
    settings: Settings  # the demo model's output is capped, for one


class RunHost(Protocol):
    """What a run needs from its engine (the engine is the only implementation)."""

    settings: Settings
    cache: ReviewCache | None
    guidelines: str | None

    @property
    def scheduler(self) -> Scheduler: ...

    @property
    def parallelism(self) -> Parallelism: ...

    @property
    def choice(self) -> Choice: ...

    @property
    def chosen(self) -> Choice | None: ...

    def selected(self, change: FileChange) -> str | None: ...

    @property
    def meter(self) -> TokenMeter: ...

    def units_for(self, change: FileChange, settings: Settings | None = None, meter: TokenMeter | None = None) -> list[Unit]: ...

    def unit_token_budget(self, settings: Settings | None = None, meter: TokenMeter | None = None) -> int: ...

    def cache_key(self, unit: Unit, learned: str = "") -> str: ...

    def decide_fix(self, f: Finding, text: str) -> FixDecision: ...

    def current_decisions(self) -> Decisions | None: ...

    def remember(self, findings: list[Finding]) -> None: ...

    def learning(self, decisions: Decisions | None) -> Learning: ...

    def calibrate(self) -> None: ...

    def count_verdicts(self, kind: str, findings: list[Finding], once_a_day: bool = False) -> None: ...


@dataclass
class _File:
    change: FileChange
    lines: list[str]
    units: list[Unit]
    done: int = 0


@dataclass
class ReviewRun:
    host: RunHost
    batches: Sequence[Sequence[FileChange]]
    subscriber: ev.Subscriber = ev.nobody
    priority: Priority | None = None
    share_requests: bool = True  # False: never pack two files into one request
    result: ReviewResult = field(default_factory=ReviewResult)
    files: dict[str, _File] = field(default_factory=dict)  # planned so far
    _policy: ShowPolicy | None = None
    _learning: Learning | None = None
    _suppressed: list[Finding] = field(default_factory=list)  # hidden by an ignore comment (counted as ignored)
    _pending_writes: list[tuple[str, int, list[Finding], bool]] = field(default_factory=list)
    _done: int = 0
    _total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- running ------------------------------------------------------------------------
    def execute(self, token: CancelToken | None = None) -> ReviewResult:
        """Review every batch; cancellation (or the token's deadline) ends it with what it has."""
        token = token or CancelToken()
        started = time.monotonic()
        self.result.model = self.host.settings.model
        try:
            for batch in self.batches:
                token.check()
                self._review_batch(batch, token)
        except ReviewCancelled:
            self.result.cancelled = True
        finally:
            # Cache writes of the whole review go in one transaction at the end (also when cancelled).
            if self.host.cache is not None and self._pending_writes:
                self.host.cache.put_many(self._pending_writes)
                self._pending_writes = []
        r = self.result
        chosen = self.host.chosen
        if chosen is not None:
            r.backend, r.model, r.demo = getattr(chosen.backend, "name", ""), _model_of(chosen), chosen.demo
        else:
            r.backend = "cache"  # no model was needed
        if self._total == 0:
            r.model, r.demo = "", False  # nothing was reviewed: no model to name (backend stays "cache")
        r.findings = fnd.in_report_order(self._policy.shown if self._policy else [])
        r.dismissed = fnd.in_report_order(self._policy.dismissed if self._policy else [])
        if self._policy is not None and self._policy.decisions is not None:
            self._note_stale(self._policy.decisions)
        self.host.remember(r.findings + r.dismissed)
        self._count_verdicts()
        for note in self._policy.notes() if self._policy else []:
            self._note(note)
        r.wall_seconds = time.monotonic() - started
        self.subscriber(ev.Done(r))
        return r

    def _count_verdicts(self) -> None:
        """Shown and ignore-comment findings, once per fingerprint a day (gemma_review.verdicts)."""
        self.host.count_verdicts("shown", self.result.findings, once_a_day=True)
        self.host.count_verdicts("ignored", self._suppressed, once_a_day=True)
        if self._learning is not None:
            self.result.adapted = self._learning.explain()

    @property
    def learned(self) -> Learning:
        """What ``learn = true`` adapts in this run (nothing with learn off)."""
        if self._learning is None:
            self._learning = self.host.learning(self.policy.decisions)
        return self._learning

    @property
    def policy(self) -> ShowPolicy:
        if self._policy is None:  # made once the backend is chosen: the demo model caps settings
            decisions = self.host.current_decisions()
            self._policy = ShowPolicy(self._settings, decisions=decisions)
            self._policy.learned = self.learned.min_confidence()
            if decisions is not None and decisions.warning:
                self._note(decisions.warning)
        return self._policy

    def _note_stale(self, decisions: Decisions) -> None:
        """How many decisions about the reviewed files name code those files no longer hold."""
        n = sum(
            1 for d in decisions.records
            if d.path in self.files and self.files[d.path].change.text is not None
            and stale(d, self.files[d.path].change.text or "")
        )
        if n:
            self._note(
                f"{n} decision{'s' if n != 1 else ''} in .gemma-review/decisions.jsonl name{'s' if n == 1 else ''} code "
                f"no longer in {'its' if n == 1 else 'their'} file; `gemma-review decisions prune` removes records whose code is gone"
            )

    @property
    def _settings(self) -> Settings:
        return self.host.choice.settings

    def _plan(self, batch: Sequence[FileChange]) -> list[_File]:
        wanted: list[FileChange] = []
        for change in batch:
            if change.skip_reason:
                self._skip(Skip(change.path, change.skip_reason, SKIP_INPUT))
                continue
            reason = self.host.selected(change)
            if reason:
                self._skip(Skip(change.path, reason, SKIP_SELECTED))
                continue
            wanted.append(change)
        if not wanted:
            return []
        choice = self.host.choice  # chosen before the budget: the demo model changes num_predict
        r = self.result
        r.model = _model_of(choice)
        planned: list[_File] = []
        for change in wanted:
            units = self.host.units_for(change, choice.settings, self.host.meter)
            if not units:
                self._skip(Skip(change.path, "no reviewable lines", SKIP_NOTHING))
                continue
            assert change.text is not None
            planned.append(_File(change, split_lines(change.text), units))
        with self._lock:
            for f in planned:
                self.files[f.change.path] = f
                r.files[f.change.path] = f.change
            self._total += sum(len(f.units) for f in planned)
            r.units = self._total
        self.subscriber(ev.Planned(
            tuple(f.change.path for f in planned), self._total, tuple(r.skipped), r.model, getattr(choice.backend, "name", ""), choice.notice,
        ))
        return planned

    def _review_batch(self, batch: Sequence[FileChange], token: CancelToken) -> None:
        planned = self._plan(batch)
        # The total, before any model call, so callers need not build the units to know it.
        self._progress(planned[0].change.path if planned else "")
        if not planned:
            return
        host = self.host
        keys: dict[Unit, str] = {}
        misses: list[Unit] = []
        learned = self.learned
        for file in planned:
            for unit in file.units:
                key = host.cache_key(unit, learned.examples(unit.path))
                hit = host.cache.get(key, unit.start) if host.cache else None
                if hit is None:
                    keys[unit] = key
                    misses.append(unit)
                    continue
                self.result.cached_units += 1
                for f in hit[0]:
                    self._consider(replace(f, path=unit.path, fingerprint=fnd.fingerprint(
                        unit.path, f.category, file.lines[f.line - 1 : f.end_line])))
                self._unit_done(unit)
        if not misses:
            return
        # Only a run with something to ask pays for importing the request machinery.
        from .model_request import Asker
        from .packing import pack

        settings = host.choice.settings
        sizes = {path: len(f.lines) for path, f in self.files.items()}
        lines_of = {path: f.lines for path, f in self.files.items()}
        host.calibrate()
        meter = host.meter
        budget = host.unit_token_budget(settings, meter)
        # A request carries the examples of one file: with examples, files are not packed together.
        shared = self.share_requests and not any(learned.examples(u.path) for u in misses)
        requests = pack(misses, budget, meter.estimate, sizes, across_files=shared)
        self.result.requests += len(requests)
        on_text = (lambda text: self.subscriber(ev.Streamed(text)))
        asker = Asker(host.choice.backend, settings, host.scheduler, host.guidelines, self.policy.cap, on_text, meter,
                      learned.examples)
        jobs = max(1, min(host.parallelism.jobs, len(requests)))
        if jobs == 1:  # findings are shown as they stream
            for request in requests:
                token.check()
                self._apply(asker.ask(request, lines_of, sizes, token, self.priority, self._consider), keys, False)
            return

        def ask(request: Request, stop: CancelToken) -> Answer:
            return asker.ask(request, lines_of, sizes, stop, self.priority, None)

        # Several in flight; each answer is shown in request order, so output is deterministic.
        for answer in in_order(ask, requests, jobs, token):
            self._apply(answer, keys, True)

    def _apply(self, answer: Answer, keys: dict[Unit, str], show: bool) -> None:
        r = self.result
        if show:
            for f in answer.found:
                self._consider(f)
        for note in answer.notes:
            self._note(note)
        r.prompt_tokens_estimated += answer.estimated
        if answer.metrics is not None:
            r.metrics.add(answer.metrics)
        r.raw_findings += answer.raw_findings
        for d in answer.dropped:
            self._drop(d)
        r.loops_stopped += answer.loops_stopped
        if answer.verify is not None:
            r.verify = r.verify or VerifyStats()
            r.verify.add(answer.verify)
            r.metrics.add(answer.verify.metrics)
        for index, unit in enumerate(answer.request.units):
            if self.host.cache is not None and index not in answer.unreviewed:
                found = [replace(f, fix=None) for f in answer.of_unit(index)]
                self._pending_writes.append((keys[unit], unit.start, found, answer.truncated))
            self._unit_done(unit)

    # --- decisions and events -----------------------------------------------------------
    def _consider(self, f: Finding) -> None:
        """The show policy's decision on one anchored finding; shown ones get their fix."""
        file = self.files[f.path]
        decided = self.policy.decide(f, file.change.changed_lines(), file.lines)
        if isinstance(decided, Dropped):
            if decided.reason == "suppressed":
                self._suppressed.append(self.policy.cap(f))
            return self._drop(decided)
        if isinstance(decided, Folded):  # another place of a finding shown: it keeps its fix, gets no new one
            self._drop(decided.dropped)
            self.subscriber(ev.Updated(decided.into))
            return None
        assert file.change.text is not None
        decision = self.host.decide_fix(decided, file.change.text)
        decided.fix, decided.fix_rejected = decision.fix, decision.rejected
        self.subscriber(ev.Found(decided))

    def _drop(self, d: Dropped) -> None:
        self.result.dropped.append(d)
        self.subscriber(ev.DroppedFinding(d))

    def _skip(self, skip: Skip) -> None:
        self.result.skipped.append(skip)
        self.subscriber(ev.Skipped(skip))

    def _note(self, text: str) -> None:
        self.result.notes.append(text)
        self.subscriber(ev.Note(text))

    def _unit_done(self, unit: Unit) -> None:
        with self._lock:
            self._done += 1
            self.files[unit.path].done += 1
        self._progress(unit.path)

    def _progress(self, path: str) -> None:
        r = self.result
        self.subscriber(ev.ProgressMade(Progress(self._done, self._total, path, r.cached_units, measured_tps(r.metrics))))

    # --- for a caller that stopped waiting ----------------------------------------------
    def snapshot(self) -> ReviewResult:
        """What the run has so far, safe to read from another thread while it runs."""
        r = self.result
        with self._lock:
            shown = list(self._policy.shown) if self._policy else []
            files = dict(r.files)
        return replace(
            r, findings=fnd.in_report_order(shown), files=files, skipped=list(r.skipped), notes=list(r.notes),
            dropped=list(r.dropped), units=self._done, cancelled=True,
        )

    def unreviewed(self, count: Callable[[FileChange], int]) -> tuple[list[tuple[str, int]], int]:
        """(path, units not reviewed) for every file it was to review, and the units in all.

        ``count`` gives the units of a file not planned yet (a batch that never started)."""
        with self._lock:
            planned = {path: (len(f.units), f.done) for path, f in self.files.items()}
        skipped = {s.path for s in self.result.skipped}
        out: list[tuple[str, int]] = []
        total = 0
        for batch in self.batches:
            for change in batch:
                if change.path in planned:
                    units, done = planned[change.path]
                elif change.skipped or change.path in skipped or self.host.selected(change) is not None:
                    continue
                else:
                    units, done = count(change), 0
                total += units
                if units - done > 0:
                    out.append((change.path, units - done))
        return out, total

    def done_counts(self) -> Counter[str]:
        with self._lock:
            return Counter({path: f.done for path, f in self.files.items() if f.done})


def _model_of(choice: Choice) -> str:
    return str(getattr(choice.backend, "model", "") or choice.settings.model)
