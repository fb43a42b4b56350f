"""The review engine: what the CLI, the hook and the language server hold.

A :class:`ReviewEngine` keeps what outlives one review: the settings, the backend it chose
(once), the cache, the scheduler of its model server and the guidelines. Each review is a
:class:`~gemma_review.run.ReviewRun` (plan -> cache -> prompt -> model -> findings -> fixes)
that emits typed events; :meth:`ReviewEngine.review` is the plain call for callers that
only want the result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from . import events as ev
from . import findings as fnd
from .backends.base import Backend, Metrics, ModelRequest
from .cache import ReviewCache, default_cache_dir, unit_key
from .config import Settings, check_privacy
from .context import MIN_ANSWER, TokenMeter, context_window
from .decisions import Decisions, Store as DecisionStore, remember
from .errors import ConfigError, ModelError
from .excludes import default_reason, generated, matches
from .findings import Finding, Fix
from .intake import FileChange
from .languages import language_of
from .packing import prefer_whole
from .prompt import PROMPT_VERSION, REFACTOR_SCHEMA, load_guidelines, refactor_messages, review_messages
from .result import Progress, ReviewResult, VerifyStats, measured_tps
from .run import Choice, ReviewRun

if TYPE_CHECKING:
    from .fixes import FixDecision
    from .verdicts import Learning
from .runner import token_for
from .scheduler import Parallelism, Priority, Scheduler, parallelism, shared_scheduler
from .textfile import split_lines
from .tokens import estimate_tokens
from .units import Unit, build_units

__all__ = ["Progress", "RefactorResult", "ReviewEngine", "ReviewResult", "VerifyStats", "measured_tps", "effective_settings"]

HEADER_TOKENS = 64
SMOKE_NUM_PREDICT = 256  # the demo model only proves the pipeline: cap its (junk) output


@dataclass
class RefactorResult:
    summary: str
    start_line: int
    end_line: int
    replacement: str
    fix: Fix | None
    metrics: Metrics
    rejected: str | None = None  # why the rewrite is not offered as an edit


BackendFactory = Callable[[Settings], Backend]


def memory_dir(settings: Settings) -> Path:
    """The cache dir (also with the cache off): where the last findings of each repository are kept."""
    return Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()


def effective_settings(settings: Settings, demo: bool) -> Settings:
    """The limits a review really runs with: the demo model's output is capped."""
    if demo and settings.num_predict > SMOKE_NUM_PREDICT:
        # It only proves the pipeline; don't make a demo wait for 1024 junk tokens.
        return replace(settings, num_predict=SMOKE_NUM_PREDICT)
    return settings


class ReviewEngine:
    def __init__(
        self,
        settings: Settings,
        root: Path | None = None,
        backend: Backend | None = None,
        cache: ReviewCache | None = None,
        use_cache: bool | None = None,
        scheduler: Scheduler | None = None,
        allow_demo: bool = False,
    ) -> None:
        self.settings = settings  # as configured; a run reads ``choice.settings``
        self.root = root or Path.cwd()
        self._given_backend = backend
        self._choice: Choice | None = None
        self._meter: TokenMeter | None = None
        # Only `review`, `bench` and `doctor` let `auto` fall back to the demo model.
        self.allow_demo = allow_demo
        # Every streamed chunk of a reply, for callers of review() (a run emits Streamed events).
        self.on_text: Callable[[str], None] | None = None
        use = settings.cache if use_cache is None else use_cache
        if cache is None and use:
            cache = ReviewCache(Path(settings.cache_dir) if settings.cache_dir else default_cache_dir())
        self.cache = cache
        self.guidelines = load_guidelines(self.root, settings.guidelines)
        self._lock = threading.Lock()
        self._scheduler = scheduler
        self._repo_root: Path | None = None
        # Anything with .current() -> Decisions; `baseline --update` gives one without the baseline.
        self.decisions: DecisionStore | None = None
        self._parallel: tuple[Backend, Parallelism] | None = None
        # Count what happens to the findings on this machine (gemma_review.verdicts); bench and
        # baseline do not: nobody judges what they find.
        self.counts_verdicts = True

    @property
    def scheduler(self) -> Scheduler:
        """Shared by every engine of the process that talks to the same model server."""
        if self._scheduler is None:
            s = self.settings
            target = s.model_file if s.backend == "embedded" and s.model_file else s.host
            known = self._parallel[1].jobs if self._parallel is not None else s.max_parallel
            self._scheduler = shared_scheduler(f"{s.backend}|{target}", known)
        return self._scheduler

    @property
    def parallelism(self) -> Parallelism:
        """Requests in flight: ``--jobs`` when the user set it, else the server's slot count
        (asked once, when a review first has something to send). The scheduler follows a
        number the user or the server gave; a default leaves it as it was made."""
        choice = self.choice
        with self._lock:
            if self._parallel is None or self._parallel[0] is not choice.backend:
                self._parallel = (choice.backend, parallelism(choice.backend, choice.settings))
            found = self._parallel[1]
        if found.by != "default" and self.scheduler.max_parallel != found.jobs:
            self.scheduler.resize(found.jobs)
        return found

    # --- backend: chosen once, with the settings it runs with -----------------------
    @property
    def choice(self) -> Choice:
        with self._lock:
            if self._choice is None:
                if self._given_backend is not None:
                    self._choice = Choice(self._given_backend, "given", None, False, self.settings)
                else:
                    from .backends.select import select_backend

                    check_privacy(self.settings)
                    sel = select_backend(self.settings, allow_demo=self.allow_demo)
                    self._choice = Choice(sel.backend, sel.reason, sel.notice, sel.demo, effective_settings(self.settings, sel.demo))
            return self._choice

    @property
    def chosen(self) -> Choice | None:
        return self._choice

    @property
    def backend(self) -> Backend:
        return self.choice.backend

    @property
    def backend_reason(self) -> str:
        return self._choice.reason if self._choice else ""

    @property
    def backend_notice(self) -> str | None:
        return self._choice.notice if self._choice else None

    @property
    def demo(self) -> bool:
        return bool(self._choice and self._choice.demo)

    @property
    def model_name(self) -> str:
        """The model that answers once a backend is chosen; the configured one before."""
        c = self._choice
        return str(getattr(c.backend, "model", "") or self.settings.model) if c is not None else self.settings.model

    def close(self) -> None:
        if self._choice is not None:
            self._choice.backend.close()

    # --- planning -------------------------------------------------------------------
    def unit_token_budget(self, settings: Settings | None = None, meter: TokenMeter | None = None) -> int:
        """Tokens of code one request may carry; with a ``meter``, in its context and by its estimate."""
        s = settings or self.settings
        estimate = meter.estimate if meter is not None else estimate_tokens
        n_ctx = meter.n_ctx if meter is not None else s.num_ctx
        overhead = sum(estimate(m["content"]) for m in review_messages(_EMPTY_UNIT, self.guidelines))
        budget = n_ctx - s.num_predict - overhead - HEADER_TOKENS
        if s.learn:  # room for the examples block, whether or not a file gets one
            from .verdicts import EXAMPLE_BUDGET

            budget -= EXAMPLE_BUDGET
        if budget < 128 and meter is not None:
            # A server context smaller than num_ctx: one unit a request, with less room to answer.
            budget = n_ctx - min(s.num_predict, MIN_ANSWER) - overhead - HEADER_TOKENS
        if budget < 128:
            raise ConfigError(
                f"num_ctx {n_ctx} leaves no room for code after the instructions and num_predict "
                f"{s.num_predict}; raise num_ctx or lower num_predict"
            )
        return budget

    def units_for(self, change: FileChange, settings: Settings | None = None, meter: TokenMeter | None = None) -> list[Unit]:
        """The units a review of ``change`` sends (the whole file instead when that is no larger)."""
        s = settings or self.settings
        budget = self.unit_token_budget(s, meter)
        estimate = meter.estimate if meter is not None else estimate_tokens
        units = build_units(change, s.max_unit_lines, budget, estimate)
        if units and change.text is not None:
            units = prefer_whole(units, split_lines(change.text), budget, estimate)
        return units

    @property
    def meter(self) -> TokenMeter:
        """Token counts and the context for the chosen backend (the server is asked once)."""
        choice = self.choice
        with self._lock:
            if self._meter is None or self._meter.backend is not choice.backend:
                window = context_window(choice.backend, choice.settings.num_ctx)
                self._meter = TokenMeter(choice.backend, window, self.cache)
            return self._meter

    def calibrate(self) -> None:
        """A backend that counts tokens teaches the ratio once, before the first packing (only
        when a request will be sent: a cached review must not load a model to count)."""
        meter = self.meter
        if meter.ratio is None:
            meter.count(review_messages(_EMPTY_UNIT, self.guidelines))

    def model_identity(self) -> str:
        """Which model really answers (``auto`` may pick the smoke model): part of the cache key."""
        b = self.backend
        return f"{getattr(b, 'name', '?')}:{getattr(b, 'model', '?')}"

    def cache_key(self, unit: Unit, learned: str = "") -> str:
        """``learned``: the examples block the unit's prompt carries (learn = true); only a
        non-empty block is in the key, so with nothing learned the key is what it always was."""
        extra = [learned] if learned else []
        return unit_key(
            PROMPT_VERSION,
            self.model_identity(),
            self.choice.settings.review_key,
            self.guidelines,
            unit.language,
            unit.whole_file,
            list(unit.lines),
            sorted(c - unit.start for c in unit.changed),
            [[at - unit.start, list(gone), cut] for at, gone, cut in unit.removed],
            *extra,
        )

    _cache_key = cache_key

    def decide_fix(self, f: Finding, text: str) -> FixDecision:
        from .fixes import decide_fix  # a cached review without findings never needs the fix checks

        return decide_fix(f, text)

    # --- the repository's decisions (.gemma-review/) ------------------------------------
    @property
    def repo_root(self) -> Path:
        """The repository root (where .gemma-review/ lives), or the engine's root outside git."""
        if self._repo_root is None:
            from .git_repo import find_root

            self._repo_root = find_root(self.root) if self.root.is_dir() else None
            self._repo_root = self._repo_root or self.root
        return self._repo_root

    def current_decisions(self) -> Decisions | None:
        """The store as it is now (read again when the file changed); None to ignore it."""
        if self.decisions is None:
            self.decisions = DecisionStore(self.repo_root)
        return self.decisions.current()

    def remember(self, findings: list[Finding]) -> None:
        """Keep what a review showed, so ``gemma-review dismiss FINGERPRINT`` can record it."""
        if findings:
            remember(memory_dir(self.settings), self.repo_root, findings)

    def learning(self, decisions: Decisions | None) -> Learning:
        """What ``learn = true`` adapts for a run (nothing with learn off)."""
        from .verdicts import learning

        return learning(self.settings, self.repo_root, decisions)

    def count_verdicts(self, kind: str, findings: list[Finding], once_a_day: bool = False) -> None:
        """Count what happened to findings on this machine (gemma_review.verdicts)."""
        if findings and self.counts_verdicts:
            from .verdicts import record_findings

            record_findings(self.settings, self.repo_root, kind, findings, once_a_day)

    def selected(self, change: FileChange) -> str | None:
        """Why ``change`` is not reviewed (include/exclude, default excludes, generated, size), or None."""
        s = self.settings
        if s.include and not matches(change.path, s.include):
            return "not matched by include"
        if s.exclude and matches(change.path, s.exclude):
            return "excluded by config"
        named = bool(s.include) and matches(change.path, s.include) is not None
        if not named:  # a file the user's include names explicitly wins over the defaults
            pattern = matches(change.path, s.default_exclude)
            if pattern is not None:
                return default_reason(pattern)
            if s.skip_generated and change.text is not None and generated(change.text):
                return "generated (an @generated / DO NOT EDIT marker near the top; set skip_generated = false to review it)"
        if s.max_file_bytes and change.text is not None:
            size = len(change.text.encode("utf-8", "surrogateescape"))
            if size > s.max_file_bytes:
                return f"larger than max_file_bytes ({size:,} > {s.max_file_bytes:,} bytes; raise max_file_bytes to review it)"
        return None

    # --- review ---------------------------------------------------------------------
    def run(
        self,
        batches: Sequence[Sequence[FileChange]],
        subscriber: ev.Subscriber = ev.nobody,
        priority: Priority | None = None,
        share_requests: bool = True,
    ) -> ReviewRun:
        """A review of ``batches`` (each planned just before it is asked), not started yet."""
        return ReviewRun(self, [list(b) for b in batches], subscriber, priority, share_requests)

    def review(
        self,
        changes: Iterable[FileChange],
        on_finding: Callable[[Finding], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        priority: Priority | None = None,
        share_requests: bool = True,
    ) -> ReviewResult:
        """Review ``changes`` now, in this thread; callbacks for the events most callers want.

        ``share_requests=False`` never packs two files into one request.
        """
        on_text = self.on_text

        def subscriber(event: ev.Event) -> None:
            if isinstance(event, ev.Found) and on_finding is not None:
                on_finding(event.finding)
            elif isinstance(event, ev.ProgressMade) and on_progress is not None:
                on_progress(event.progress)
            elif isinstance(event, ev.Streamed) and on_text is not None:
                on_text(event.text)

        return self.run([list(changes)], subscriber, priority, share_requests).execute(token_for(cancel))

    # --- refactor -----------------------------------------------------------------
    def refactor(
        self,
        path: str,
        text: str,
        start_line: int,
        end_line: int,
        instruction: str = "",
        cancel: threading.Event | None = None,
    ) -> RefactorResult:
        from .fixes import FixDecision, validate_fix
        from .model_request import Asker, after_think, encodable_messages, loads_object

        choice = self.choice
        s = choice.settings
        token = token_for(cancel)
        lines = split_lines(text)
        start_line = max(1, start_line)
        end_line = min(len(lines), max(start_line, end_line))
        selected = lines[start_line - 1 : end_line]
        messages = encodable_messages(refactor_messages(path, language_of(path), start_line, selected, instruction))
        need = sum(estimate_tokens(m["content"]) for m in messages)
        num_predict = max(s.num_predict, min(s.num_ctx - need, estimate_tokens("\n".join(selected)) * 2 + 256))
        if need + num_predict > s.num_ctx:
            from .errors import PromptTooLargeError

            raise PromptTooLargeError(
                f"the selection ({end_line - start_line + 1} lines) is too large for num_ctx {s.num_ctx}; select less or raise num_ctx"
            )
        request = ModelRequest(messages, REFACTOR_SCHEMA, s.num_ctx, num_predict, seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive)
        # Through the shared scheduler like every review request: one slot per request in flight.
        asker = Asker(choice.backend, s, self.scheduler, self.guidelines, lambda f: f)
        with self.scheduler.slot(token, None):
            reply, got = asker.collect(request, token)
        metrics = got or Metrics()
        data = loads_object(after_think(reply))
        if data is None or not isinstance(data.get("replacement"), str):
            raise ModelError("the model's refactor reply was not the expected JSON; try again or select less code")
        replacement = fnd.strip_numbers(data["replacement"])
        summary = str(data.get("summary", "")).strip() or "Refactored with Gemma"
        # The same checks as a finding's fix: a rewrite that changes behaviour is not applied.
        decision = validate_fix(path, text, start_line, end_line, replacement)
        if decision.fix is None and decision.rejected is None:
            decision = FixDecision(None, "the rewrite was empty")
        shown = decision.fix.replacement if decision.fix is not None else replacement
        return RefactorResult(summary, start_line, end_line, shown, decision.fix, metrics, decision.rejected)



_EMPTY_UNIT = Unit("x", None, 1, 1, ("",), frozenset({1}))
