"""The language server's plain state: what the client can do, each document, each review.

Only dataclasses live here, no behaviour beyond reading the client's capabilities, so
every other module of the server can import them and none of them imports another to
get at a type.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from lsprotocol import types

from gemma_review.config import Settings

from .diagnostics import LiveFinding
from .engines import Target
from .progress import ReviewProgress

# The VS Code extension closes its own "model unavailable" notice once the model is back,
# which a window/showMessage cannot do; a client that says so gets only the status notification.
MODEL_NOTICE_CAPABILITY = "gemmaReviewModelNotice"


@dataclass
class ClientFeatures:
    progress: bool = False
    resolve_edit: bool = False
    versioned_edits: bool = False
    configuration: bool = False
    apply_edit: bool = False
    model_notice: bool = False  # the client (our VS Code extension) shows "model unavailable" itself
    related_information: bool = False  # diagnostics may carry relatedInformation (a problem's other places)

    @classmethod
    def of(cls, caps: types.ClientCapabilities) -> ClientFeatures:
        window = caps.window
        ws = caps.workspace
        td = caps.text_document
        resolve = td.code_action.resolve_support if td and td.code_action else None
        return cls(
            progress=bool(window and window.work_done_progress),
            resolve_edit=bool(resolve and "edit" in (resolve.properties or [])),
            versioned_edits=bool(ws and ws.workspace_edit and ws.workspace_edit.document_changes),
            configuration=bool(ws and ws.configuration),
            apply_edit=bool(ws and ws.apply_edit),
            related_information=bool(
                td and td.publish_diagnostics and td.publish_diagnostics.related_information
            ),
            model_notice=isinstance(caps.experimental, dict) and bool(caps.experimental.get(MODEL_NOTICE_CAPABILITY)),
        )


@dataclass
class DocState:
    uri: str
    target: Target
    version: int | None
    lines: list[str]  # the protocol's lines (lines.split), not git's
    findings: list[LiveFinding] = field(default_factory=list)
    settings: Settings | None = None
    spans: tuple[int | None, list[tuple[int, int]] | None] = (None, None)  # (version, definition spans)
    snapshot: str | None = None  # the text read from disk, for a file the editor has not opened
    remap: PendingRemap | None = None  # findings being moved in a worker thread (a large document)


@dataclass(eq=False)
class PendingRemap:
    """Findings whose new place is being worked out off the event loop.

    Until it is, they are held here (not in ``DocState.findings``) because their ranges
    are on ``lines``, an older text than the document's: hover and code actions must not
    read them against the new one.
    """

    findings: list[LiveFinding]
    lines: list[str]  # the text the findings' ranges refer to
    version: int | None  # the document version the running remap moves them to
    task: asyncio.Task[None] | None = None  # kept so the task is not collected while it runs


@dataclass
class JobState:
    """The server's bookkeeping for one review, set as the review starts and runs."""

    doc: DocState | None = None  # the document reviewed
    lines: list[str] = field(default_factory=list)  # its lines as this review saw them
    progress: ReviewProgress | None = None  # $/progress reporter, when the client shows progress
    token: str | None = None  # that reporter's token
    notice: str | None = None  # the backend's notice (e.g. the smoke model), logged once
    settings: Settings | None = None  # what it ran with: re-probed when its model was unavailable
    found: list[LiveFinding] = field(default_factory=list)  # this review's findings, as published
