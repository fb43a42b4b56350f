"""The review pipeline: intake -> units -> cache -> prompt -> model -> findings -> fixes.

``ReviewEngine`` is what the CLI, the hook and the language server call. It streams:
each finding reaches ``on_finding`` as soon as the model has written it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from . import findings as fnd
from .backends.base import Backend, Metrics, ModelRequest
from .cache import ReviewCache, default_cache_dir, unit_key
from .config import CATEGORIES, Settings, check_privacy
from .errors import ConfigError, ModelError, ReviewCancelled
from .config import parse_severity_limits
from .excludes import default_reason, generated, matches
from .findings import Dropped, Finding, Fix
from .fixes import FixDecision, decide_fix, validate_fix
from .intake import FileChange
from .languages import language_of
from .prompt import (
    PROMPT_VERSION,
    REFACTOR_SCHEMA,
    REVIEW_SCHEMA,
    VERIFY_SCHEMA,
    load_guidelines,
    refactor_messages,
    review_messages,
    verify_messages,
)
from .stream_parse import FindingLoop, FindingStream, LoopDetector
from .textfile import split_lines
from .terminal import encodable
from .tokens import estimate_tokens
from .packing import Request, attribute, pack, prefer_whole, request_messages
from .scheduler import Priority, Scheduler, shared_scheduler
from .units import Unit, build_units

HEADER_TOKENS = 64
VERIFY_NUM_PREDICT = 96  # {"confirmed": true, "reason": "<one sentence>"}
SMOKE_NUM_PREDICT = 256  # the demo model only proves the pipeline: cap its (junk) output


@dataclass
class Progress:
    done: int
    total: int
    path: str
    cached: int
    tokens_per_second: float


@dataclass
class ReviewResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    units: int = 0
    cached_units: int = 0
    files: dict[str, FileChange] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False
    backend: str = ""
    model: str = ""  # the model that answered (auto may pick another than settings.model)
    demo: bool = False  # the bundled demo model answered: not a review
    hidden: dict[str, int] = field(default_factory=dict)  # filter -> findings it hid
    wall_seconds: float = 0.0
    prompt_tokens_estimated: int = 0
    raw_findings: int = 0  # finding objects the model wrote (fresh units only, not cache hits)
    dropped: list[Dropped] = field(default_factory=list)
    loops_stopped: int = 0  # replies stopped because the model was repeating itself
    verify: VerifyStats | None = None  # set when the verification pass ran
    requests: int = 0  # model requests the units were packed into (cache hits need none)

    def dropped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.dropped:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        return dict(sorted(counts.items()))


@dataclass
class VerifyStats:
    """The verification pass's cost and outcome."""

    asked: int = 0
    confirmed: int = 0
    withdrawn: int = 0  # lowered to info
    failed: int = 0  # no usable answer: the finding is kept as it was
    metrics: Metrics = field(default_factory=Metrics)

    def add(self, other: VerifyStats) -> None:
        """Accumulate another request's (or review's) verification pass into this one."""
        self.asked += other.asked
        self.confirmed += other.confirmed
        self.withdrawn += other.withdrawn
        self.failed += other.failed
        self.metrics.add(other.metrics)

    def to_dict(self) -> dict[str, object]:
        return {
            "asked": self.asked, "confirmed": self.confirmed, "withdrawn": self.withdrawn, "failed": self.failed,
            "prompt_tokens": self.metrics.prompt_tokens, "output_tokens": self.metrics.output_tokens,
        }


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


def default_backend(settings: Settings, allow_demo: bool = False) -> tuple[Backend, str, str | None, bool]:
    """(backend, why it was chosen, a notice for the user or None, is it the demo model)."""
    from .backends.select import select_backend

    sel = select_backend(settings, allow_demo=allow_demo)
    return sel.backend, sel.reason, sel.notice, sel.demo


def measured_tps(m: Metrics) -> float:
    """Decode speed only when the model wrote enough to measure it (cached units have none);
    a few tokens timed over microseconds would read as tens of thousands of tokens/s."""
    if m.output_tokens < 8 or m.decode_seconds < 0.05:
        return 0.0
    return m.decode_tps


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
        self.settings = settings
        self.root = root or Path.cwd()
        self._backend = backend
        self.backend_reason = ""
        self.backend_notice: str | None = None
        # Only `review`, `bench` and `doctor` let `auto` fall back to the demo model.
        self.allow_demo = allow_demo
        self.demo = False
        # Every streamed chunk of a reply, for a live tokens/s display (the CLI's spinner).
        self.on_text: Callable[[str], None] | None = None
        use = settings.cache if use_cache is None else use_cache
        if cache is None and use:
            cache = ReviewCache(Path(settings.cache_dir) if settings.cache_dir else default_cache_dir())
        self.cache = cache
        self.guidelines = load_guidelines(self.root, settings.guidelines)
        self.severity_limits = parse_severity_limits(settings.severity_limits)
        self._lock = threading.Lock()
        self._scheduler = scheduler

    @property
    def scheduler(self) -> Scheduler:
        """Shared by every engine of the process that talks to the same model server."""
        if self._scheduler is None:
            s = self.settings
            target = s.model_file if s.backend == "embedded" and s.model_file else s.host
            self._scheduler = shared_scheduler(f"{s.backend}|{target}", s.max_parallel)
        return self._scheduler

    # --- backend ------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                check_privacy(self.settings)
                self._backend, self.backend_reason, self.backend_notice, self.demo = default_backend(
                    self.settings, self.allow_demo
                )
                self.settings = effective_settings(self.settings, self.demo)
            return self._backend

    @property
    def model_name(self) -> str:
        """The model that answers once a backend is chosen; the configured one before."""
        b = self._backend
        return str(getattr(b, "model", "") or self.settings.model) if b is not None else self.settings.model

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    # --- budget -------------------------------------------------------------------
    def unit_token_budget(self) -> int:
        s = self.settings
        overhead = sum(estimate_tokens(m["content"]) for m in review_messages(_EMPTY_UNIT, self.guidelines))
        budget = s.num_ctx - s.num_predict - overhead - HEADER_TOKENS
        if budget < 128:
            raise ConfigError(
                f"num_ctx {s.num_ctx} leaves no room for code after the instructions and num_predict "
                f"{s.num_predict}; raise num_ctx or lower num_predict"
            )
        return budget

    def units_for(self, change: FileChange) -> list[Unit]:
        """The units a review of ``change`` sends (the whole file instead when that is no larger)."""
        budget = self.unit_token_budget()
        units = build_units(change, self.settings.max_unit_lines, budget, estimate_tokens)
        if units and change.text is not None:
            units = prefer_whole(units, split_lines(change.text), budget, estimate_tokens)
        return units

    def model_identity(self) -> str:
        """Which model really answers (``auto`` may pick the smoke model): part of the cache key."""
        b = self.backend
        return f"{getattr(b, 'name', '?')}:{getattr(b, 'model', '?')}"

    def _cache_key(self, unit: Unit) -> str:
        return unit_key(
            PROMPT_VERSION,
            self.model_identity(),
            self.settings.review_key,
            self.guidelines,
            unit.language,
            unit.whole_file,
            list(unit.lines),
            sorted(c - unit.start for c in unit.changed),
            [[at - unit.start, list(gone), cut] for at, gone, cut in unit.removed],
        )

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

    # --- review -------------------------------------------------------------------
    def review(
        self,
        changes: Iterable[FileChange],
        on_finding: Callable[[Finding], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        priority: Priority | None = None,
        share_requests: bool = True,
    ) -> ReviewResult:
        """Review ``changes``; ``priority`` orders this review's requests in the shared scheduler.

        ``share_requests=False`` never packs two files into one request.
        """
        started = time.monotonic()
        result = ReviewResult(model=self.settings.model)
        budget = self.unit_token_budget()
        plan: list[tuple[FileChange, list[str], list[Unit]]] = []
        for change in changes:
            if change.skip_reason:
                result.skipped.append((change.path, change.skip_reason))
                continue
            reason = self.selected(change)
            if reason:
                result.skipped.append((change.path, reason))
                continue
            units = self.units_for(change)
            if not units:
                result.skipped.append((change.path, "no reviewable lines"))
                continue
            assert change.text is not None
            file_lines = split_lines(change.text)
            result.files[change.path] = change
            plan.append((change, file_lines, units))
        total = sum(len(u) for _, _, u in plan)
        result.units = total
        lines_of = {change.path: fl for change, fl, _ in plan}
        sizes = {path: len(fl) for path, fl in lines_of.items()}
        done = 0
        if on_progress is not None:
            # The total, before any model call, so callers need not build the units again to know it.
            on_progress(Progress(0, total, plan[0][0].path if plan else "", 0, 0.0))
        seen: set[str] = set()
        collected: list[Finding] = []

        hidden: set[tuple[str, str]] = set()

        def drop(f: Finding, reason: str) -> None:
            result.dropped.append(Dropped.of_finding(f, reason))

        def publish(f: Finding) -> None:
            f = fnd.cap_severity(f, self.severity_limits)
            change = result.files[f.path]
            file_lines = lines_of[f.path]
            why = hidden_by(f, self.settings, change.changed_lines(), file_lines)
            if why is not None:
                if (why, f.fingerprint) not in hidden:  # a cached copy of the same finding counts once
                    hidden.add((why, f.fingerprint))
                    result.hidden[why] = result.hidden.get(why, 0) + 1
                return drop(f, HIDDEN_DROP_REASON[why])
            if f.fingerprint in seen or any(
                k.path == f.path and k.line <= f.end_line and f.line <= k.end_line
                and (k.category == f.category or k.title.lower() == f.title.lower())
                for k in collected
            ):
                return drop(f, "duplicate")
            seen.add(f.fingerprint)
            assert change.text is not None
            decision = decide_fix(f, change.text)
            f.fix, f.fix_rejected = decision.fix, decision.rejected
            collected.append(f)
            if on_finding is not None:
                on_finding(f)

        def progressed(unit: Unit) -> None:
            nonlocal done
            done += 1
            if on_progress is not None:
                on_progress(Progress(done, total, unit.path, result.cached_units, measured_tps(result.metrics)))

        # Cache writes of the whole review go in one transaction at the end (also when cancelled).
        pending_writes: list[tuple[str, int, list[Finding], bool]] = []
        try:
            misses: list[Unit] = []
            keys: dict[int, str] = {}
            for change, file_lines, units in plan:
                for unit in units:
                    key = self._cache_key(unit)
                    hit = self.cache.get(key, unit.start) if self.cache else None
                    if hit is None:
                        keys[id(unit)] = key
                        misses.append(unit)
                        continue
                    result.cached_units += 1
                    for f in hit[0]:
                        publish(replace(f, path=unit.path, fingerprint=fnd.fingerprint(
                            unit.path, f.category, file_lines[f.line - 1 : f.end_line])))
                    progressed(unit)
            requests = pack(misses, budget, estimate_tokens, sizes, across_files=share_requests)
            result.requests = len(requests)

            def finished(request: Request, answer: _Answer) -> None:
                answer.apply(result)
                for unit in request.units:
                    if self.cache is not None:
                        found = [replace(f, fix=None) for f in answer.by_unit.get(id(unit), [])]
                        pending_writes.append((keys[id(unit)], unit.start, found, answer.truncated))
                    progressed(unit)

            jobs = max(1, min(self.settings.max_parallel, len(requests)))
            if jobs == 1:
                for request in requests:
                    if cancel is not None and cancel.is_set():
                        raise ReviewCancelled
                    finished(request, self._ask(request, lines_of, sizes, cancel, priority, publish))
            else:
                self._run_parallel(requests, jobs, lines_of, sizes, cancel, priority, publish, finished)
        except ReviewCancelled:
            result.cancelled = True
        finally:
            if self.cache is not None and pending_writes:
                self.cache.put_many(pending_writes)
        result.findings = fnd.dedupe(collected)
        kept = {id(f) for f in result.findings}
        result.dropped.extend(Dropped.of_finding(f, "duplicate") for f in collected if id(f) not in kept)
        result.notes.extend(hidden_notes(result.hidden, self.settings))
        result.wall_seconds = time.monotonic() - started
        result.backend = getattr(self._backend, "name", "") if self._backend is not None else "cache"
        result.model = self.model_name
        result.demo = self.demo
        return result

    def _run_parallel(
        self,
        requests: list[Request],
        jobs: int,
        lines_of: dict[str, list[str]],
        sizes: dict[str, int],
        cancel: threading.Event | None,
        priority: Priority | None,
        publish: Callable[[Finding], None],
        finished: Callable[[Request, _Answer], None],
    ) -> None:
        """``jobs`` requests in flight; findings are published in request order, so output is deterministic."""
        from concurrent.futures import ThreadPoolExecutor

        stop = threading.Event()  # our own: the first failure stops the other workers too
        if cancel is not None and cancel.is_set():
            raise ReviewCancelled

        def relay() -> None:
            if cancel is not None:
                while not stop.wait(0.05):
                    if cancel.is_set():
                        stop.set()

        watcher = threading.Thread(target=relay, name="gemma-review-cancel", daemon=True)
        watcher.start()
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gemma-review-req")
        try:
            futures = [
                pool.submit(self._ask, r, lines_of, sizes, stop, priority, None) for r in requests
            ]
            for request, future in zip(requests, futures):
                try:
                    answer = future.result()
                except BaseException:
                    stop.set()
                    raise
                for f in answer.found:
                    publish(f)
                finished(request, answer)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            watcher.join()
        if cancel is not None and cancel.is_set():
            raise ReviewCancelled

    def _ask(
        self,
        request: Request,
        lines_of: dict[str, list[str]],
        sizes: dict[str, int],
        cancel: threading.Event | None,
        priority: Priority | None,
        emit: Callable[[Finding], None] | None,
    ) -> _Answer:
        """One request to the model; findings go to ``emit`` as they stream (or are kept in order)."""
        s = self.settings
        answer = _Answer()
        messages = _encodable(request_messages(request, self.guidelines, sizes))
        estimated = sum(estimate_tokens(m["content"]) for m in messages)
        where = request.where
        if estimated + s.num_predict > s.num_ctx:
            # Only a single over-long line gets here (units are split to fit): never let the
            # server cut the front of the prompt, where the instructions are.
            answer.notes.append(f"{where}: too large for num_ctx {s.num_ctx} even alone; not reviewed")
            return answer
        answer.estimated = estimated
        model_request = ModelRequest(
            messages=messages,
            schema=REVIEW_SCHEMA,
            num_ctx=s.num_ctx,
            num_predict=s.num_predict,
            seed=s.seed,
            timeout=s.timeout,
            keep_alive=s.keep_alive,
        )
        backend = self.backend
        parser = FindingStream()
        loop = LoopDetector()
        repeats = FindingLoop()
        verifying = s.verify and s.fail_on != "never"
        to_verify: list[tuple[Unit, Finding]] = []
        metrics: Metrics | None = None
        looped: str | None = None
        text_seen = False

        def take(raw: dict) -> None:
            answer.raw_findings += 1
            first_drop: list[Dropped] = []

            def build(unit: Unit, raw: dict) -> Finding | None:
                built = fnd.judge(unit, raw, lines_of[unit.path])
                if isinstance(built, Dropped):
                    first_drop.append(built)
                    return None
                return built

            hit = attribute(request, raw, build)
            if hit is None:
                answer.dropped.append(first_drop[0] if first_drop else Dropped.of_raw(request.units[0].path, raw, "no anchor"))
                return
            unit, f = hit
            f = fnd.cap_severity(f, self.severity_limits)
            answer.found.append(f)
            answer.by_unit.setdefault(id(unit), []).append(f)
            if verifying and f.at_least(s.fail_on):
                to_verify.append((unit, f))  # shown once the model has confirmed or withdrawn it
            elif emit is not None:
                emit(f)

        # The slot is held from send to the last chunk: the backend's timeout starts inside it.
        with self.scheduler.slot(cancel, priority):
            stream = backend.stream_chat(model_request, cancel)
            try:
                for chunk in stream:
                    if cancel is not None and cancel.is_set():
                        raise ReviewCancelled
                    if chunk.text:
                        if self.on_text is not None:
                            self.on_text(chunk.text)
                        text_seen = text_seen or bool(chunk.text.strip())
                        for raw in parser.feed(chunk.text):
                            verdict = repeats.feed(raw)
                            for ok in verdict.emit:
                                take(ok)
                            for copy in verdict.dropped:
                                answer.raw_findings += 1
                                answer.dropped.append(Dropped.of_raw(request.units[0].path, copy, "loop"))
                            if verdict.stop:
                                looped = verdict.stop
                                break
                        if looped is None and loop.feed(chunk.text):
                            looped = "repeated itself"
                        if looped is not None:
                            break
                    if chunk.done:
                        metrics = chunk.metrics
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # stops generation when we leave early
        if cancel is not None and cancel.is_set():
            raise ReviewCancelled
        for raw in repeats.finish():
            take(raw)
        truncated = bool(metrics and metrics.truncated)
        answer.metrics = metrics
        found = answer.found
        cut_off = looped is None and parser.open_object and (truncated or not parser.closed)
        if cut_off:
            answer.raw_findings += 1
            answer.dropped.append(Dropped(request.units[0].path, None, "", "cut off"))
        distinct = len({f.fingerprint for f in found})  # counted after de-duplication
        if looped is not None:
            answer.loops_stopped += 1
            copies = repeats.repeats
            answer.notes.append(
                f"{where}: the model {looped}; stopped reading after {distinct} distinct finding{'s' if distinct != 1 else ''}"
                + (f" ({copies} repeated cop{'y' if copies == 1 else 'ies'} dropped)" if copies else "")
            )
            truncated = True
        elif not text_seen:
            answer.notes.append(f"{where}: the model returned an empty reply")
        elif parser.thinking:
            answer.notes.append(f"{where}: the reply ended inside its <think> draft; nothing kept")
            truncated = True
        elif truncated or (not parser.closed and parser.buffer.strip()):
            if not parser.found_array:
                answer.notes.append(f"{where}: the reply was not the expected JSON; nothing kept")
            else:
                answer.notes.append(
                    f"{where}: the reply was cut off (num_predict {s.num_predict}); {distinct} distinct complete "
                    f"finding{'s' if distinct != 1 else ''} before the cut {'were' if distinct != 1 else 'was'} read"
                )
            truncated = True
        for unit, f in to_verify:
            if cancel is not None and cancel.is_set():
                raise ReviewCancelled
            with self.scheduler.slot(cancel, priority):
                checked = self._verify(unit, f, answer, cancel)
            found[found.index(f)] = checked
            mine = answer.by_unit.get(id(unit), [])
            if f in mine:
                mine[mine.index(f)] = checked
            if emit is not None:
                emit(checked)
        answer.truncated = truncated
        return answer

    def _verify(self, unit: Unit, f: Finding, answer: _Answer, cancel: threading.Event | None) -> Finding:
        """Ask the model to confirm ``f``; an unconfirmed finding drops to info."""
        s = self.settings
        stats = answer.verify = answer.verify or VerifyStats()
        stats.asked += 1
        messages = _encodable(verify_messages(unit, f.line, f.end_line, f.severity, f.category, f.title, f.explanation))
        request = ModelRequest(
            messages=messages, schema=VERIFY_SCHEMA, num_ctx=s.num_ctx, num_predict=VERIFY_NUM_PREDICT,
            seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive,
        )
        reply, metrics = self._collect(request, cancel)
        if metrics is not None:
            stats.metrics.add(metrics)
        data = _loads_object(_after_think(reply))
        confirmed = data.get("confirmed") if data is not None else None
        if confirmed is True:
            stats.confirmed += 1
            return replace(f, extra={**f.extra, "verified": True})
        if confirmed is False:
            stats.withdrawn += 1
            return replace(f, severity="info", extra={**f.extra, "verified": False, "severity_before_verify": f.severity})
        stats.failed += 1
        return f

    def _collect(self, request: ModelRequest, cancel: threading.Event | None) -> tuple[str, Metrics | None]:
        """The whole text of a short, non-streamed answer (verify, refactor) and its metrics."""
        pieces: list[str] = []
        metrics: Metrics | None = None
        stream = self.backend.stream_chat(request, cancel)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise ReviewCancelled
                pieces.append(chunk.text)
                if chunk.done and chunk.metrics is not None:
                    metrics = chunk.metrics
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops generation when we leave early
        return "".join(pieces), metrics

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
        s = self.settings
        lines = split_lines(text)
        start_line = max(1, start_line)
        end_line = min(len(lines), max(start_line, end_line))
        selected = lines[start_line - 1 : end_line]
        messages = _encodable(refactor_messages(path, language_of(path), start_line, selected, instruction))
        need = sum(estimate_tokens(m["content"]) for m in messages)
        num_predict = max(s.num_predict, min(s.num_ctx - need, estimate_tokens("\n".join(selected)) * 2 + 256))
        if need + num_predict > s.num_ctx:
            from .errors import PromptTooLargeError

            raise PromptTooLargeError(
                f"the selection ({end_line - start_line + 1} lines) is too large for num_ctx {s.num_ctx}; select less or raise num_ctx"
            )
        request = ModelRequest(messages, REFACTOR_SCHEMA, s.num_ctx, num_predict, seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive)
        # Through the shared scheduler like every review request: one slot per request in flight.
        with self.scheduler.slot(cancel, None):
            reply, got = self._collect(request, cancel)
        metrics = got or Metrics()
        data = _loads_object(_after_think(reply))
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


def _after_think(text: str) -> str:
    """The final answer of a reply that drafts in ``<think>…</think>`` first."""
    head = text.lstrip()
    if head.startswith("<think>"):
        end = text.find("</think>")
        return "" if end < 0 else text[end + len("</think>") :]
    return text


# Filters that hide a finding the model wrote, in the order they are checked.
HIDDEN_ORDER = ("outside the changed lines", "min_confidence", "min_severity", "categories", "filters", "ignore comment")
# The same filters as --explain / JSON "dropped" reasons (findings.DROP_REASONS).
HIDDEN_DROP_REASON = {
    "outside the changed lines": "outside changed lines",
    "min_confidence": "below confidence",
    "min_severity": "severity filter",
    "categories": "severity filter",
    "filters": "severity filter",
    "ignore comment": "suppressed",
}


def hidden_by(f: Finding, settings: Settings, changed: set[int] | None, file_lines: list[str]) -> str | None:
    """Which filter hides ``f`` (a key of :data:`HIDDEN_ORDER`), or None when it is shown."""
    if changed is not None and not fnd.in_changed(f, changed):
        return "outside the changed lines"
    if not fnd.passes(f, settings):  # the policy lives there; this only names the reason
        if f.confidence < settings.min_confidence:
            return "min_confidence"
        if not f.at_least(settings.min_severity):
            return "min_severity"
        if f.category not in settings.categories:
            return "categories"
        return "filters"
    if fnd.suppressed(file_lines, f):
        return "ignore comment"
    return None


def hidden_notes(hidden: dict[str, int], settings: Settings) -> list[str]:
    """One note per filter that hid findings, saying how to see them."""
    out = []
    for why in HIDDEN_ORDER:
        n = hidden.get(why, 0)
        if not n:
            continue
        what = f"{n} finding{'s' if n != 1 else ''}"
        them = "them" if n != 1 else "it"
        if why == "min_confidence":
            out.append(f"{what} below min_confidence {settings.min_confidence:g} hidden; --min-confidence 0 shows {them}")
        elif why == "min_severity":
            out.append(f"{what} below min_severity {settings.min_severity} hidden; --min-severity info shows {them}")
        elif why == "categories":
            out.append(
                f"{what} outside categories {','.join(settings.categories)} hidden; "
                f"--categories {','.join(CATEGORIES)} shows {them}"
            )
        elif why == "filters":
            out.append(f"{what} hidden by the review settings")
        elif why == "ignore comment":
            out.append(f"{what} silenced by a gemma-review: ignore comment hidden")
        else:
            out.append(f"{what} outside the changed lines hidden; reviewing the whole file shows {them}")
    return out


def _loads_object(text: str) -> dict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


_EMPTY_UNIT = Unit("x", None, 1, 1, ("",), frozenset({1}))


@dataclass
class _Answer:
    """What one request produced; applied to the result on the reviewing thread, in request order."""

    found: list[Finding] = field(default_factory=list)
    by_unit: dict[int, list[Finding]] = field(default_factory=dict)  # id(unit) -> its findings
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    metrics: Metrics | None = None
    estimated: int = 0
    raw_findings: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    loops_stopped: int = 0
    verify: VerifyStats | None = None  # the verification pass of this request's findings

    def apply(self, result: ReviewResult) -> None:
        result.notes.extend(self.notes)
        result.prompt_tokens_estimated += self.estimated
        if self.metrics is not None:
            result.metrics.add(self.metrics)
        result.raw_findings += self.raw_findings
        result.dropped.extend(self.dropped)
        result.loops_stopped += self.loops_stopped
        if self.verify is not None:
            result.verify = result.verify or VerifyStats()
            result.verify.add(self.verify)
            result.metrics.add(self.verify.metrics)


def _encodable(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # A file name that is not UTF-8 reaches here with lone surrogates; a request must encode.
    return [{**m, "content": encodable(m["content"])} for m in messages]
