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
from .config import CATEGORIES, Settings, check_privacy
from .errors import ConfigError, ModelError, ReviewCancelled
from .findings import Finding, Fix
from .fixes import FixDecision, decide_fix, validate_fix
from .intake import FileChange
from .languages import language_of
from .prompt import (
    PROMPT_VERSION,
    REFACTOR_SCHEMA,
    REVIEW_SCHEMA,
    load_guidelines,
    refactor_messages,
    review_messages,
)
from .stream_parse import FindingStream, LoopDetector
from .textfile import split_lines
from .terminal import encodable
from .tokens import estimate_tokens
from .units import Unit, build_units

HEADER_TOKENS = 64
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
        self._lock = threading.Lock()

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

        hidden: set[tuple[str, str]] = set()

        def publish(change: FileChange, file_lines: list[str], f: Finding) -> None:
            why = hidden_by(f, self.settings, change.changed_lines(), file_lines)
            if why is not None:
                if (why, f.fingerprint) not in hidden:
                    hidden.add((why, f.fingerprint))
                    result.hidden[why] = result.hidden.get(why, 0) + 1
                return
            if f.fingerprint in seen or any(
                k.path == f.path and k.line <= f.end_line and f.line <= k.end_line
                and (k.category == f.category or k.title.lower() == f.title.lower())
                for k in collected
            ):
                return
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
                        on_progress(Progress(done, total, unit.path, result.cached_units, measured_tps(result.metrics)))
        except ReviewCancelled:
            result.cancelled = True
        result.findings = fnd.dedupe(collected)
        result.notes.extend(hidden_notes(result.hidden, self.settings))
        result.wall_seconds = time.monotonic() - started
        result.backend = getattr(self._backend, "name", "") if self._backend is not None else "cache"
        result.model = self.model_name
        result.demo = self.demo
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
        found: list[Finding] = []
        metrics: Metrics | None = None
        looped = False
        text_seen = False
        stream = backend.stream_chat(request, cancel)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise ReviewCancelled
                if chunk.text:
                    if self.on_text is not None:
                        self.on_text(chunk.text)
                    text_seen = text_seen or bool(chunk.text.strip())
                    for raw in parser.feed(chunk.text):
                        f = fnd.build_finding(unit, raw, file_lines)
                        if f is not None:
                            found.append(f)
                            emit(f)
                    if loop.feed(chunk.text):
                        looped = True
                        break
                if chunk.done:
                    metrics = chunk.metrics
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops generation when we leave early
        if cancel is not None and cancel.is_set():
            raise ReviewCancelled
        where = f"{unit.path}:{unit.start}-{unit.end}"
        truncated = bool(metrics and metrics.truncated)
        if metrics is not None:
            result.metrics.add(metrics)
        if looped:
            result.notes.append(
                f"{where}: the model repeated itself; stopped reading after {len(found)} "
                f"finding{'s' if len(found) != 1 else ''}"
            )
            truncated = True
        elif not text_seen:
            result.notes.append(f"{where}: the model returned an empty reply")
        elif truncated or (not parser.closed and parser.buffer.strip()):
            if not parser.found_array:
                result.notes.append(f"{where}: the reply was not the expected JSON; nothing kept")
            else:
                n = len(found)
                result.notes.append(
                    f"{where}: the reply was cut off (num_predict {s.num_predict}); "
                    f"{n} complete finding{'s' if n != 1 else ''} before the cut {'were' if n != 1 else 'was'} read"
                )
            truncated = True
        return found, truncated

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
        data = _loads_object("".join(pieces))
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


# Filters that hide a finding the model wrote, in the order they are checked.
HIDDEN_ORDER = ("outside the changed lines", "min_confidence", "min_severity", "categories", "filters", "ignore comment")


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


def _encodable(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # A file name that is not UTF-8 reaches here with lone surrogates; a request must encode.
    return [{**m, "content": encodable(m["content"])} for m in messages]
