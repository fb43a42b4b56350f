"""What the server's concern modules may use of the language server object.

The concern modules (:mod:`.configuration`, :mod:`.sync`, :mod:`.jobs`,
:mod:`.availability`, :mod:`.code_actions`) are functions taking the server as a
:class:`Host`. They never import each other nor :mod:`.server`: where one needs
another (a document change asks for a review, a failed review starts the re-probe) it
calls the server's method, and :mod:`.server` wires each method to its module. So the
imports form a star around server.py, with no cycle, type-only ones included.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, Protocol

from lsprotocol import types

from gemma_review.config import Settings
from gemma_review.engine import ReviewResult
from gemma_review.errors import GemmaReviewError

from .engines import EngineHub
from .options import EditorOptions
from .progress import ReviewProgress, StatusTracker
from .reviewer import Job, Reviewer
from .state import ClientFeatures, DocState


class Host(Protocol):
    # --- state (see GemmaLanguageServer.__init__) ----------------------------------------
    features: ClientFeatures
    init_options: EditorOptions  # from initializationOptions
    client_config: EditorOptions  # from workspace/configuration or didChangeConfiguration
    hub: EngineHub
    docs: dict[str, DocState]
    reviewer: Reviewer | None
    loop: asyncio.AbstractEventLoop | None
    config_ready: bool
    waiting: dict[str, tuple[str, str | None]]  # uri -> (reason, scope) asked before settings arrived
    problems_shown: set[str]
    notices_logged: set[str]
    problem: str | None  # "unavailable" | "error" while the last review failed
    unavailable: dict[str, Settings]  # uri -> settings whose model did not answer
    reprobe: asyncio.Task[None] | None
    progress: dict[str, ReviewProgress]  # token -> progress
    refactors: int
    activity: dict[str, int]  # uri -> when it was last touched
    touches: Iterator[int]
    status: StatusTracker

    @property
    def editor(self) -> EditorOptions: ...

    # --- pygls' LanguageServer ------------------------------------------------------------
    @property
    def workspace(self) -> Any: ...

    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...

    def workspace_configuration_async(self, params: types.ConfigurationParams) -> Any: ...

    def workspace_apply_edit_async(self, params: types.ApplyWorkspaceEditParams) -> Any: ...

    def window_show_message_request_async(self, params: types.ShowMessageRequestParams) -> Any: ...

    # --- messages (server.py) -------------------------------------------------------------
    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None: ...

    def warn(self, messages: list[str]) -> None: ...

    def warn_once(self, messages: list[str]) -> None: ...

    def tell_once(self, key: str, message: str, kind: types.MessageType) -> None: ...

    # --- configuration.py -----------------------------------------------------------------
    def doc_settings(self, state: DocState) -> Settings: ...

    async def fetch_configuration(self) -> None: ...

    def settings_changed(self) -> None: ...

    # --- sync.py --------------------------------------------------------------------------
    def state_for(self, uri: str) -> DocState: ...

    def text_of(self, state: DocState) -> str: ...

    def publish(self, state: DocState) -> None: ...

    # --- jobs.py --------------------------------------------------------------------------
    def touch(self, uri: str) -> None: ...

    def request_review(self, uri: str, reason: str, scope: str | None = None, delay: float = 0.0) -> None: ...

    def run_review(self, job: Job, emit: Any) -> ReviewResult: ...

    # --- availability.py ------------------------------------------------------------------
    def report_problem(self, exc: GemmaReviewError, where: str) -> None: ...

    def start_reprobe(self) -> None: ...

    def refresh_status(self) -> None: ...
