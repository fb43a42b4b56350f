"""Language-server latency against the fake Ollama server.

    python benchmarks/lsp.py [--runs 20] [--requests 300]

Prints two figures:

* the time from the fake model writing the chunk that completes the first finding to the
  client receiving its ``publishDiagnostics`` (target: under 50 ms), over ``--runs``
  reviews of ``samples/streak.py`` (cache off, so every review asks the model);
* the ``textDocument/codeAction`` round trip, p50 and p99, while a review streams
  (target: p99 under 20 ms), and the same with the server idle for comparison.

The server runs as editors run it (``python -m gemma_review lsp`` over stdio); the fake
model and the client share this process, so both timestamps come from one clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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

from gemma_review.stream_parse import FindingStream  # noqa: E402
from tests import fake_ollama  # noqa: E402
from tests.fake_ollama import FakeOllama, Reply  # noqa: E402

STREAK = (REPO / "samples" / "streak.py").read_text(encoding="utf-8")


class ChunkClock:
    """Records when the fake writes the chunk that completes the first finding of each reply."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first_finding_at: list[float] = []
        self._parsers: dict[int, FindingStream | None] = {}

    def install(self) -> None:
        original = fake_ollama._Handler._write_chunk
        clock = self

        def write_chunk(handler: Any, obj: dict[str, Any]) -> None:
            original(handler, obj)
            now = time.perf_counter()
            piece = (obj.get("message") or {}).get("content") or ""
            with clock.lock:
                key = id(handler)
                parser = clock._parsers.setdefault(key, FindingStream())
                if parser is not None and piece and parser.feed(piece):
                    clock.first_finding_at.append(now)
                    clock._parsers[key] = None  # only the first finding of this reply
                if obj.get("done"):
                    clock._parsers.pop(key, None)

        fake_ollama._Handler._write_chunk = write_chunk  # type: ignore[method-assign]


def slow_reply(fake: FakeOllama, tokens_per_second: float, tail_chars: int) -> Any:
    """The oracle's finding, then a long unanchorable one: the review keeps streaming after the first."""

    def respond(body: dict[str, Any]) -> Reply:
        found = json.loads(fake.oracle(body).text)["findings"]
        tail = {"line": 1, "end_line": 1, "severity": "info", "category": "style", "title": "tail",
                "explanation": " " * tail_chars, "existing_code": "not in the file", "suggested_code": "", "confidence": 0.9}
        return Reply(text=json.dumps({"findings": found + [tail]}), tokens_per_second=tokens_per_second, chunk_chars=4)

    return respond


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "refactor", "source"])
                ),
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
                data_support=True,
            )
        ),
        workspace=types.WorkspaceClientCapabilities(workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def describe(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms (n={len(ms)})"


async def main(runs: int, requests: int) -> int:
    clock = ChunkClock()
    clock.install()
    with FakeOllama() as fake, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "streak.py"
        path.write_text(STREAK, encoding="utf-8")
        uri = path.as_uri()
        received: list[float] = []
        reviews_done = asyncio.Event()
        client = LanguageClient("lsp-benchmark", "1")

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
            if params.diagnostics:
                received.append(time.perf_counter())

        @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: LanguageClient, params: Any) -> None:
            return None

        @client.feature(types.PROGRESS)
        def progress(ls: LanguageClient, params: Any) -> None:
            value = params.value
            if (value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)) == "end":
                reviews_done.set()

        for method in (types.WINDOW_LOG_MESSAGE, types.WINDOW_SHOW_MESSAGE, "gemma-review/status"):
            client.feature(method)(lambda ls, params: None)

        await client.start_io(sys.executable, "-m", "gemma_review", "lsp")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=capabilities(),
                root_uri=Path(tmp).as_uri(),
                initialization_options={"host": fake.url, "backend": "ollama", "cache": False},
            )
        )
        client.initialized(types.InitializedParams())

        async def review(reply: Any, first: bool) -> None:
            fake.set_reply(reply)
            reviews_done.clear()
            if first:
                client.text_document_did_open(
                    types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STREAK))
                )
            else:
                client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))

        # 1. First finding written by the model -> diagnostic received by the client.
        latencies: list[float] = []
        for run in range(runs):
            before_emit, before_recv = len(clock.first_finding_at), len(received)
            await review(slow_reply(fake, tokens_per_second=400, tail_chars=200), first=run == 0)
            await asyncio.wait_for(reviews_done.wait(), 30)
            if len(clock.first_finding_at) > before_emit and len(received) > before_recv:
                latencies.append(received[before_recv] - clock.first_finding_at[before_emit])

        # 2. codeAction round trips, idle and while a review streams.
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(12, 4), types.Position(12, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )

        async def round_trips(n: int) -> list[float]:
            out = []
            for _ in range(n):
                start = time.perf_counter()
                await client.text_document_code_action_async(params)
                out.append(time.perf_counter() - start)
            return out

        idle = await round_trips(requests)
        streamed_before = fake.completed
        await review(slow_reply(fake, tokens_per_second=100, tail_chars=40000), first=False)
        while len(fake.requests) < runs + 1:
            await asyncio.sleep(0.005)
        busy = await round_trips(requests)
        still_streaming = fake.completed == streamed_before

        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    print(f"lsp benchmark: samples/streak.py against the fake Ollama server ({runs} reviews, {requests} requests)")
    if latencies:
        print(f"first finding written by the model -> diagnostic at the client: {describe(latencies)}; target < 50 ms")
    else:
        print("first finding -> diagnostic: no measurement (no finding was published)")
    print(f"textDocument/codeAction round trip, server idle:           {describe(idle)}")
    print(f"textDocument/codeAction round trip, while a review streams: {describe(busy)}; target p99 < 20 ms"
          + ("" if still_streaming else " (the review ended before the last request)"))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="reviews for the first-finding latency")
    parser.add_argument("--requests", type=int, default=300, help="codeAction requests per round-trip series")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.requests)))
