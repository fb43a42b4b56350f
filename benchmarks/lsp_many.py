"""Twenty files opened at once against a model server that answers one request at a time.

The fake Ollama server runs with one slot (``num_parallel=1``: further requests queue
in the server, as Ollama does with ``OLLAMA_NUM_PARALLEL=1``) and takes about
``--seconds`` per reply. The client opens ``--files`` documents at once, then saves one
of them (the document the user is working in). Printed: how many reviews timed out (the
server's per-request timeout is ``--timeout`` seconds, far less than the whole queue),
how many documents got their diagnostics, the most requests the server ever had in
flight, and where the saved (active) document's diagnostics came in the order.

    python benchmarks/lsp_many.py [--files 20] [--seconds 0.3] [--timeout 2] [--max-parallel 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from tests.fake_ollama import FakeOllama, Reply, last_user_text, numbered_lines  # noqa: E402

BAD = "    if x == None:"


def source(i: int) -> str:
    return f"def check_{i}(x):\n{BAD}\n        return {i}\n    return x\n"


async def main(n_files: int, seconds: float, timeout: float, active: int, max_parallel: int) -> int:
    arrived = 0
    peak = 0
    lock = threading.Lock()
    fake: FakeOllama

    def respond(body: dict[str, Any]) -> Reply:
        nonlocal arrived, peak
        lines = numbered_lines(last_user_text(body))
        hit = next((n for n, text in lines if text == BAD.rstrip()), None)
        findings = [] if hit is None else [{
            "line": hit, "end_line": hit, "severity": "warning", "category": "bug",
            "title": "Compare with is None", "explanation": "== None calls __eq__.",
            "existing_code": BAD, "suggested_code": "    if x is None:", "confidence": 0.9,
        }]
        with lock:
            # Requests at the server now (queued or answering): arrivals minus the finished ones.
            arrived += 1
            peak = max(peak, arrived - fake.completed - fake.cancelled)
        return Reply(text=json.dumps({"findings": findings}), first_token_delay=seconds)

    with FakeOllama(responder=respond, num_parallel=1) as fake, tempfile.TemporaryDirectory() as tmp:
        uris = []
        for i in range(n_files):
            p = Path(tmp) / f"mod_{i:02d}.py"
            p.write_text(source(i), encoding="utf-8")
            uris.append(p.as_uri())
        order: list[str] = []
        messages: list[str] = []
        client = LanguageClient("lsp-many-benchmark", "1")

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
            if params.diagnostics and params.uri not in order:
                order.append(params.uri)

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log(ls: LanguageClient, params: types.LogMessageParams) -> None:
            messages.append(params.message)

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def show(ls: LanguageClient, params: types.ShowMessageParams) -> None:
            messages.append(params.message)

        for method in (types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.PROGRESS, "gemma-review/status"):
            client.feature(method)(lambda ls, params: None)

        await client.start_io(sys.executable, "-m", "gemma_review", "lsp")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=Path(tmp).as_uri(),
                initialization_options={"host": fake.url, "backend": "ollama", "cache": False, "timeout": timeout,
                                        "maxParallel": max_parallel},
            )
        )
        client.initialized(types.InitializedParams())
        started = time.perf_counter()
        for i, uri in enumerate(uris):
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=source(i)))
            )
        client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uris[active])))
        deadline = time.perf_counter() + n_files * seconds * 3 + 10
        while len(order) < n_files and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - started
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        timeouts = [m for m in messages if "timed out" in m.lower() or "timeout" in m.lower()]
        position = order.index(uris[active]) + 1 if uris[active] in order else None
        print(f"{n_files} files opened at once, one-slot server, {seconds:.2f} s per reply, timeout {timeout:g} s, "
              f"max_parallel {max_parallel}")
        print(f"documents with diagnostics: {len(order)} of {n_files} in {wall:.1f} s")
        print(f"timeouts reported: {len(timeouts)}")
        print(f"most requests at the server at once (queued + answering): {peak}")
        print(f"the active (saved) document's diagnostics arrived: #{position} of {len(order)}")
        for m in timeouts[:3]:
            print("  e.g.:", m.splitlines()[0][:160])
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--active", type=int, default=12, help="index of the document the user saves after opening all")
    ap.add_argument("--max-parallel", type=int, default=1,
                    help="the server's max_parallel setting (raise it to see what an unbounded client does)")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.files, a.seconds, a.timeout, a.active, a.max_parallel)))
