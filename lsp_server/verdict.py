"""The ``gemma-review.verdict`` command: count a quick fix or an "Ignore this finding" on this machine.

The fix, fix-all and ignore code actions carry it (``{uri, verdict, findings: [{fingerprint,
category, severity}]}``); an editor runs it after applying the action's edit. The finding
may be gone from the document by then (the edit resolved it), so the arguments name it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from gemma_review.runner import run_in_thread

from .actions import VERDICT_COMMAND
from .configuration import doc_settings
from .dismiss import repo_of
from .host import Host

MAX_ITEMS = 1000


def parse(obj: Any) -> tuple[str, str, list[tuple[str, str, str]]]:
    if not isinstance(obj, dict) or not isinstance(obj.get("uri"), str) or obj.get("verdict") not in ("fixed", "ignored"):
        raise ValueError("expected {uri, verdict: fixed|ignored, findings}")
    items = obj.get("findings")
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise ValueError("findings must be a list")
    out = []
    for f in items:
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("fingerprint", "category", "severity")):
            raise ValueError("each finding needs fingerprint, category and severity")
        out.append((f["category"], f["severity"], f["fingerprint"]))
    return obj["uri"], obj["verdict"], out


async def verdict_command(ls: Host, args: tuple[Any, ...]) -> dict[str, Any]:
    try:
        uri, verdict, items = parse(args[0] if args else None)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"{VERDICT_COMMAND}: {exc}") from None
    state = ls.docs.get(uri)
    root = repo_of(state) if state is not None else None
    if state is None or root is None or not items:
        return {"counted": 0}
    settings = doc_settings(ls, state)
    from gemma_review.verdicts import record

    n = await run_in_thread(ls.loop or asyncio.get_running_loop(), lambda: record(settings, root, verdict, items))
    ls.log(f"counted {verdict}: {n} finding{'s' if n != 1 else ''} in {state.target.shown} (verdicts on this machine)")
    return {"counted": n}
