"""Review jobs: asking for a review, running it, and what its events do to the document.

:class:`~.reviewer.Reviewer` schedules and runs the jobs; these functions are the server's
side of it: what a job reviews (:func:`run_review`, in the worker thread) and, on the
event loop, how its start, findings, progress, end and failure reach the editor.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from gemma_review.config import Settings
from gemma_review import events as ev
from gemma_review.result import ReviewResult, measured_tps
from gemma_review.errors import GemmaReviewError, ModelUnavailableError
from gemma_review.findings import Finding

from . import diagnostics, lines
from .engines import document_change
from .host import Host
from .progress import ReviewProgress, progress_message
from .reviewer import Failed, Job, JobEvent
from .state import DocState


def touch(ls: Host, uri: str) -> None:
    """The document was opened, edited, saved or asked for: its requests go first."""
    ls.activity[uri] = next(ls.touches)


def request_review(ls: Host, uri: str, reason: str, scope: str | None = None, delay: float = 0.0) -> None:
    ls.touch(uri)
    if not ls.config_ready:
        ls.waiting[uri] = (reason, scope)
        return
    assert ls.reviewer is not None

    def make_job() -> Job | None:
        state = ls.docs.get(uri)
        if state is None:
            return None
        text = ls.text_of(state)
        return Job(uri=uri, version=state.version, text=text, scope=scope or "", reason=reason)

    ls.reviewer.schedule(uri, delay, make_job)


def review_command(ls: Host, args: tuple[Any, ...], scope: str) -> None:
    """``gemma-review.reviewFile`` / ``reviewChanges``: review a document, open or not."""
    uri = uri_argument(args)
    ls.state_for(uri)
    ls.request_review(uri, "command", scope=scope)


def uri_argument(args: tuple[Any, ...]) -> str:
    if not args:
        raise JsonRpcInvalidParams("expected the document URI as the first argument")
    first = args[0]
    if isinstance(first, dict):
        first = first.get("uri")
    if not isinstance(first, str) or not first:
        raise JsonRpcInvalidParams("expected the document URI as the first argument")
    return first


def run_review(ls: Host, job: Job, emit: Any) -> ReviewResult:
    """In the worker thread: one review of one document version."""
    state = job.state.doc
    assert state is not None  # set by job_started before the thread runs
    loaded = ls.hub.settings_for(state.target, ls.editor)
    settings = loaded.settings
    job.state.settings = settings
    engine = ls.hub.acquire(settings, ls.hub.root_for(loaded, state.target))
    try:
        # The engine counts lines as git does; made to agree with the protocol's lines.
        change = document_change(state.target, lines.for_engine(job.text), job.scope or settings.scope)

        def forward(event: ev.Event) -> None:
            if isinstance(event, (ev.Planned, ev.Found, ev.Updated, ev.ProgressMade)):  # what the editor shows
                emit(event)

        run = engine.run([[change]], forward, priority=lambda: ls.activity.get(job.uri, 0))
        result = run.execute(job.cancel)
        job.state.notice = engine.backend_notice
        return result
    finally:
        ls.hub.release(engine)


def job_started(ls: Host, job: Job) -> None:
    state = ls.docs[job.uri]
    job.state.doc = state
    job.state.lines = lines.split(job.text)
    if ls.features.progress:
        token = f"gemma-review/review/{job.id}"
        reporter = ReviewProgress(ls, token, f"Reviewing {Path(state.target.shown).name}")
        reporter.create()
        job.state.progress = reporter
        job.state.token = token
        ls.progress[token] = reporter
    ls.refresh_status()


def job_event(ls: Host, job: Job, event: JobEvent, current: bool) -> None:
    state = ls.docs.get(job.uri)
    fresh = current and state is not None and state.version == job.version
    reporter = job.state.progress
    if isinstance(event, ev.Planned):
        ls.status.update(model=event.model)
    elif isinstance(event, ev.Found):
        if fresh and state is not None:
            add_finding(ls, state, job, event.finding)
    elif isinstance(event, ev.Updated):
        if fresh and state is not None:
            update_finding(ls, state, job, event.finding)
    elif isinstance(event, ev.ProgressMade):
        p = event.progress
        if reporter is not None:
            reporter.report(*progress_message(p.done, p.total, p.tokens_per_second))
        if current and p.tokens_per_second:
            ls.status.update(tokens_per_second=p.tokens_per_second)
    elif isinstance(event, ev.Done):
        finish(ls, job, event.result, fresh, state)
    elif isinstance(event, Failed):
        fail(ls, job, event.error, current)
    if isinstance(event, (ev.Done, Failed)):
        token = job.state.token
        if token:
            ls.progress.pop(token, None)
        ls.refresh_status()


def add_finding(ls: Host, state: DocState, job: Job, finding: Finding) -> None:
    # The previous review's findings stay until this one ends well (it may fail or be
    # cancelled, and they are still valid: edits move them); one found again is replaced.
    job.findings_seen += 1
    # A review of the current text reports: findings still being moved from an older
    # text would only have lasted until its end, and would now come back over its own.
    state.remap = None
    item = diagnostics.live(finding, job.state.lines)
    new = job.state.found
    state.findings = [i for i in state.findings if i.fingerprint != item.fingerprint or any(i is n for n in new)]
    new.append(item)
    state.findings.append(item)
    ls.publish(state)


def update_finding(ls: Host, state: DocState, job: Job, finding: Finding) -> None:
    """A finding this review showed has more places now: its diagnostic is replaced."""
    item = diagnostics.live(finding, job.state.lines)
    new = job.state.found
    old = next((i for i in new if i.fingerprint == item.fingerprint), None)
    if old is None:
        return add_finding(ls, state, job, finding)
    new[:] = [item if i is old else i for i in new]
    state.findings = [item if i is old else i for i in state.findings]
    ls.publish(state)


def finish(ls: Host, job: Job, result: ReviewResult, fresh: bool, state: DocState | None) -> None:
    reporter = job.state.progress
    name = Path(state.target.shown).name if state else job.uri
    found = len(result.findings)
    if reporter is not None:
        reporter.end("cancelled" if result.cancelled else f"{found} finding{'s' if found != 1 else ''}")
    if result.cancelled:
        return
    if fresh and state is not None:
        state.remap = None  # held findings of an older text: this review replaces them too
        new = job.state.found
        kept = [i for i in state.findings if any(i is n for n in new)]
        if job.findings_seen == 0 or len(kept) != len(state.findings):
            state.findings = kept  # this review's findings replace the previous review's
            ls.publish(state)
    notice = job.state.notice
    if notice and notice not in ls.notices_logged:
        ls.notices_logged.add(notice)
        ls.log(notice)
    for note in result.notes:
        ls.log(note, types.MessageType.Warning)
    if result.dropped or result.raw_findings:
        from gemma_review.report.text import explain_lines

        # The lowest level (Log: "debug" in VS Code's output channel): what was dropped and why.
        for line in explain_lines(result):
            ls.log(line, types.MessageType.Log)
    for skip in result.skips_to_tell():
        ls.log(f"skipped {skip.path}: {skip.reason}")
    tps = honest_tps(result)
    ls.log(f"reviewed {name}: {review_summary(found, result, tps)}")
    ls.unavailable.pop(job.uri, None)
    ls.problem = None
    ls.status.update(
        model=result.model + (" (demo)" if result.demo else "") if result.model else ls.status.current.model,
        backend=result.backend if result.backend not in ("", "cache") else ls.status.current.backend,
        tokens_per_second=tps or ls.status.current.tokens_per_second,
    )


def fail(ls: Host, job: Job, exc: BaseException, current: bool) -> None:
    reporter = job.state.progress
    if reporter is not None:
        reporter.end("failed")
    state = ls.docs.get(job.uri)
    where = state.target.shown if state else job.uri
    if job.cancel.is_set() and not current:
        return  # a stale review's error is of no interest
    if isinstance(exc, GemmaReviewError):
        ls.report_problem(exc, where)
        settings = job.state.settings
        if isinstance(exc, ModelUnavailableError) and isinstance(settings, Settings):
            ls.unavailable[job.uri] = settings
            ls.start_reprobe()
    else:
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        ls.log(f"review of {where} crashed: {exc!r}\n{detail}", types.MessageType.Error)
        ls.problem = "error"
        ls.tell_once(f"crash:{type(exc).__name__}", f"the review of {where} failed ({type(exc).__name__}: {exc}); see the log", types.MessageType.Error)


def cancel_from_editor(ls: Host, params: types.WorkDoneProgressCancelParams) -> None:
    """``window/workDoneProgress/cancel``: the user stopped a review from its progress."""
    token = str(params.token)
    reporter = ls.progress.get(token)
    if reporter is None or ls.reviewer is None:
        return
    for job in ls.reviewer.active.values():
        if job.state.token == token:
            ls.reviewer.cancel_job(job)
            ls.log(f"review of {job.state.doc.target.shown if job.state.doc else job.uri} cancelled from the editor")
    ls.refresh_status()


def honest_tps(result: ReviewResult) -> float:
    """Decode speed only when the model wrote enough to measure; cached units have none."""
    return 0.0 if result.units <= result.cached_units else measured_tps(result.metrics)


def review_summary(found: int, result: ReviewResult, tps: float) -> str:
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' if count != 1 else ''}"

    by_model = result.units - result.cached_units
    parts = [n(found, "finding"), n(result.units, "unit")]
    if result.cached_units:
        parts.append(f"{result.cached_units} from the cache")
    if by_model > 0 and result.model:
        speed = f", {tps:.0f} tok/s" if tps else ""
        parts.append(f"{by_model} by {result.model}{' (demo model)' if result.demo else ''}{speed}")
    return ", ".join(parts) + f", {result.wall_seconds:.2f}s"
