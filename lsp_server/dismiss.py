""""Dismiss for the team…": record a finding in the repository's decisions store.

The code action carries the command ``gemma-review.dismiss`` with ``{uri, fingerprint}``;
a client that can ask for text (the VS Code extension) adds ``reason`` (and ``verdict``).
Without a reason the server asks with ``window/showMessageRequest`` and a few reasons to
pick from. The record is written with :func:`gemma_review.decide.record_findings` (the
same writer as ``gemma-review dismiss``), then every open document's diagnostics are
published again without the findings the store now covers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from gemma_review import decisions as dec
from gemma_review.errors import GemmaReviewError
from gemma_review.runner import run_in_thread

from .actions import QUICKFIX_KIND, Doc
from .diagnostics import LiveFinding
from .host import Host
from .protocol import REQUEST_FAILED
from .state import DocState

DISMISS_COMMAND = "gemma-review.dismiss"
DISMISS_TITLE = "Dismiss for the team…"
# What window/showMessageRequest offers when the command came without a reason.
CHOICES = {
    "False positive": ("dismissed", "false positive"),
    "Accepted risk": ("accepted-risk", "accepted risk"),
    "Not worth fixing": ("dismissed", "not worth fixing"),
}


def dismiss_action(item: LiveFinding, doc: Doc, diagnostic: types.Diagnostic, title: str = DISMISS_TITLE) -> types.CodeAction:
    args = {"uri": doc.uri, "fingerprint": item.fingerprint}
    return types.CodeAction(
        title=title, kind=QUICKFIX_KIND, diagnostics=[diagnostic],
        command=types.Command(title=title, command=DISMISS_COMMAND, arguments=[args]),
    )


def repo_of(state: DocState) -> Path | None:
    if state.target.repo is not None:
        return state.target.repo
    return state.target.path.parent if state.target.path is not None else None


async def dismiss_command(ls: Host, args: tuple[Any, ...]) -> dict[str, Any]:
    obj = args[0] if args else None
    if not isinstance(obj, dict) or not isinstance(obj.get("uri"), str) or not isinstance(obj.get("fingerprint"), str):
        raise JsonRpcInvalidParams(f"{DISMISS_COMMAND}: expected {{uri, fingerprint, reason?, verdict?}}")
    state = ls.docs.get(obj["uri"])
    if state is None:
        raise JsonRpcException(f"{obj['uri']} is not open", code=REQUEST_FAILED)
    item = next((i for i in state.findings if i.fingerprint == obj["fingerprint"]), None)
    if item is None:
        raise JsonRpcException("the finding is no longer shown; review again", code=REQUEST_FAILED)
    root = repo_of(state)
    if root is None:
        raise JsonRpcException("an unsaved document has no repository to record the decision in", code=REQUEST_FAILED)
    reason = obj.get("reason") if isinstance(obj.get("reason"), str) else None
    verdict = obj.get("verdict") if obj.get("verdict") in ("dismissed", "accepted-risk") else "dismissed"
    if reason is None:
        picked = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=f"Dismiss \u201c{item.finding.title}\u201d for everyone working on this repository? Why:",
            actions=[types.MessageActionItem(title=t) for t in CHOICES],
        ))
        if picked is None or picked.title not in CHOICES:
            return {"dismissed": False}
        verdict, reason = CHOICES[picked.title]
    if item.finding.category == "security" and not reason.strip():
        raise JsonRpcException("dismissing a security finding needs a reason", code=REQUEST_FAILED)
    from gemma_review.decide import record_findings

    def work() -> Path:
        return record_findings(root, [dec.finding_record(item.finding)], verdict, reason)

    try:
        path = await run_in_thread(ls.loop or asyncio.get_running_loop(), work)
    except GemmaReviewError as exc:
        raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
    from .configuration import doc_settings
    from gemma_review.verdicts import record_findings as count

    settings = doc_settings(ls, state)
    await run_in_thread(ls.loop or asyncio.get_running_loop(), lambda: count(settings, root, "dismissed", [item.finding]))
    ls.log(f"{verdict} {state.target.shown}: {item.finding.title} ({reason}) in {path}")
    republish(ls)
    return {"dismissed": True, "store": str(path)}


def republish(ls: Host) -> None:
    """Every open document without the findings its repository's store now covers."""
    stores: dict[Path, dec.Decisions] = {}
    for state in list(ls.docs.values()):
        root = repo_of(state)
        if root is None or not state.findings:
            continue
        if root not in stores:
            stores[root] = dec.load(root)
        kept = [i for i in state.findings if stores[root].match(i.finding) is None]
        if len(kept) != len(state.findings):
            state.findings = kept
            ls.publish(state)
