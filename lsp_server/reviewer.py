"""Per-document review scheduling: debounce, one review per document, cancellation.

The engine is synchronous, so each review runs in its own daemon thread and the event
loop stays free for requests. Everything a review reports is handed back to the loop
with ``call_soon_threadsafe``; there the reviewer drops what a newer review made stale.
A newer review of a document cancels the older one through the engine's cancel event,
which makes the backend close its HTTP stream, so nothing keeps generating.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, TypeVar

from .state import JobState

T = TypeVar("T")


@dataclass
class Job:
    uri: str
    version: int | None
    text: str
    scope: str  # "changes" | "file"
    reason: str  # what started it: open, save, type, command, config
    id: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    findings_seen: int = 0  # findings of this review published so far
    state: JobState = field(default_factory=JobState)  # the server's per-review bookkeeping


# Called in the worker thread: do the review, reporting through ``emit(kind, payload)``.
Runner = Callable[[Job, Callable[[str, Any], None]], Any]


class Sink(Protocol):
    def job_started(self, job: Job) -> None: ...

    def job_event(self, job: Job, kind: str, payload: Any, current: bool) -> None: ...


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
        threading.Thread(target=self._run, args=(job,), name=f"gemma-review-{job.id}", daemon=True).start()
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

    def _deliver(self, job: Job, kind: str, payload: Any) -> None:
        final = kind in ("done", "failed")
        if final:
            self.running.discard(job.id)
            # Still the document's latest review (possibly cancelled, with no newer one).
            current = self.active.get(job.uri) is job
            if current:
                del self.active[job.uri]
        else:
            current = self.current(job)
        self.sink.job_event(job, kind, payload, current)

    # --- in the worker thread ---------------------------------------------------------
    def _run(self, job: Job) -> None:
        def emit(kind: str, payload: Any) -> None:
            self._post(job, kind, payload)

        try:
            result = self.runner(job, emit)
        except BaseException as exc:  # everything reaches the loop; the thread never dies silently
            self._post(job, "failed", exc)
        else:
            self._post(job, "done", result)

    def _post(self, job: Job, kind: str, payload: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver, job, kind, payload)
        except RuntimeError:
            pass  # the loop is closed: the server is exiting


def run_in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``fn`` in a daemon thread (it must not keep the process alive) and await its result."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:
            ok, value = False, exc
        else:
            ok = True
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:
            pass

    threading.Thread(target=work, name="gemma-review-task", daemon=True).start()
    return future
