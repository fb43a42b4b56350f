"""The language server: LSP handlers over the review engine.

This module wires :class:`GemmaLanguageServer`: its state, its messages to the user, and
one thin handler per LSP method that passes the params to the function doing the work,
in a module named after its concern:

- :mod:`.configuration`: workspace roots, client settings, each document's settings
- :mod:`.sync`: document state kept in step with edits (findings moved, remaps)
- :mod:`.jobs`: asking for reviews and what a review's events do
- :mod:`.availability`: problems, re-probing an unavailable model, the status
- :mod:`.code_actions`: code actions, refactor and hover

Those modules take the server as a :class:`~.host.Host` and reach one another only
through its methods, which delegate to them here. All state lives on the server object;
nothing is global.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from gemma_review import __version__
from gemma_review.config import Settings
from gemma_review.engine import ReviewResult
from gemma_review.errors import GemmaReviewError

from . import actions, availability, code_actions, configuration, dismiss, jobs, options, sync, transport, verdict
from .dismiss import DISMISS_COMMAND
from .engines import EngineHub
from .options import EditorOptions
from .progress import STATUS_METHOD, ReviewProgress, StatusTracker
from .protocol import GemmaProtocol
from .reviewer import Job, JobEvent, Reviewer
from .state import ClientFeatures, DocState

log = logging.getLogger("gemma_review.lsp")

REVIEW_FILE = "gemma-review.reviewFile"
REVIEW_CHANGES = "gemma-review.reviewChanges"


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
        self.touches = itertools.count(1)
        self.status = StatusTracker(lambda params: self.protocol.notify(STATUS_METHOD, params))

    @property
    def editor(self) -> EditorOptions:
        return self.init_options.merged(self.client_config)

    # --- messages to the user ---------------------------------------------------------
    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def warn(self, messages: list[str]) -> None:
        for message in messages:
            self.log(message, types.MessageType.Warning)

    def warn_once(self, messages: list[str]) -> None:
        """Configuration warnings (e.g. an unknown key) once per session, not per review."""
        for message in messages:
            if message not in self.notices_logged:
                self.notices_logged.add(message)
                self.log(message, types.MessageType.Warning)

    def tell_once(self, key: str, message: str, kind: types.MessageType) -> None:
        """``window/showMessage`` at most once per session for each kind of problem."""
        if key in self.problems_shown:
            return
        self.problems_shown.add(key)
        # Plain text: editors show notifications verbatim, so no Markdown backticks.
        plain = message.replace("`", "")
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"gemma-review: {plain}"))

    # --- the concern modules, wired (see host.Host) -------------------------------------
    def doc_settings(self, state: DocState) -> Settings:
        return configuration.doc_settings(self, state)

    async def fetch_configuration(self) -> None:
        await configuration.fetch_configuration(self)

    def settings_changed(self) -> None:
        configuration.settings_changed(self)

    def state_for(self, uri: str) -> DocState:
        return sync.state_for(self, uri)

    def text_of(self, state: DocState) -> str:
        return sync.text_of(self, state)

    def publish(self, state: DocState) -> None:
        sync.publish(self, state)

    def touch(self, uri: str) -> None:
        jobs.touch(self, uri)

    def request_review(self, uri: str, reason: str, scope: str | None = None, delay: float = 0.0) -> None:
        jobs.request_review(self, uri, reason, scope, delay)

    def run_review(self, job: Job, emit: Any) -> ReviewResult:
        return jobs.run_review(self, job, emit)

    def job_started(self, job: Job) -> None:  # reviewer.Sink
        jobs.job_started(self, job)

    def job_event(self, job: Job, event: JobEvent, current: bool) -> None:  # reviewer.Sink
        jobs.job_event(self, job, event, current)

    def report_problem(self, exc: GemmaReviewError, where: str) -> None:
        availability.report_problem(self, exc, where)

    def start_reprobe(self) -> None:
        availability.start_reprobe(self)

    def refresh_status(self) -> None:
        availability.refresh_status(self)

    # --- lifecycle ----------------------------------------------------------------------
    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls would pop up "Error in server" for every bad message; a log line is enough.
        try:
            self.log(f"{getattr(source, '__name__', source)}: {error}", types.MessageType.Error)
        except Exception:  # noqa: BLE001 - the transport may be gone
            log.error("%s", error)


def build_server() -> GemmaLanguageServer:
    server = GemmaLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: GemmaLanguageServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.features = ClientFeatures.of(params.capabilities)
        ls.hub = EngineHub(configuration.workspace_roots(params))
        ls.init_options, warnings = options.parse(params.initialization_options, "initializationOptions")
        ls.reviewer = Reviewer(ls.loop, ls.run_review, ls)
        ls.warn(warnings)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: GemmaLanguageServer, params: types.InitializedParams) -> None:
        await configuration.initialized(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: GemmaLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        await configuration.did_change_configuration(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GemmaLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        sync.did_open(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GemmaLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        sync.did_change(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: GemmaLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        sync.did_save(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GemmaLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        sync.did_close(ls, params)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=list(actions.KINDS), resolve_provider=True),
    )
    def code_action(ls: GemmaLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions.code_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: GemmaLanguageServer, action: types.CodeAction) -> types.CodeAction:
        return await code_actions.resolve(ls, action)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: GemmaLanguageServer, params: types.HoverParams) -> types.Hover | None:
        return code_actions.hover(ls, params)

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: GemmaLanguageServer, params: types.WorkDoneProgressCancelParams) -> None:
        jobs.cancel_from_editor(ls, params)

    @server.command(REVIEW_FILE)
    def review_file(ls: GemmaLanguageServer, *args: Any) -> None:
        jobs.review_command(ls, args, scope="file")

    @server.command(REVIEW_CHANGES)
    def review_changes(ls: GemmaLanguageServer, *args: Any) -> None:
        jobs.review_command(ls, args, scope="changes")

    @server.command(actions.REFACTOR_COMMAND)
    async def refactor_command(ls: GemmaLanguageServer, *args: Any) -> dict[str, Any]:
        return await code_actions.refactor_command(ls, args)

    @server.command(actions.VERDICT_COMMAND)
    async def verdict_command(ls: GemmaLanguageServer, *args: Any) -> dict[str, Any]:
        return await verdict.verdict_command(ls, args)

    @server.command(DISMISS_COMMAND)
    async def dismiss_command(ls: GemmaLanguageServer, *args: Any) -> dict[str, Any]:
        return await dismiss.dismiss_command(ls, args)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: GemmaLanguageServer, params: None) -> None:
        availability.stop_reprobe(ls)
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
