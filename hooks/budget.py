"""Run a review inside a total time budget, and say exactly what it did not get to.

The engine runs in a worker thread; the hook waits at most the budget, then sets the
cancel event. A backend checks that event between streamed chunks, but a request that
hangs before its first byte only ends at its own timeout, so after a short grace the
hook stops waiting and reports from what the callbacks already delivered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace

from gemma_review.engine import Progress, ReviewEngine, ReviewResult
from gemma_review.errors import ModelError
from gemma_review.findings import Finding, dedupe
from gemma_review.intake import FileChange

GRACE_SECONDS = 0.5  # how long a cancelled review may take to wind down
HUMAN_BYTES = 64 * 1024  # files up to this size are reviewed in the first pass


@dataclass
class Outcome:
    result: ReviewResult
    stopped: str | None = None  # why the review did not finish; None = complete
    error: ModelError | None = None  # the model's failure, when that is why
    timed_out: bool = False
    unreviewed: list[tuple[str, int]] = field(default_factory=list)  # (path, units not reviewed)
    total_units: int = 0
    finished: bool = True  # False: the worker is still blocked in a request

    @property
    def complete(self) -> bool:
        return self.stopped is None


def review_within(engine: ReviewEngine, changes: list[FileChange], deadline: float) -> Outcome:
    """Review ``changes``, giving up at ``deadline`` (a ``time.monotonic()`` value)."""
    # Human-sized changes first: a large (often generated) file must not spend the whole
    # budget before the small hand-written edits are looked at. Report order is by path anyway.
    # Two passes, because a pass plans all its files (units) before its first request, and
    # planning a multi-megabyte file alone can take longer than the budget.
    changes = sorted(changes, key=_size)
    passes = [[c for c in changes if _size(c) <= HUMAN_BYTES], [c for c in changes if _size(c) > HUMAN_BYTES]]
    cancel = threading.Event()
    done = threading.Event()
    found: list[Finding] = []
    progress: list[Progress] = []
    box: dict[str, object] = {}

    def work() -> None:
        try:
            results: list[ReviewResult] = []
            for batch in passes:
                if batch and not cancel.is_set():
                    results.append(engine.review(batch, on_finding=found.append, on_progress=progress.append, cancel=cancel))
                    # Incomplete until the last pass is done: the deadline may fall between passes.
                    box["result"] = _combined(results, cancelled=True)
            if results:
                box["result"] = _combined(results, cancelled=cancel.is_set() or any(r.cancelled for r in results))
            else:
                box["result"] = engine.review([], cancel=cancel)
        except ModelError as exc:
            box["model_error"] = exc
        except BaseException as exc:  # re-raised in the caller's thread
            box["crash"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="gemma-review-hook", daemon=True)
    worker.start()
    try:
        timed_out = not done.wait(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        cancel.set()  # Ctrl-C: let the worker stop its request instead of streaming on
        raise
    if timed_out:
        cancel.set()
        done.wait(GRACE_SECONDS)
    if "crash" in box:
        raise box["crash"]  # type: ignore[misc]
    finished = done.is_set()

    result = box.get("result")
    if isinstance(result, ReviewResult) and not result.cancelled:
        return Outcome(result, total_units=result.units)

    # Incomplete: cancelled, the model failed, or the worker is still stuck in a request.
    done_per_file = Counter(p.path for p in list(progress) if p.done > 0)  # done=0 only announces the total
    if isinstance(result, ReviewResult):
        # Files of a pass that never started count as not reviewed too (unless config excludes them).
        later = [c for c in changes if not c.skipped and c.path not in result.files
                 and c.path not in {p for p, _ in result.skipped} and engine.selected(c) is None]
        planned = list(result.files.values()) + later
        findings, skipped, notes, metrics = result.findings, result.skipped, result.notes, result.metrics
    else:
        planned = [c for c in changes if not c.skipped]
        findings = dedupe(list(found))
        skipped = [(c.path, c.skip_reason or "") for c in changes if c.skipped]
        notes, metrics = [], None
    unreviewed: list[tuple[str, int]] = []
    total = 0
    for change in planned:
        units = _unit_count(engine, change)
        total += units
        left = units - done_per_file.get(change.path, 0)
        if left > 0:
            unreviewed.append((change.path, left))
    reviewed = sum(done_per_file.values())
    partial = ReviewResult(
        findings=findings,
        skipped=skipped,
        units=reviewed,
        cached_units=progress[-1].cached if progress else 0,
        files={c.path: c for c in planned},
        notes=notes,
        cancelled=True,
        model=engine.model_name,
        demo=engine.demo,
    )
    if metrics is not None:
        partial = replace(partial, metrics=metrics)
    error = box.get("model_error")
    if isinstance(error, ModelError) and not timed_out:
        return Outcome(partial, str(error), error, False, unreviewed, total, finished)
    return Outcome(partial, "the time budget ran out", None, True, unreviewed, total, finished)


def _combined(results: list[ReviewResult], cancelled: bool) -> ReviewResult:
    """The passes' results as one (findings deduplicated across passes)."""
    if len(results) == 1:
        out = replace(results[0])
    else:
        out = ReviewResult(model=results[0].model)
        for r in results:
            out.findings += r.findings
            out.skipped += r.skipped
            out.units += r.units
            out.cached_units += r.cached_units
            out.requests += r.requests
            out.files.update(r.files)
            out.notes += r.notes
            out.metrics.add(r.metrics)
            out.wall_seconds += r.wall_seconds
            out.prompt_tokens_estimated += r.prompt_tokens_estimated
            out.backend = r.backend or out.backend
        out.findings = dedupe(out.findings)
    out.cancelled = cancelled
    return out


def _size(change: FileChange) -> int:
    return len(change.text) if change.text is not None else 0


def _unit_count(engine: ReviewEngine, change: FileChange) -> int:
    try:
        return max(1, len(engine.units_for(change)))
    except Exception:  # counting is for the message only; never fail the hook over it
        return 1
