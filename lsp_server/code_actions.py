"""Code actions, the refactor they offer, and hover: the findings as the user acts on them.

:mod:`.actions` builds the actions from plain values; these functions pick the findings
and spans for a request, run the model's refactor off the event loop, and answer hover.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from gemma_review.errors import GemmaReviewError
from gemma_review.textfile import content_hash
from gemma_review.runner import run_in_thread

from . import actions, diagnostics, lines
from .diagnostics import LiveFinding
from .dismiss import DISMISS_TITLE, dismiss_action
from .host import Host
from .protocol import REQUEST_FAILED
from .state import DocState


def doc_view(ls: Host, state: DocState) -> actions.Doc:
    text = ls.text_of(state)
    return actions.Doc(
        uri=state.uri,
        version=state.version,
        lines=state.lines,
        newline=lines.newline_of(text),
        path=state.target.shown,
        versioned=ls.features.versioned_edits,
    )


def definition_spans(state: DocState, text: str) -> list[tuple[int, int]] | None:
    version, spans = state.spans
    if spans is not None and version == state.version and version is not None:
        return spans
    from gemma_review.languages import language_of
    from gemma_review.units import definition_spans as spans_of

    lang = language_of(state.target.shown)
    if lang is None:
        return None
    try:
        spans = spans_of(lang, lines.for_engine(text))
    except Exception:  # noqa: BLE001 - no grammar, no refactor offer
        return None
    state.spans = (state.version, spans)
    return spans


def code_actions(ls: Host, params: types.CodeActionParams) -> list[types.CodeAction]:
    state = ls.docs.get(params.text_document.uri)
    if state is None:
        return []
    only = params.context.only
    doc = doc_view(ls, state)
    digest = content_hash(ls.text_of(state))
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
        dismissals: list[types.CodeAction] = []
        for item in chosen:
            diag = diagnostics.to_diagnostic(item, state.lines, digest, state.uri if ls.features.related_information else None)
            fix = actions.fix_action(item, doc, diag)
            if fix is not None:
                out.append(fix)
            title = actions.IGNORE_TITLE if len(chosen) == 1 else f"{actions.IGNORE_TITLE}: {item.finding.title}"
            ignores.append(actions.ignore_action(item, doc, diag, title))
            dismiss_title = DISMISS_TITLE if len(chosen) == 1 else f"{DISMISS_TITLE}: {item.finding.title}"
            dismissals.append(dismiss_action(item, doc, diag, dismiss_title))
        out.extend(ignores)
        out.extend(dismissals)
    if actions.kind_wanted(actions.REFACTOR_KIND, only):
        text = ls.text_of(state)
        span = actions.refactor_span(doc, params.range, definition_spans(state, text))
        if span is not None:
            out.append(actions.refactor_action(doc, span[0], span[1], ls.features.resolve_edit))
    if actions.kind_wanted(actions.FIX_ALL_KIND, only) and state.findings:
        fix_all = actions.fix_all_action(state.findings, doc)
        if fix_all is not None:
            out.append(fix_all)
    return out


async def resolve(ls: Host, action: types.CodeAction) -> types.CodeAction:
    """``codeAction/resolve``: a refactor offered without its edit gets it now."""
    data = action.data
    if not (isinstance(data, dict) and data.get("type") == actions.DATA_TAG):
        return action  # every other action is complete already
    try:
        request = actions.parse_refactor_request(data)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"codeAction/resolve: {exc}") from None
    action.edit, _summary = await refactor(ls, request)
    return action


async def refactor_command(ls: Host, args: tuple[Any, ...]) -> dict[str, Any]:
    """The refactor command: the edit is computed here and sent with ``workspace/applyEdit``."""
    try:
        request = actions.parse_refactor_request(args[0] if args else None)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"{actions.REFACTOR_COMMAND}: {exc}") from None
    edit, summary = await refactor(ls, request)
    if not ls.features.apply_edit:
        raise JsonRpcException("the editor cannot apply edits sent by the server (workspace/applyEdit)", code=REQUEST_FAILED)
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=actions.REFACTOR_TITLE))
    return {"applied": bool(result and result.applied), "summary": summary}


async def refactor(ls: Host, request: actions.RefactorRequest) -> tuple[types.WorkspaceEdit, str]:
    """Ask the model to rewrite the lines; a validated, re-indented edit or a RequestFailed error."""
    state = ls.docs.get(request.uri)
    if state is None:
        raise JsonRpcException(f"{request.uri} is not open", code=REQUEST_FAILED)
    if request.version is not None and state.version is not None and request.version != state.version:
        raise JsonRpcException("the document changed since the refactor was offered; ask again", code=REQUEST_FAILED)
    if request.last >= len(state.lines):
        raise JsonRpcInvalidParams(f"the range ends at line {request.last + 1}, past the end of the document")
    text = lines.for_engine(ls.text_of(state))
    version = state.version
    cancel = threading.Event()
    hub = ls.hub
    editor = ls.editor

    def work() -> Any:
        loaded = hub.settings_for(state.target, editor)
        engine = hub.acquire(loaded.settings, hub.root_for(loaded, state.target))
        try:
            return engine.refactor(state.target.shown, text, request.first + 1, request.last + 1, cancel=cancel)
        finally:
            hub.release(engine)

    ls.refactors += 1
    ls.refresh_status()
    try:
        result = await run_in_thread(ls.loop or asyncio.get_running_loop(), work)
    except asyncio.CancelledError:
        cancel.set()  # $/cancelRequest: the model stops too
        raise
    except GemmaReviewError as exc:
        ls.report_problem(exc, state.target.shown)
        raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
    finally:
        ls.refactors -= 1
        ls.refresh_status()
    if result.fix is None:
        why = result.rejected or "it was unchanged or would not parse"
        raise JsonRpcException(f"Gemma's rewrite was not applied: {why}", code=REQUEST_FAILED)
    if state.version != version:
        raise JsonRpcException("the document changed while Gemma was refactoring; ask again", code=REQUEST_FAILED)
    doc = doc_view(ls, state)
    new_lines = result.fix.replacement.split("\n") if result.fix.replacement else []
    edit = actions.replace_lines(doc.lines, result.fix.start_line - 1, result.fix.end_line - 1, new_lines, doc.newline)
    ls.log(f"refactor of {state.target.shown}:{request.first + 1}-{request.last + 1}: {result.summary}")
    return actions.workspace_edit(doc, [edit]), result.summary


def hover(ls: Host, params: types.HoverParams) -> types.Hover | None:
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
