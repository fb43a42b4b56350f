"""Many documents opened at once against a model server that answers one request at a time:
the document the user is working in is reviewed first, and waiting in the queue never
counts against a request's timeout (benchmarks/lsp_many.py shows the same at 20 files)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.fake_ollama import FakeOllama, Reply, last_user_text, numbered_lines
from tests.lsp_client import fake_waits, logs, ollama, opened, session, until

BAD = "    if x == None:"
FILES = 7
DELAY = 0.8  # seconds per reply: the whole queue (about 5 s) is longer than the timeout
TIMEOUT = 4.0  # seconds per request, counted from when it is sent


def source(i: int) -> str:
    return f"def check_{i}(x):\n{BAD}\n        return {i}\n    return x\n"


def doc_of(body: dict[str, Any]) -> int:
    found = re.search(r"def check_(\d+)\(", last_user_text(body))
    assert found, "a review prompt without its function"
    return int(found.group(1))


class OneSlot:
    """Replies after ``DELAY``; the first one only once the test lets it go, so the test
    knows which request is in flight while it makes another document the active one."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.first = True
        self.lock = threading.Lock()
        self.fake: FakeOllama | None = None
        self.arrived = 0
        self.peak = 0  # most requests at the server at once (answering or queued in it)

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            first, self.first = self.first, False
            assert self.fake is not None
            self.arrived += 1
            self.peak = max(self.peak, self.arrived - self.fake.completed - self.fake.cancelled)
        if first:
            self.release.wait(60)
        hit = next((n for n, text in numbered_lines(last_user_text(body)) if text == BAD.rstrip()), None)
        findings = [] if hit is None else [{
            "line": hit, "end_line": hit, "severity": "warning", "category": "bug", "title": "Compare with is None",
            "explanation": "== None calls __eq__.", "existing_code": BAD, "suggested_code": "    if x is None:",
            "confidence": 0.9,
        }]
        return Reply(text=json.dumps({"findings": findings}), first_token_delay=0.0 if first else DELAY)


def unit_totals_reported(client: Any, names: set[str]) -> bool:
    """Every named document's review has built its units (the next step is the queue)."""
    seen: set[str] = set()
    for reports in client.progress_reports.values():
        begin = reports[0] if reports else None
        # The begin is sent with the first progress event, which carries the unit total.
        if isinstance(begin, types.WorkDoneProgressBegin) and any(
            (getattr(r, "message", None) or "").startswith("0/1 unit") for r in reports
        ):
            seen.add(begin.title.removeprefix("Reviewing "))
    return names <= seen


async def test_the_saved_document_jumps_the_queue_and_nothing_times_out(tmp_path: Path) -> None:
    responder = OneSlot()
    with FakeOllama(responder=responder, num_parallel=1) as fake:
        responder.fake = fake
        paths = []
        for i in range(FILES):
            path = tmp_path / f"mod_{i}.py"
            path.write_text(source(i), encoding="utf-8")
            paths.append(path)
        init = ollama(fake, maxParallel=1, timeout=TIMEOUT, cache=False)
        try:
            async with session("visual-studio-code", tmp_path, init) as client:
                uris = [opened(client, path, source(i)) for i, path in enumerate(paths)]
                await fake_waits(fake, lambda f: len(f.requests) >= 1, "the first request")
                in_flight = doc_of(fake.requests[0])
                await until(lambda: unit_totals_reported(client, {p.name for p in paths}), "every review to be queued")
                # Without the save the most recently opened document would go next; the saved
                # one is the earliest opened that is not in flight, so it would go last.
                active = next(i for i in range(FILES) if i != in_flight)
                client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uris[active])))
                # Messages are handled in order: once the hover is answered, the save has been.
                await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uris[active]), types.Position(0, 0)))
                responder.release.set()
                await until(lambda: all(client.diagnostics.get(u) for u in uris), "diagnostics for every document")
                order = [doc_of(body) for body in fake.requests]
                first_published = [uris.index(p.uri) for p in client.published if p.diagnostics]
                first_published = list(dict.fromkeys(first_published))
                problems = logs(client, r"did not finish the reply|timed out") + [
                    m.message for m in client.messages if re.search(r"did not finish the reply|timed out", m.message)
                ]
        finally:
            responder.release.set()
    assert sorted(order) == list(range(FILES)), f"each document is asked about exactly once: {order}"
    assert order[:2] == [in_flight, active], f"the saved document was not sent next: {order}"
    waiting = [i for i in range(FILES) if i not in (in_flight, active)]
    assert first_published.index(active) < min(first_published.index(i) for i in waiting), first_published
    assert problems == [], problems
    assert responder.peak == 1, "requests waited in the model server's queue, where their timeout runs"
