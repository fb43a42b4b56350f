"""Whether the model can be used, and what the status bar says.

A review that fails tells the user once per kind of problem; a model that did not answer
is asked again every few seconds (the re-probe) and, once it answers, the documents it
failed are reviewed again. :func:`refresh_status` derives the status from all that.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from gemma_review.errors import GemmaReviewError, ModelError, ModelNotFoundError, ModelUnavailableError

from .host import Host

REPROBE_SECONDS = 3.0  # while the model is unavailable, ask its server this often whether it is back


def report_problem(ls: Host, exc: GemmaReviewError, where: str) -> None:
    message = str(exc)
    ls.log(f"{where}: {type(exc).__name__}: {message}", types.MessageType.Error)
    if isinstance(exc, (ModelUnavailableError, ModelNotFoundError)):
        ls.problem = "unavailable"
        # One message per outage for "the model cannot be used", whichever file hit it.
        if not ls.features.model_notice:
            ls.tell_once(type(exc).__name__, message, types.MessageType.Error)
    elif isinstance(exc, ModelError):
        ls.problem = "error"
        ls.tell_once(f"model:{message}", message, types.MessageType.Error)
    else:
        ls.problem = "error"
        ls.tell_once(f"{type(exc).__name__}:{message}", message, types.MessageType.Error)
    ls.status.update(message=message.replace("`", ""))


def start_reprobe(ls: Host) -> None:
    """Ask the unavailable model's server every few seconds; review again once it answers."""
    if ls.loop is None or (ls.reprobe is not None and not ls.reprobe.done()):
        return
    ls.reprobe = ls.loop.create_task(reprobe_loop(ls))


async def reprobe_loop(ls: Host) -> None:
    from gemma_review.backends.select import model_reachable

    assert ls.loop is not None
    while ls.unavailable:
        await asyncio.sleep(REPROBE_SECONDS)
        waiting = dict(ls.unavailable)
        back: list[str] = []
        for settings in {repr(s): s for s in waiting.values()}.values():
            if await ls.loop.run_in_executor(None, model_reachable, settings):
                back += [uri for uri, s in waiting.items() if repr(s) == repr(settings)]
        if not back:
            continue
        for uri in back:
            ls.unavailable.pop(uri, None)
        ls.log(f"the model answers again; reviewing {len(back)} open document{'s' if len(back) != 1 else ''}")
        # A later outage deserves its own message; this one is over.
        ls.problems_shown.difference_update({ModelUnavailableError.__name__, ModelNotFoundError.__name__})
        if not ls.unavailable:
            ls.problem = None
            ls.status.update(message=None)
        for uri in back:
            if uri in ls.docs:
                ls.request_review(uri, "model back")
        ls.refresh_status()


def refresh_status(ls: Host) -> None:
    busy = ls.refactors > 0 or (ls.reviewer is not None and any(not j.cancel.is_set() for j in ls.reviewer.active.values()))
    if busy:
        names = [Path(s.target.shown).name for uri, s in ls.docs.items() if ls.reviewer and uri in ls.reviewer.active]
        ls.status.update(state="reviewing", message=f"Reviewing {', '.join(names)}" if names else "Refactoring")
    elif ls.problem:
        ls.status.update(state=ls.problem)
    else:
        ls.status.update(state="idle", message=None)


def stop_reprobe(ls: Host) -> None:
    """At shutdown: nothing is waiting for the model any more."""
    ls.unavailable.clear()
    if ls.reprobe is not None:
        ls.reprobe.cancel()
