"""The language server: LSP handlers over the review engine.

Handlers are thin: they translate between LSP and the plain modules next to this one
(positions, diagnostics, actions, reviewer, engines, options, progress). All state lives
on the :class:`GemmaLanguageServer` object; nothing is global.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import stat
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Sequence

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gemma_review import __version__
from gemma_review.config import Settings
from gemma_review.engine import Progress, ReviewResult, measured_tps
from gemma_review.errors import (
    ConfigError,
    GemmaReviewError,
    ModelError,
    ModelNotFoundError,
    ModelUnavailableError,
)
from gemma_review.findings import Finding
from gemma_review.textfile import NotText, content_hash, decode

from . import actions, diagnostics, lines, options, transport
from .diagnostics import LiveFinding
from .documents import open_text
from .engines import EngineHub, Target, document_change, target_for, untitled_name
from .options import EditorOptions
from .progress import STATUS_METHOD, ReviewProgress, StatusTracker, progress_message
from .protocol import GemmaProtocol
from .reviewer import Job, Reviewer, run_in_thread
from .state import ClientFeatures, DocState, PendingRemap

log = logging.getLogger("gemma_review.lsp")

REVIEW_FILE = "gemma-review.reviewFile"
REVIEW_CHANGES = "gemma-review.reviewChanges"
REQUEST_FAILED = -32803  # LSP RequestFailed
CONFIG_WAIT_SECONDS = 5.0  # a client that never answers workspace/configuration must not stall reviews
REPROBE_SECONDS = 3.0  # while the model is unavailable, ask its server this often whether it is back
# Above this many lines, matching a whole-document change's lines runs in a worker thread:
# even near-linear, 20,000 lines take long enough to delay every other request behind it.
REMAP_OFF_LOOP_LINES = 5_000


class GemmaLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("gemma-review", __version__, protocol_cls=GemmaProtocol)
        self.features = ClientFeatures()
        self.init_options = EditorOptions()
        self.client_config = EditorOptions()
        self.hub = EngineHub([])
        self.docs: dict[str, DocState] = {}
        self.reviewer: Reviewer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.config_ready = False
        self.waiting: dict[str, tuple[str, str | None]] = {}  # uri -> (reason, scope) asked before settings arrived
        self.problems_shown: set[str] = set()
        self.notices_logged: set[str] = set()
        self.problem: str | None = None  # "unavailable" | "error" while the last review failed
        self.unavailable: dict[str, Settings] = {}  # uri -> settings whose model did not answer
        self.reprobe: asyncio.Task[None] | None = None
        self.progress: dict[str, ReviewProgress] = {}  # token -> progress
        self.refactors = 0
        # When each document was last opened, edited, saved or asked for: the scheduler
        # sends the most recently touched document's requests first.
        self.activity: dict[str, int] = {}
        self._touches = itertools.count(1)
        self.status = StatusTracker(lambda params: self.protocol.notify(STATUS_METHOD, params))

    # --- settings -----------------------------------------------------------------
    @property
    def editor(self) -> EditorOptions:
        return self.init_options.merged(self.client_config)

    def warn(self, messages: list[str]) -> None:
        for message in messages:
            self.log(message, types.MessageType.Warning)

    def warn_once(self, messages: list[str]) -> None:
        """Configuration warnings (e.g. an unknown key) once per session, not per review."""
        for message in messages:
            if message not in self.notices_logged:
                self.notices_logged.add(message)
                self.log(message, types.MessageType.Warning)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def tell_once(self, key: str, message: str, kind: types.MessageType) -> None:
        """``window/showMessage`` at most once per session for each kind of problem."""
        if key in self.problems_shown:
            return
        self.problems_shown.add(key)
        # Plain text: editors show notifications verbatim, so no Markdown backticks.
        plain = message.replace("`", "")
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"gemma-review: {plain}"))

    def doc_settings(self, state: DocState) -> Settings:
        try:
            loaded = self.hub.settings_for(state.target, self.editor)
            state.settings = loaded.settings
            self.warn_once(loaded.warnings)
        except ConfigError as exc:
            self.report_problem(exc, state.target.shown)
            state.settings = None
        return state.settings or Settings()

    async def fetch_configuration(self) -> None:
        if not self.features.configuration:
            return
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=options.SECTION)])
                ),
                CONFIG_WAIT_SECONDS,
            )
        except Exception as exc:  # noqa: BLE001 - a client bug must not stop reviews
            self.log(f"workspace/configuration failed ({exc!r}); using initializationOptions", types.MessageType.Warning)
            return
        raw = result[0] if isinstance(result, (list, tuple)) and result else None
        parsed, warnings = options.parse(raw, "workspace/configuration")
        self.warn(warnings)
        self.client_config = parsed

    def settings_changed(self) -> None:
        """New settings: new engines, problems may be fixed, every open document is reviewed again."""
        self.hub.retire_all()
        self.problems_shown.clear()
        self.problem = None
        self.unavailable.clear()  # the new settings' reviews say again whether their model answers
        assert self.reviewer is not None
        self.reviewer.cancel_all()
        for state in self.docs.values():
            settings = self.doc_settings(state)
            if settings.trigger != "manual":
                self.request_review(state.uri, "config")
        self.refresh_status()

    # --- documents ----------------------------------------------------------------
    def state_for(self, uri: str) -> DocState:
        """The document's state; a file the editor has not opened is read from disk (again).

        Raises a RequestFailed error naming the problem when it cannot be read as text.
        """
        state = self.docs.get(uri)
        document = open_text(self.workspace, uri)
        if state is not None and (document is not None or state.snapshot is None):
            return state
        path = _path_of(uri)
        if document is not None:
            text, version, snapshot = document.source, document.version, None
            name = Path(path).name if path else untitled_name(uri, document.language_id)
        else:
            text = snapshot = read_unopened(uri, path)
            version = None
            name = Path(path).name if path else uri
        target = target_for(path, name, self.hub.workspace_roots)
        state = DocState(uri, target, version, lines.split(text), snapshot=snapshot)
        self.docs[uri] = state
        return state

    def text_of(self, state: DocState) -> str:
        if state.snapshot is not None:
            return state.snapshot
        return self.workspace.get_text_document(state.uri).source

    def publish(self, state: DocState) -> None:
        text = self.text_of(state)
        digest = content_hash(text)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=state.uri,
                version=state.version,
                diagnostics=[diagnostics.to_diagnostic(i, state.lines, digest) for i in state.findings],
            )
        )

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        state = self.docs.get(uri)
        if state is None:
            return
        self.touch(uri)
        new_lines = lines.split(self.workspace.get_text_document(uri).source)
        version = params.text_document.version
        had = bool(state.findings) or state.remap is not None
        moved = self.moved_by_ranges(state, params.content_changes, new_lines)
        if moved is None:  # lines must be matched, from the text the findings are on
            held = state.remap
            base_items, base_lines = (held.findings, held.lines) if held is not None else (state.findings, state.lines)
            if base_items and max(len(base_lines), len(new_lines)) > REMAP_OFF_LOOP_LINES:
                # A newer remap replaces a running one, whose result is then dropped (see remap_done).
                state.remap = PendingRemap(base_items, base_lines, version)
                state.remap.task = asyncio.get_running_loop().create_task(self.remap_off_loop(state, state.remap, new_lines))
                state.findings = []
            else:
                state.remap = None
                moved = diagnostics.remap_lines(base_items, base_lines, new_lines)
        if moved is not None:
            state.findings = [i for i in moved if not diagnostics.resolved(i, new_lines)]
        state.lines = new_lines
        state.version = version
        if had and moved is not None:
            self.publish(state)  # a pending remap publishes when it is done
        assert self.reviewer is not None
        # A newer version makes the running review stale: stop it (its HTTP stream closes).
        self.reviewer.cancel(uri)
        settings = state.settings or Settings()
        if settings.trigger == "type":
            self.request_review(uri, "type", delay=settings.debounce_ms / 1000.0)
        self.refresh_status()

    def moved_by_ranges(
        self, state: DocState, changes: Sequence[types.TextDocumentContentChangeEvent], new_lines: list[str]
    ) -> list[LiveFinding] | None:
        """The findings moved by ranged changes, or None when lines must be matched instead.

        Matching is needed for a whole-document change, while an earlier remap is still
        running (the findings are not on the text the ranges refer to), and when a break
        was joined or split at the edge of an edit (a \n typed after a lone \r makes one
        \r\n), where moving by the range is wrong.
        """
        if state.remap is not None or any(getattr(c, "range", None) is None for c in changes):
            return None
        ranges = [(i, i.range) for i in state.findings]
        items = state.findings
        count = len(state.lines)  # the line count the changes' ranges predict
        for change in changes:
            items = diagnostics.shift(items, change)
            count += len(lines.split(change.text)) - 1 - (change.range.end.line - change.range.start.line)
        if count != len(new_lines) and ranges:
            for item, rng in ranges:  # shift moved them in place: back to where they were
                item.range = rng
            return None
        return items

    async def remap_off_loop(self, state: DocState, pending: PendingRemap, new_lines: list[str]) -> None:
        """Match a large document's lines in a worker thread, then move and publish its findings."""
        try:
            mapping = await run_in_thread(
                self.loop or asyncio.get_running_loop(), lambda: diagnostics.line_mapping(pending.lines, new_lines)
            )
        except Exception as exc:  # noqa: BLE001 - a bug here must not leave the findings held forever
            log.exception("remapping %s failed", state.uri)
            self.log(f"moving the diagnostics of {state.target.shown} failed ({exc!r}); they are dropped", types.MessageType.Error)
            mapping = {}
        if self.docs.get(state.uri) is not state or state.remap is not pending or state.version != pending.version:
            # A newer version (or a review of it) arrived meanwhile: publishing this result
            # now would move the diagnostics back to an older text.
            return
        state.remap = None
        moved = diagnostics.apply_mapping(pending.findings, mapping)
        state.findings = [i for i in moved if not diagnostics.resolved(i, state.lines)]
        self.publish(state)

    # --- reviews ------------------------------------------------------------------
    def touch(self, uri: str) -> None:
        self.activity[uri] = next(self._touches)

    def request_review(self, uri: str, reason: str, scope: str | None = None, delay: float = 0.0) -> None:
        self.touch(uri)
        if not self.config_ready:
            self.waiting[uri] = (reason, scope)
            return
        assert self.reviewer is not None

        def make_job() -> Job | None:
            state = self.docs.get(uri)
            if state is None:
                return None
            text = self.text_of(state)
            return Job(uri=uri, version=state.version, text=text, scope=scope or "", reason=reason)

        self.reviewer.schedule(uri, delay, make_job)

    def run_review(self, job: Job, emit: Any) -> ReviewResult:
        """In the worker thread: one review of one document version."""
        state = job.state.doc
        assert state is not None  # set by job_started before the thread runs
        loaded = self.hub.settings_for(state.target, self.editor)
        settings = loaded.settings
        job.state.settings = settings
        engine = self.hub.acquire(settings, self.hub.root_for(loaded, state.target))
        try:
            # The engine counts lines as git does; made to agree with the protocol's lines.
            change = document_change(state.target, lines.for_engine(job.text), job.scope or settings.scope)
            emit("plan", {"model": settings.model})  # the unit total arrives as the first progress event
            result = engine.review(
                [change],
                on_finding=lambda f: emit("finding", f),
                on_progress=lambda p: emit("progress", p),
                cancel=job.cancel,
                priority=lambda: self.activity.get(job.uri, 0),
            )
            job.state.notice = engine.backend_notice
            return result
        finally:
            self.hub.release(engine)

    def job_started(self, job: Job) -> None:
        state = self.docs[job.uri]
        job.state.doc = state
        job.state.lines = lines.split(job.text)
        if self.features.progress:
            token = f"gemma-review/review/{job.id}"
            reporter = ReviewProgress(self, token, f"Reviewing {Path(state.target.shown).name}")
            reporter.create()
            job.state.progress = reporter
            job.state.token = token
            self.progress[token] = reporter
        self.refresh_status()

    def job_event(self, job: Job, kind: str, payload: Any, current: bool) -> None:
        state = self.docs.get(job.uri)
        fresh = current and state is not None and state.version == job.version
        reporter = job.state.progress
        if kind == "plan":
            self.status.update(model=payload["model"])
        elif kind == "finding":
            if fresh and state is not None:
                self.add_finding(state, job, payload)
        elif kind == "progress":
            p: Progress = payload
            if reporter is not None:
                reporter.report(*progress_message(p.done, p.total, p.tokens_per_second))
            if current and p.tokens_per_second:
                self.status.update(tokens_per_second=p.tokens_per_second)
        elif kind == "done":
            self.finish(job, payload, fresh, state)
        elif kind == "failed":
            self.fail(job, payload, current)
        if kind in ("done", "failed"):
            token = job.state.token
            if token:
                self.progress.pop(token, None)
            self.refresh_status()

    def add_finding(self, state: DocState, job: Job, finding: Finding) -> None:
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
        self.publish(state)

    def finish(self, job: Job, result: ReviewResult, fresh: bool, state: DocState | None) -> None:
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
                self.publish(state)
        notice = job.state.notice
        if notice and notice not in self.notices_logged:
            self.notices_logged.add(notice)
            self.log(notice)
        for note in result.notes:
            self.log(note, types.MessageType.Warning)
        if result.dropped or result.raw_findings:
            from gemma_review.report.text import explain_lines

            # The lowest level (Log: "debug" in VS Code's output channel): what was dropped and why.
            for line in explain_lines(result):
                self.log(line, types.MessageType.Log)
        for path, reason in result.skipped:
            if reason != "no reviewable lines":
                self.log(f"skipped {path}: {reason}")
        tps = honest_tps(result)
        self.log(f"reviewed {name}: {review_summary(found, result, tps)}")
        self.unavailable.pop(job.uri, None)
        self.problem = None
        self.status.update(
            model=result.model + (" (demo)" if result.demo else "") if result.model else self.status.current.model,
            backend=result.backend if result.backend not in ("", "cache") else self.status.current.backend,
            tokens_per_second=tps or self.status.current.tokens_per_second,
        )

    def fail(self, job: Job, exc: BaseException, current: bool) -> None:
        reporter = job.state.progress
        if reporter is not None:
            reporter.end("failed")
        state = self.docs.get(job.uri)
        where = state.target.shown if state else job.uri
        if job.cancel.is_set() and not current:
            return  # a stale review's error is of no interest
        if isinstance(exc, GemmaReviewError):
            self.report_problem(exc, where)
            settings = job.state.settings
            if isinstance(exc, ModelUnavailableError) and isinstance(settings, Settings):
                self.unavailable[job.uri] = settings
                self.start_reprobe()
        else:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.log(f"review of {where} crashed: {exc!r}\n{detail}", types.MessageType.Error)
            self.problem = "error"
            self.tell_once(f"crash:{type(exc).__name__}", f"the review of {where} failed ({type(exc).__name__}: {exc}); see the log", types.MessageType.Error)

    def report_problem(self, exc: GemmaReviewError, where: str) -> None:
        message = str(exc)
        self.log(f"{where}: {type(exc).__name__}: {message}", types.MessageType.Error)
        if isinstance(exc, (ModelUnavailableError, ModelNotFoundError)):
            self.problem = "unavailable"
            # One message per outage for "the model cannot be used", whichever file hit it.
            if not self.features.model_notice:
                self.tell_once(type(exc).__name__, message, types.MessageType.Error)
        elif isinstance(exc, ModelError):
            self.problem = "error"
            self.tell_once(f"model:{message}", message, types.MessageType.Error)
        else:
            self.problem = "error"
            self.tell_once(f"{type(exc).__name__}:{message}", message, types.MessageType.Error)
        self.status.update(message=message.replace("`", ""))

    # --- the model comes back -------------------------------------------------------
    def start_reprobe(self) -> None:
        """Ask the unavailable model's server every few seconds; review again once it answers."""
        if self.loop is None or (self.reprobe is not None and not self.reprobe.done()):
            return
        self.reprobe = self.loop.create_task(self._reprobe_loop())

    async def _reprobe_loop(self) -> None:
        from gemma_review.backends.select import model_reachable

        assert self.loop is not None
        while self.unavailable:
            await asyncio.sleep(REPROBE_SECONDS)
            waiting = dict(self.unavailable)
            back: list[str] = []
            for settings in {repr(s): s for s in waiting.values()}.values():
                if await self.loop.run_in_executor(None, model_reachable, settings):
                    back += [uri for uri, s in waiting.items() if repr(s) == repr(settings)]
            if not back:
                continue
            for uri in back:
                self.unavailable.pop(uri, None)
            self.log(f"the model answers again; reviewing {len(back)} open document{'s' if len(back) != 1 else ''}")
            # A later outage deserves its own message; this one is over.
            self.problems_shown.difference_update({ModelUnavailableError.__name__, ModelNotFoundError.__name__})
            if not self.unavailable:
                self.problem = None
                self.status.update(message=None)
            for uri in back:
                if uri in self.docs:
                    self.request_review(uri, "model back")
            self.refresh_status()

    def refresh_status(self) -> None:
        busy = self.refactors > 0 or (
            self.reviewer is not None and any(not j.cancel.is_set() for j in self.reviewer.active.values())
        )
        if busy:
            names = [Path(s.target.shown).name for uri, s in self.docs.items() if self.reviewer and uri in self.reviewer.active]
            self.status.update(state="reviewing", message=f"Reviewing {', '.join(names)}" if names else "Refactoring")
        elif self.problem:
            self.status.update(state=self.problem)
        else:
            self.status.update(state="idle", message=None)

    # --- code actions ---------------------------------------------------------------
    def doc_view(self, state: DocState) -> actions.Doc:
        text = self.text_of(state)
        return actions.Doc(
            uri=state.uri,
            version=state.version,
            lines=state.lines,
            newline=lines.newline_of(text),
            path=state.target.shown,
            versioned=self.features.versioned_edits,
        )

    def definition_spans(self, state: DocState, text: str) -> list[tuple[int, int]] | None:
        version, spans = state.spans
        if spans is not None and version == state.version and version is not None:
            return spans
        from gemma_review.languages import language_of
        from gemma_review.units import definition_spans

        lang = language_of(state.target.shown)
        if lang is None:
            return None
        try:
            spans = definition_spans(lang, lines.for_engine(text))
        except Exception:  # noqa: BLE001 - no grammar, no refactor offer
            return None
        state.spans = (state.version, spans)
        return spans

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        state = self.docs.get(params.text_document.uri)
        if state is None:
            return []
        only = params.context.only
        doc = self.doc_view(state)
        digest = content_hash(self.text_of(state))
        wanted = {
            d.data.get("fingerprint")
            for d in params.context.diagnostics
            if isinstance(d.data, dict) and d.source == diagnostics.SOURCE
        }
        chosen: list[LiveFinding] = []
        for item in [i for i in state.findings if i.fingerprint in wanted] + diagnostics.at(
            state.findings, params.range.start.line, params.range.end.line
        ):
            if all(item is not c for c in chosen):
                chosen.append(item)
        out: list[types.CodeAction] = []
        if actions.kind_wanted(actions.QUICKFIX_KIND, only):
            ignores: list[types.CodeAction] = []
            for item in chosen:
                diag = diagnostics.to_diagnostic(item, state.lines, digest)
                fix = actions.fix_action(item, doc, diag)
                if fix is not None:
                    out.append(fix)
                title = actions.IGNORE_TITLE if len(chosen) == 1 else f"{actions.IGNORE_TITLE}: {item.finding.title}"
                ignores.append(actions.ignore_action(item, doc, diag, title))
            out.extend(ignores)
        if actions.kind_wanted(actions.REFACTOR_KIND, only):
            text = self.text_of(state)
            span = actions.refactor_span(doc, params.range, self.definition_spans(state, text))
            if span is not None:
                out.append(actions.refactor_action(doc, span[0], span[1], self.features.resolve_edit))
        if actions.kind_wanted(actions.FIX_ALL_KIND, only) and state.findings:
            fix_all = actions.fix_all_action(state.findings, doc)
            if fix_all is not None:
                out.append(fix_all)
        return out

    async def refactor(self, request: actions.RefactorRequest) -> tuple[types.WorkspaceEdit, str]:
        """Ask the model to rewrite the lines; a validated, re-indented edit or a RequestFailed error."""
        state = self.docs.get(request.uri)
        if state is None:
            raise JsonRpcException(f"{request.uri} is not open", code=REQUEST_FAILED)
        if request.version is not None and state.version is not None and request.version != state.version:
            raise JsonRpcException("the document changed since the refactor was offered; ask again", code=REQUEST_FAILED)
        if request.last >= len(state.lines):
            raise JsonRpcInvalidParams(f"the range ends at line {request.last + 1}, past the end of the document")
        text = lines.for_engine(self.text_of(state))
        version = state.version
        cancel = threading.Event()
        hub = self.hub
        editor = self.editor

        def work() -> Any:
            loaded = hub.settings_for(state.target, editor)
            engine = hub.acquire(loaded.settings, hub.root_for(loaded, state.target))
            try:
                return engine.refactor(state.target.shown, text, request.first + 1, request.last + 1, cancel=cancel)
            finally:
                hub.release(engine)

        self.refactors += 1
        self.refresh_status()
        try:
            result = await run_in_thread(self.loop or asyncio.get_running_loop(), work)
        except asyncio.CancelledError:
            cancel.set()  # $/cancelRequest: the model stops too
            raise
        except GemmaReviewError as exc:
            self.report_problem(exc, state.target.shown)
            raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
        finally:
            self.refactors -= 1
            self.refresh_status()
        if result.fix is None:
            why = result.rejected or "it was unchanged or would not parse"
            raise JsonRpcException(f"Gemma's rewrite was not applied: {why}", code=REQUEST_FAILED)
        if state.version != version:
            raise JsonRpcException("the document changed while Gemma was refactoring; ask again", code=REQUEST_FAILED)
        doc = self.doc_view(state)
        new_lines = result.fix.replacement.split("\n") if result.fix.replacement else []
        edit = actions.replace_lines(doc.lines, result.fix.start_line - 1, result.fix.end_line - 1, new_lines, doc.newline)
        self.log(f"refactor of {state.target.shown}:{request.first + 1}-{request.last + 1}: {result.summary}")
        return actions.workspace_edit(doc, [edit]), result.summary

    # --- lifecycle ------------------------------------------------------------------
    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls would pop up "Error in server" for every bad message; a log line is enough.
        try:
            self.log(f"{getattr(source, '__name__', source)}: {error}", types.MessageType.Error)
        except Exception:  # noqa: BLE001 - the transport may be gone
            log.error("%s", error)


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


def _path_of(uri: str) -> Path | None:
    if not uri.startswith("file:"):
        return None
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else None


def read_unopened(uri: str, path: Path | None) -> str:
    """The text of a file the editor has not opened, or a RequestFailed error saying why not."""
    if path is None:
        raise JsonRpcException(f"{uri} is not a file: URI and is not open in the editor; open it to review it", code=REQUEST_FAILED)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise JsonRpcException(f"{path}: is a directory, not a file", code=REQUEST_FAILED)
        if not stat.S_ISREG(mode):  # a FIFO or device would block the read
            raise JsonRpcException(f"{path}: not a regular file", code=REQUEST_FAILED)
        data = path.read_bytes()
    except FileNotFoundError:
        raise JsonRpcException(f"{path}: no such file", code=REQUEST_FAILED) from None
    except OSError as exc:
        raise JsonRpcException(f"{path}: cannot read: {exc.strerror or exc}", code=REQUEST_FAILED) from None
    try:
        return decode(data)
    except NotText as exc:
        hint = "convert it to UTF-8 to review it" if "UTF-8" in str(exc) else "only text files are reviewed"
        raise JsonRpcException(f"{path}: {exc}; {hint}", code=REQUEST_FAILED) from None


def _uri_argument(args: tuple[Any, ...]) -> str:
    if not args:
        raise JsonRpcInvalidParams("expected the document URI as the first argument")
    first = args[0]
    if isinstance(first, dict):
        first = first.get("uri")
    if not isinstance(first, str) or not first:
        raise JsonRpcInvalidParams("expected the document URI as the first argument")
    return first


def build_server() -> GemmaLanguageServer:
    server = GemmaLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: GemmaLanguageServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.features = ClientFeatures.of(params.capabilities)
        roots: list[Path] = []
        for folder in params.workspace_folders or []:
            path = _path_of(folder.uri)
            if path is not None:
                roots.append(path)
        if not roots and params.root_uri:
            path = _path_of(params.root_uri)
            if path is not None:
                roots.append(path)
        if not roots and params.root_path:
            roots.append(Path(params.root_path).resolve())
        ls.hub = EngineHub(roots)
        ls.init_options, warnings = options.parse(params.initialization_options, "initializationOptions")
        ls.reviewer = Reviewer(ls.loop, ls.run_review, ls)
        ls.warn(warnings)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: GemmaLanguageServer, params: types.InitializedParams) -> None:
        try:
            model = ls.hub.settings_for(Target(None, "", None), ls.editor).settings.model
        except ConfigError as exc:
            ls.report_problem(exc, "settings")
            model = Settings().model
        ls.status.update(model=model)
        ls.refresh_status()
        await ls.fetch_configuration()
        ls.config_ready = True
        waiting, ls.waiting = ls.waiting, {}
        for uri, (reason, scope) in waiting.items():
            if uri in ls.docs:
                settings = ls.doc_settings(ls.docs[uri])
                if reason == "command" or settings.trigger != "manual":
                    ls.request_review(uri, reason, scope)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: GemmaLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        before = ls.client_config
        pushed = options.pushed_settings(params.settings)
        if pushed is not None:
            parsed, warnings = options.parse(pushed, "workspace/didChangeConfiguration")
            ls.warn(warnings)
            ls.client_config = parsed
        else:
            await ls.fetch_configuration()
        # Editors send this for every settings change, most of them to other sections:
        # only a change of ours re-reviews the open files.
        if ls.client_config == before:
            ls.log("workspace/didChangeConfiguration: gemma-review settings unchanged", types.MessageType.Log)
        elif ls.config_ready:
            ls.settings_changed()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GemmaLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.docs.pop(params.text_document.uri, None)
        state = ls.state_for(params.text_document.uri)
        state.version = params.text_document.version
        settings = ls.doc_settings(state)
        if settings.trigger != "manual":
            ls.request_review(state.uri, "open")

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GemmaLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.did_change(params)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: GemmaLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        state = ls.docs.get(params.text_document.uri)
        if state is None:
            return
        ls.touch(state.uri)  # the document the user works in: its requests go first
        settings = ls.doc_settings(state)  # the configuration file may have been what was saved
        if settings.trigger == "manual":
            return
        assert ls.reviewer is not None
        running = ls.reviewer.active.get(state.uri)
        if running is not None and running.version == state.version and not running.cancel.is_set():
            return  # already reviewing exactly this text
        ls.request_review(state.uri, "save")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GemmaLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        assert ls.reviewer is not None
        ls.reviewer.cancel(uri)
        ls.waiting.pop(uri, None)
        if ls.docs.pop(uri, None) is not None:
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        ls.refresh_status()

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=list(actions.KINDS), resolve_provider=True),
    )
    def code_action(ls: GemmaLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ls.code_actions(params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: GemmaLanguageServer, action: types.CodeAction) -> types.CodeAction:
        data = action.data
        if not (isinstance(data, dict) and data.get("type") == actions.DATA_TAG):
            return action  # every other action is complete already
        try:
            request = actions.parse_refactor_request(data)
        except ValueError as exc:
            raise JsonRpcInvalidParams(f"codeAction/resolve: {exc}") from None
        action.edit, _summary = await ls.refactor(request)
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: GemmaLanguageServer, params: types.HoverParams) -> types.Hover | None:
        state = ls.docs.get(params.text_document.uri)
        if state is None:
            return None
        line = params.position.line
        items = diagnostics.at(state.findings, line, line)
        if not items:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=actions.hover_markdown(items, state.target.shown)),
            range=items[0].range,
        )

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: GemmaLanguageServer, params: types.WorkDoneProgressCancelParams) -> None:
        token = str(params.token)
        reporter = ls.progress.get(token)
        if reporter is None or ls.reviewer is None:
            return
        for job in ls.reviewer.active.values():
            if job.state.token == token:
                ls.reviewer.cancel_job(job)
                ls.log(f"review of {job.state.doc.target.shown if job.state.doc else job.uri} cancelled from the editor")
        ls.refresh_status()

    @server.command(REVIEW_FILE)
    def review_file(ls: GemmaLanguageServer, *args: Any) -> None:
        uri = _uri_argument(args)
        ls.state_for(uri)
        ls.request_review(uri, "command", scope="file")

    @server.command(REVIEW_CHANGES)
    def review_changes(ls: GemmaLanguageServer, *args: Any) -> None:
        uri = _uri_argument(args)
        ls.state_for(uri)
        ls.request_review(uri, "command", scope="changes")

    @server.command(actions.REFACTOR_COMMAND)
    async def refactor_command(ls: GemmaLanguageServer, *args: Any) -> dict[str, Any]:
        try:
            request = actions.parse_refactor_request(args[0] if args else None)
        except ValueError as exc:
            raise JsonRpcInvalidParams(f"{actions.REFACTOR_COMMAND}: {exc}") from None
        edit, summary = await ls.refactor(request)
        if not ls.features.apply_edit:
            raise JsonRpcException("the editor cannot apply edits sent by the server (workspace/applyEdit)", code=REQUEST_FAILED)
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=actions.REFACTOR_TITLE))
        return {"applied": bool(result and result.applied), "summary": summary}

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: GemmaLanguageServer, params: None) -> None:
        ls.unavailable.clear()
        if ls.reprobe is not None:
            ls.reprobe.cancel()
        if ls.reviewer is not None:
            ls.reviewer.cancel_all()

    @server.feature(types.EXIT)
    def exit_(ls: GemmaLanguageServer, params: None) -> None:
        if ls.reviewer is not None:
            ls.reviewer.cancel_all()
        ls.hub.close()

    return server


def serve(tcp: str | None = None) -> int:
    """``gemma-review lsp [--tcp HOST:PORT]``: serve until the client says exit; the exit code."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="gemma-review lsp: %(levelname)s %(name)s: %(message)s")
    address = transport.parse_tcp(tcp) if tcp else None
    server = build_server()
    try:
        if address is not None:
            transport.serve_tcp(server, *address)
        else:
            transport.serve_stdio(server)
    finally:
        if server.reviewer is not None:
            server.reviewer.cancel_all()
        server.hub.close()
    return 0 if transport.shutdown_requested(server) else 1
