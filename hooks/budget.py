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
    cancel = threading.Event()
    done = threading.Event()
    found: list[Finding] = []
    progress: list[Progress] = []
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["result"] = engine.review(changes, on_finding=found.append, on_progress=progress.append, cancel=cancel)
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
        planned = list(result.files.values())
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


def _unit_count(engine: ReviewEngine, change: FileChange) -> int:
    try:
        return max(1, len(engine.units_for(change)))
    except Exception:  # counting is for the message only; never fail the hook over it
        return 1
