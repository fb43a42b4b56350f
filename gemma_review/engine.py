"""The review pipeline: intake -> units -> cache -> prompt -> model -> findings -> fixes.

``ReviewEngine`` is what the CLI, the hook and the language server call. It streams:
each finding reaches ``on_finding`` as soon as the model has written it.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from . import findings as fnd
from .backends.base import Backend, Metrics, ModelRequest
from .cache import ReviewCache, default_cache_dir, unit_key
from .config import Settings, check_privacy
from .errors import ConfigError, ModelError, ReviewCancelled
from .config import parse_severity_limits
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
from .units import Unit, build_units

HEADER_TOKENS = 64
VERIFY_NUM_PREDICT = 96  # {"confirmed": true, "reason": "<one sentence>"}
SMOKE_NUM_PREDICT = 256  # file name line and separators around the numbered code


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
    model: str = ""
    wall_seconds: float = 0.0
    prompt_tokens_estimated: int = 0
    raw_findings: int = 0  # finding objects the model wrote (fresh units only, not cache hits)
    dropped: list[Dropped] = field(default_factory=list)
    loops_stopped: int = 0  # replies stopped because the model was repeating itself
    verify: VerifyStats | None = None  # set when the verification pass ran

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


def default_backend(settings: Settings) -> tuple[Backend, str, str | None]:
    """(backend, why it was chosen, a notice for the user or None)."""
    try:
        from .backends.select import select_backend
    except ImportError:  # pragma: no cover - select ships with the package
        from .backends.ollama import OllamaBackend

        return OllamaBackend(settings), "ollama", None
    sel = select_backend(settings)
    return sel.backend, sel.reason, sel.notice


class ReviewEngine:
    def __init__(
        self,
        settings: Settings,
        root: Path | None = None,
        backend: Backend | None = None,
        cache: ReviewCache | None = None,
        use_cache: bool | None = None,
    ) -> None:
        self.settings = settings
        self.root = root or Path.cwd()
        self._backend = backend
        self.backend_reason = ""
        self.backend_notice: str | None = None
        use = settings.cache if use_cache is None else use_cache
        if cache is None and use:
            cache = ReviewCache(Path(settings.cache_dir) if settings.cache_dir else default_cache_dir())
        self.cache = cache
        self.guidelines = load_guidelines(self.root, settings.guidelines)
        self.severity_limits = parse_severity_limits(settings.severity_limits)
        self._lock = threading.Lock()

    # --- backend ------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                check_privacy(self.settings)
                self._backend, self.backend_reason, self.backend_notice = default_backend(self.settings)
                if self.backend_notice and self.settings.num_predict > SMOKE_NUM_PREDICT:
                    # The smoke model only proves the pipeline; don't make a demo wait for 1024 junk tokens.
                    self.settings = replace(self.settings, num_predict=SMOKE_NUM_PREDICT)
            return self._backend

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
        return build_units(change, self.settings.max_unit_lines, self.unit_token_budget(), estimate_tokens)

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

    def _selected(self, change: FileChange) -> str | None:
        s = self.settings
        path = change.path.replace("\\", "/")
        name = path.rsplit("/", 1)[-1]

        def match(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns)

        if s.include and not match(s.include):
            return "not matched by include"
        if s.exclude and match(s.exclude):
            return "excluded by config"
        return None

    # --- review -------------------------------------------------------------------
    def review(
        self,
        changes: Iterable[FileChange],
        on_finding: Callable[[Finding], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ReviewResult:
        started = time.monotonic()
        result = ReviewResult(model=self.settings.model)
        plan: list[tuple[FileChange, list[str], list[Unit]]] = []
        for change in changes:
            if change.skip_reason:
                result.skipped.append((change.path, change.skip_reason))
                continue
            reason = self._selected(change)
            if reason:
                result.skipped.append((change.path, reason))
                continue
            units = self.units_for(change)
            if not units:
                result.skipped.append((change.path, "no reviewable lines"))
                continue
            assert change.text is not None
            result.files[change.path] = change
            plan.append((change, split_lines(change.text), units))
        total = sum(len(u) for _, _, u in plan)
        result.units = total
        done = 0
        if on_progress is not None:
            # The total, before any model call, so callers need not build the units again to know it.
            on_progress(Progress(0, total, plan[0][0].path if plan else "", 0, 0.0))
        seen: set[str] = set()
        collected: list[Finding] = []

        def drop(f: Finding, reason: str) -> None:
            result.dropped.append(Dropped.of_finding(f, reason))

        def publish(change: FileChange, file_lines: list[str], f: Finding) -> None:
            f = fnd.cap_severity(f, self.severity_limits)
            changed = change.changed_lines()
            if changed is not None and not fnd.in_changed(f, changed):
                return drop(f, "outside changed lines")
            reason = fnd.filtered_out(f, self.settings)
            if reason is not None:
                return drop(f, reason)
            if fnd.suppressed(file_lines, f):
                return drop(f, "suppressed")
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

        try:
            for change, file_lines, units in plan:
                for unit in units:
                    if cancel is not None and cancel.is_set():
                        raise ReviewCancelled
                    key = self._cache_key(unit)
                    hit = self.cache.get(key, unit.start) if self.cache else None
                    if hit is not None:
                        result.cached_units += 1
                        for f in hit[0]:
                            f = replace(f, path=unit.path, fingerprint=fnd.fingerprint(
                                unit.path, f.category, file_lines[f.line - 1 : f.end_line]))
                            publish(change, file_lines, f)
                    else:
                        unit_findings, truncated = self._ask(
                            unit, file_lines, result, cancel, lambda f, c=change, fl=file_lines: publish(c, fl, f)
                        )
                        if self.cache is not None:
                            self.cache.put(key, unit.start, [replace(f, fix=None) for f in unit_findings], truncated)
                    done += 1
                    if on_progress is not None:
                        on_progress(Progress(done, total, unit.path, result.cached_units, result.metrics.decode_tps))
        except ReviewCancelled:
            result.cancelled = True
        result.findings = fnd.dedupe(collected)
        kept = {id(f) for f in result.findings}
        result.dropped.extend(Dropped.of_finding(f, "duplicate") for f in collected if id(f) not in kept)
        result.wall_seconds = time.monotonic() - started
        result.backend = getattr(self._backend, "name", "") if self._backend is not None else "cache"
        return result

    def _ask(
        self,
        unit: Unit,
        file_lines: list[str],
        result: ReviewResult,
        cancel: threading.Event | None,
        emit: Callable[[Finding], None],
    ) -> tuple[list[Finding], bool]:
        s = self.settings
        messages = _encodable(review_messages(unit, self.guidelines))
        estimated = sum(estimate_tokens(m["content"]) for m in messages)
        if estimated + s.num_predict > s.num_ctx:
            # Only a single over-long line gets here (units are split to fit): never let the
            # server cut the front of the prompt, where the instructions are.
            result.notes.append(
                f"{unit.path}:{unit.start}-{unit.end}: too large for num_ctx {s.num_ctx} even alone; not reviewed"
            )
            return [], False
        result.prompt_tokens_estimated += estimated
        request = ModelRequest(
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
        found: list[Finding] = []
        to_verify: list[Finding] = []
        metrics: Metrics | None = None
        looped: str | None = None
        text_seen = False
        verifying = s.verify and s.fail_on != "never"

        def take(raw: dict) -> None:
            result.raw_findings += 1
            built = fnd.judge(unit, raw, file_lines)
            if isinstance(built, Dropped):
                result.dropped.append(built)
                return
            f = fnd.cap_severity(built, self.severity_limits)
            found.append(f)
            if verifying and f.at_least(s.fail_on):
                to_verify.append(f)  # shown once the model has confirmed or withdrawn it
            else:
                emit(f)

        stream = backend.stream_chat(request, cancel)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise ReviewCancelled
                if chunk.text:
                    text_seen = text_seen or bool(chunk.text.strip())
                    for raw in parser.feed(chunk.text):
                        verdict = repeats.feed(raw)
                        for ok in verdict.emit:
                            take(ok)
                        for copy in verdict.dropped:
                            result.raw_findings += 1
                            result.dropped.append(Dropped.of_raw(unit.path, copy, "loop"))
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
        where = f"{unit.path}:{unit.start}-{unit.end}"
        truncated = bool(metrics and metrics.truncated)
        if metrics is not None:
            result.metrics.add(metrics)
        cut_off = looped is None and parser.open_object and (truncated or not parser.closed)
        if cut_off:
            result.raw_findings += 1
            result.dropped.append(Dropped(unit.path, None, "", "cut off"))
        distinct = len({f.fingerprint for f in found})  # counted after de-duplication
        if looped is not None:
            result.loops_stopped += 1
            copies = repeats.repeats
            result.notes.append(
                f"{where}: the model {looped}; stopped reading after {distinct} distinct finding(s)"
                + (f" ({copies} repeated cop{'y' if copies == 1 else 'ies'} dropped)" if copies else "")
            )
            truncated = True
        elif not text_seen:
            result.notes.append(f"{where}: the model returned an empty reply")
        elif parser.thinking:
            result.notes.append(f"{where}: the reply ended inside its <think> draft; nothing kept")
            truncated = True
        elif truncated or (not parser.closed and parser.buffer.strip()):
            if not parser.found_array:
                result.notes.append(f"{where}: the reply was not the expected JSON; nothing kept")
            else:
                result.notes.append(
                    f"{where}: the reply was cut off (num_predict {s.num_predict}); {distinct} distinct complete finding(s) before the cut were read"
                )
            truncated = True
        for f in to_verify:
            if cancel is not None and cancel.is_set():
                raise ReviewCancelled
            checked = self._verify(unit, f, result, cancel)
            found[found.index(f)] = checked
            emit(checked)
        return found, truncated

    def _verify(self, unit: Unit, f: Finding, result: ReviewResult, cancel: threading.Event | None) -> Finding:
        """Ask the model to confirm ``f``; an unconfirmed finding drops to info."""
        s = self.settings
        stats = result.verify = result.verify or VerifyStats()
        stats.asked += 1
        messages = verify_messages(unit, f.line, f.end_line, f.severity, f.category, f.title, f.explanation)
        request = ModelRequest(
            messages=messages, schema=VERIFY_SCHEMA, num_ctx=s.num_ctx, num_predict=VERIFY_NUM_PREDICT,
            seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive,
        )
        pieces: list[str] = []
        stream = self.backend.stream_chat(request, cancel)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise ReviewCancelled
                pieces.append(chunk.text)
                if chunk.done and chunk.metrics is not None:
                    stats.metrics.add(chunk.metrics)
                    result.metrics.add(chunk.metrics)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        data = _loads_object(_after_think("".join(pieces)))
        confirmed = data.get("confirmed") if data is not None else None
        if confirmed is True:
            stats.confirmed += 1
            return replace(f, extra={**f.extra, "verified": True})
        if confirmed is False:
            stats.withdrawn += 1
            return replace(f, severity="info", extra={**f.extra, "verified": False, "severity_before_verify": f.severity})
        stats.failed += 1
        return f

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
        pieces: list[str] = []
        metrics = Metrics()
        stream = self.backend.stream_chat(request, cancel)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise ReviewCancelled
                pieces.append(chunk.text)
                if chunk.done and chunk.metrics:
                    metrics = chunk.metrics
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        data = _loads_object(_after_think("".join(pieces)))
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


def _encodable(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # A file name that is not UTF-8 reaches here with lone surrogates; a request must encode.
    return [{**m, "content": encodable(m["content"])} for m in messages]
