"""Run a review inside a total time budget, and say exactly what it did not get to.

The review runs on the shared runner with the budget as its token's deadline. A backend
checks the token between streamed chunks, but a request that hangs before its first byte
only ends at its own timeout, so after a short grace the hook stops waiting and reports
from the run's own snapshot of what it had shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gemma_review.engine import ReviewEngine
from gemma_review.errors import ModelError
from gemma_review.intake import FileChange
from gemma_review.result import ReviewResult
from gemma_review.runner import CancelToken, spawn

GRACE_SECONDS = 0.5  # how long a cancelled review may take to wind down
HUMAN_BYTES = 64 * 1024  # files up to this size are reviewed in the first batch


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
    changes = sorted(changes, key=_size)
    batches = [[c for c in changes if _size(c) <= HUMAN_BYTES], [c for c in changes if _size(c) > HUMAN_BYTES]]
    run = engine.run([b for b in batches if b] or [[]])
    task = spawn(run.execute, CancelToken(deadline), name="gemma-review-hook")
    try:
        task.wait(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        task.cancel()  # Ctrl-C: let the worker stop its request instead of streaming on
        raise
    if not task.done():
        task.cancel()
        task.wait(GRACE_SECONDS)
    finished = task.done()
    error = task.error if finished else None
    if error is not None and not isinstance(error, ModelError):
        raise error
    if finished and error is None and not run.result.cancelled:
        result = task.result()
        return Outcome(result, total_units=result.units)

    # Incomplete: out of time, the model failed, or the worker is still stuck in a request.
    partial = run.snapshot()
    unreviewed, total = run.unreviewed(lambda c: _unit_count(engine, c))
    timed_out = task.token.expired or not finished
    if isinstance(error, ModelError) and not timed_out:
        return Outcome(partial, str(error), error, False, unreviewed, total, finished)
    return Outcome(partial, "the time budget ran out", None, True, unreviewed, total, finished)


def _size(change: FileChange) -> int:
    return len(change.text) if change.text is not None else 0


def _unit_count(engine: ReviewEngine, change: FileChange) -> int:
    try:
        return max(1, len(engine.units_for(change)))
    except Exception:  # counting is for the message only; never fail the hook over it
        return 1
