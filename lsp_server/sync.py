"""Document sync: each document's state, kept in step with the editor's edits.

A document's findings move with its edits: by the changes' ranges when they can be
trusted, else by matching the old lines with the new ones (off the event loop for a
large document, see :class:`~.state.PendingRemap`).
"""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path
from typing import Sequence

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from gemma_review.config import Settings
from gemma_review.textfile import NotText, content_hash, decode
from gemma_review.runner import run_in_thread

from . import diagnostics, lines
from .diagnostics import LiveFinding
from .documents import open_text, path_of
from .engines import target_for, untitled_name
from .host import Host
from .protocol import REQUEST_FAILED
from .state import DocState, PendingRemap

log = logging.getLogger("gemma_review.lsp")

# Above this many lines, matching a whole-document change's lines runs in a worker thread:
# even near-linear, 20,000 lines take long enough to delay every other request behind it.
REMAP_OFF_LOOP_LINES = 5_000


def state_for(ls: Host, uri: str) -> DocState:
    """The document's state; a file the editor has not opened is read from disk (again).

    Raises a RequestFailed error naming the problem when it cannot be read as text.
    """
    state = ls.docs.get(uri)
    document = open_text(ls.workspace, uri)
    if state is not None and (document is not None or state.snapshot is None):
        return state
    path = path_of(uri)
    if document is not None:
        text, version, snapshot = document.source, document.version, None
        name = Path(path).name if path else untitled_name(uri, document.language_id)
    else:
        text = snapshot = read_unopened(uri, path)
        version = None
        name = Path(path).name if path else uri
    target = target_for(path, name, ls.hub.workspace_roots)
    state = DocState(uri, target, version, lines.split(text), snapshot=snapshot)
    ls.docs[uri] = state
    return state


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


def text_of(ls: Host, state: DocState) -> str:
    if state.snapshot is not None:
        return state.snapshot
    return ls.workspace.get_text_document(state.uri).source


def related_uri(ls: Host, state: DocState) -> str | None:
    """The document's URI when the client shows a diagnostic's related information, else None."""
    return state.uri if ls.features.related_information else None


def publish(ls: Host, state: DocState) -> None:
    text = ls.text_of(state)
    digest = content_hash(text)
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=state.uri,
            version=state.version,
            diagnostics=[diagnostics.to_diagnostic(i, state.lines, digest, related_uri(ls, state)) for i in state.findings],
        )
    )


def did_open(ls: Host, params: types.DidOpenTextDocumentParams) -> None:
    ls.docs.pop(params.text_document.uri, None)
    state = ls.state_for(params.text_document.uri)
    state.version = params.text_document.version
    settings = ls.doc_settings(state)
    if settings.trigger != "manual":
        ls.request_review(state.uri, "open")


def did_change(ls: Host, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    state = ls.docs.get(uri)
    if state is None:
        return
    ls.touch(uri)
    new_lines = lines.split(ls.workspace.get_text_document(uri).source)
    version = params.text_document.version
    had = bool(state.findings) or state.remap is not None
    moved = moved_by_ranges(state, params.content_changes, new_lines)
    if moved is None:  # lines must be matched, from the text the findings are on
        held = state.remap
        base_items, base_lines = (held.findings, held.lines) if held is not None else (state.findings, state.lines)
        if base_items and max(len(base_lines), len(new_lines)) > REMAP_OFF_LOOP_LINES:
            # A newer remap replaces a running one, whose result is then dropped (see remap_off_loop).
            state.remap = PendingRemap(base_items, base_lines, version)
            state.remap.task = asyncio.get_running_loop().create_task(remap_off_loop(ls, state, state.remap, new_lines))
            state.findings = []
        else:
            state.remap = None
            moved = diagnostics.remap_lines(base_items, base_lines, new_lines)
    if moved is not None:
        state.findings = [i for i in moved if not diagnostics.resolved(i, new_lines)]
    state.lines = new_lines
    state.version = version
    if had and moved is not None:
        ls.publish(state)  # a pending remap publishes when it is done
    assert ls.reviewer is not None
    # A newer version makes the running review stale: stop it (its HTTP stream closes).
    ls.reviewer.cancel(uri)
    settings = state.settings or Settings()
    if settings.trigger == "type":
        ls.request_review(uri, "type", delay=settings.debounce_ms / 1000.0)
    ls.refresh_status()


def moved_by_ranges(
    state: DocState, changes: Sequence[types.TextDocumentContentChangeEvent], new_lines: list[str]
) -> list[LiveFinding] | None:
    """The findings moved by ranged changes, or None when lines must be matched instead.

    Matching is needed for a whole-document change, while an earlier remap is still
    running (the findings are not on the text the ranges refer to), and when a break
    was joined or split at the edge of an edit (a \\n typed after a lone \\r makes one
    \\r\\n), where moving by the range is wrong.
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


async def remap_off_loop(ls: Host, state: DocState, pending: PendingRemap, new_lines: list[str]) -> None:
    """Match a large document's lines in a worker thread, then move and publish its findings."""
    try:
        mapping = await run_in_thread(
            ls.loop or asyncio.get_running_loop(), lambda: diagnostics.line_mapping(pending.lines, new_lines)
        )
    except Exception as exc:  # noqa: BLE001 - a bug here must not leave the findings held forever
        log.exception("remapping %s failed", state.uri)
        ls.log(f"moving the diagnostics of {state.target.shown} failed ({exc!r}); they are dropped", types.MessageType.Error)
        mapping = {}
    if ls.docs.get(state.uri) is not state or state.remap is not pending or state.version != pending.version:
        # A newer version (or a review of it) arrived meanwhile: publishing this result
        # now would move the diagnostics back to an older text.
        return
    state.remap = None
    moved = diagnostics.apply_mapping(pending.findings, mapping)
    state.findings = [i for i in moved if not diagnostics.resolved(i, state.lines)]
    ls.publish(state)


def did_save(ls: Host, params: types.DidSaveTextDocumentParams) -> None:
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


def did_close(ls: Host, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    assert ls.reviewer is not None
    ls.reviewer.cancel(uri)
    ls.waiting.pop(uri, None)
    if ls.docs.pop(uri, None) is not None:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    ls.refresh_status()
