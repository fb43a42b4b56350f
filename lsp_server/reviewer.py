"""Per-document review scheduling: debounce, one review per document, cancellation.

The engine is synchronous, so each review runs on the shared runner
(:mod:`gemma_review.runner`) and the event loop stays free for requests. Every event a
review emits is handed back to the loop with ``call_soon_threadsafe``; there the reviewer
drops what a newer review made stale. A newer review of a document cancels the older one
through its job's cancel token, which makes the backend close its HTTP stream, so nothing
keeps generating.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Union

from gemma_review import events as ev
from gemma_review.runner import CancelToken, Task, spawn

from .state import JobState



@dataclass
class Job:
    uri: str
    version: int | None
    text: str
    scope: str  # "changes" | "file"
    reason: str  # what started it: open, save, type, command, config
    id: int = 0
    cancel: CancelToken = field(default_factory=CancelToken)
    findings_seen: int = 0  # findings of this review published so far
    state: JobState = field(default_factory=JobState)  # the server's per-review bookkeeping


@dataclass(frozen=True)
class Failed:
    """The job's review raised (the last event of a job that did not end with ev.Done)."""

    error: BaseException


JobEvent = Union[ev.Event, Failed]

# Called in the worker thread: do the review, passing the events the server wants to ``emit``.
Runner = Callable[[Job, Callable[[ev.Event], None]], Any]


class Sink(Protocol):
    def job_started(self, job: Job) -> None: ...

    def job_event(self, job: Job, event: JobEvent, current: bool) -> None: ...


class Reviewer:
    def __init__(self, loop: asyncio.AbstractEventLoop, runner: Runner, sink: Sink) -> None:
        self.loop = loop
        self.runner = runner
        self.sink = sink
        self.active: dict[str, Job] = {}
        self.running: set[int] = set()  # ids of jobs whose thread has not finished
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)

    # --- on the event loop ------------------------------------------------------------
    def schedule(self, uri: str, delay: float, make_job: Callable[[], Job | None]) -> None:
        """Cancel what runs for ``uri`` and review it after ``delay`` seconds (0 = now)."""
        self.cancel(uri)
        if delay > 0:
            self._timers[uri] = self.loop.call_later(delay, self._fire, uri, make_job)
        else:
            self._fire(uri, make_job)

    def pending(self, uri: str) -> bool:
        return uri in self._timers

    def _fire(self, uri: str, make_job: Callable[[], Job | None]) -> None:
        self._timers.pop(uri, None)
        job = make_job()
        if job is not None:
            self.start(job)

    def start(self, job: Job) -> Job:
        self.cancel(job.uri)
        job.id = next(self._ids)
        self.active[job.uri] = job
        self.running.add(job.id)
        self.sink.job_started(job)
        task = spawn(lambda _token: self.runner(job, lambda e: self._post(job, e)), job.cancel, f"gemma-review-{job.id}")
        task.add_done_callback(lambda t: self._ended(job, t))
        return job

    def current(self, job: Job) -> bool:
        return self.active.get(job.uri) is job and not job.cancel.is_set()

    def cancel(self, uri: str) -> Job | None:
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        job = self.active.get(uri)
        if job is not None:
            job.cancel.set()
        return job

    def cancel_job(self, job: Job) -> None:
        job.cancel.set()

    def cancel_all(self) -> None:
        for uri in list(self._timers):
            self._timers.pop(uri).cancel()
        for job in self.active.values():
            job.cancel.set()

    def busy(self) -> bool:
        return bool(self.running)

    def _deliver(self, job: Job, event: JobEvent) -> None:
        if isinstance(event, (ev.Done, Failed)):
            self.running.discard(job.id)
            # Still the document's latest review (possibly cancelled, with no newer one).
            current = self.active.get(job.uri) is job
            if current:
                del self.active[job.uri]
        else:
            current = self.current(job)
        self.sink.job_event(job, event, current)

    # --- in the worker thread ---------------------------------------------------------
    def _ended(self, job: Job, task: Task[Any]) -> None:
        # Everything reaches the loop; a worker never dies silently.
        self._post(job, Failed(task.error) if task.error is not None else ev.Done(task.result()))

    def _post(self, job: Job, event: JobEvent) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver, job, event)
        except RuntimeError:
            pass  # the loop is closed: the server is exiting
