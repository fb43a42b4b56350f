"""Requests that overflow or get cut, before and after issue 20, how full requests are,
and what a true token count costs.

Corpora (whole-file reviews): the issue's folder of 200 two-line Python files, 120 files
with CJK/emoji/accented comments, and this repository's own ``gemma_review/*.py``.

- **before**: packing as it was (the 3-bytes-per-token estimate, num_ctx as the context,
  no split); a request whose true size (the server's tokenizer) plus num_predict exceeds
  the context would have been refused (llama.cpp) or silently cut (Ollama).
- **after**: a real review through the engine against the fake Ollama (tests/fake_ollama.py)
  that tokenizes at the given density and cuts like Ollama: requests cut (then split and
  sent again), answers used from cut prompts (must be 0), mean fill of the requests whose
  answers were used (prompt tokens ÷ context).
- **true count**: with the demo model (Gemma 3 270M through the embedded llama.cpp), the
  Gemma tokenizer's count of the *before* requests (how many really overflow 8192) and the
  time one count adds per request (p50/p95).

    python benchmarks/context.py [--num-ctx 8192] [--no-model]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.intake import from_files  # noqa: E402
from gemma_review.packing import pack, request_messages  # noqa: E402
from gemma_review.tokens import estimate_tokens  # noqa: E402
from tests.fake_ollama import CUT_TITLE, ContextRules, FakeOllama  # noqa: E402


def corpora(tmp: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    two = tmp / "two_line"
    two.mkdir()
    out["200 two-line files"] = []
    for i in range(200):
        p = two / f"m{i:03}.py"
        p.write_text(f"def f{i}(x):\n    return x + {i}  # add one\n", encoding="utf-8")
        out["200 two-line files"].append(p)
    intl = tmp / "intl"
    intl.mkdir()
    out["120 CJK/emoji files"] = []
    for i in range(120):
        p = intl / f"n{i:03}.py"
        p.write_text(f"def g{i}(x):\n    # 値に {i} を加える 🙂 ajoute {i} élément\n    return x + {i}\n", encoding="utf-8")
        out["120 CJK/emoji files"].append(p)
    out["gemma_review/*.py"] = sorted((REPO / "gemma_review").glob("*.py"))
    return out


def before(engine: ReviewEngine, files: list[Path], settings: Settings, true_count) -> tuple[int, int, list[float]]:
    """(requests, requests over the context, fill of each) as packing did before issue 20."""
    changes = from_files(files, files[0].parent)
    units = [u for c in changes for u in engine.units_for(c, settings)]
    sizes = {c.path: len((c.text or "").splitlines()) for c in changes}
    requests = pack(units, engine.unit_token_budget(settings), estimate_tokens, sizes)
    over = 0
    fills = []
    for r in requests:
        n = true_count(request_messages(r, engine.guidelines, sizes))
        fills.append(n / settings.num_ctx)
        if n + settings.num_predict > settings.num_ctx:
            over += 1
    return len(requests), over, fills


def after(files: list[Path], num_ctx: int, tpb: float, cache_dir: str) -> dict[str, float]:
    rules = ContextRules(tokens_per_byte=tpb)
    with FakeOllama(context=rules) as server:
        s = Settings(backend="ollama", host=server.url, num_ctx=num_ctx, cache_dir=cache_dir)
        engine = ReviewEngine(s, root=files[0].parent)
        result = engine.review(from_files(files, files[0].parent))
        prompts = list(server.prompts)
    used = [p for p in prompts if not p["cut"]]
    return {
        "requests": len(prompts),
        "cut": sum(p["cut"] for p in prompts),
        "from_cut": sum(f.title == CUT_TITLE for f in result.findings),
        "fill": statistics.mean(p["tokens"] / num_ctx for p in used) if used else 0.0,
        "notes": sum("not reviewed" in n for n in result.notes),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-ctx", type=int, default=8192)
    ap.add_argument("--no-model", action="store_true", help="skip the embedded llama.cpp tokenizer figures")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gr-context-"))
    settings = Settings(num_ctx=args.num_ctx, cache=False)
    engine = ReviewEngine(settings, root=tmp, use_cache=False)
    sets = corpora(tmp)
    print(f"num_ctx {args.num_ctx}, num_predict {settings.num_predict}")
    for tpb in (0.5, 1.0):
        rules = ContextRules(tokens_per_byte=tpb)
        print(f"\nserver tokenizer: {tpb} tokens/byte (the estimate assumes 0.33)")
        print(f"  {'corpus':22} {'before: requests':>17} {'over ctx':>9} {'after: requests':>16} {'cut→resent':>11} "
              f"{'used from cut':>14} {'mean fill':>10} {'skipped':>8}")
        for name, files in sets.items():
            n, over, _ = before(engine, files, settings, rules.prompt_tokens)
            # Two runs sharing a fresh cache dir: the first learns the ratio, the second uses it.
            cache_dir = tempfile.mkdtemp(prefix="gr-context-cache-")
            a = after(files, args.num_ctx, tpb, cache_dir)
            print(f"  {name:22} {n:>17} {over:>9} {a['requests']:>16} {a['cut']:>11} {a['from_cut']:>14} "
                  f"{a['fill']:>10.2f} {a['notes']:>8}")
    if args.no_model:
        return
    try:
        from gemma_review.backends.embedded import EmbeddedBackend
        from gemma_review.smoke_model import smoke_model_path

        path = smoke_model_path(os.environ.get("GEMMA_REVIEW_TEST_MODEL_DIR"))
    except Exception as exc:  # noqa: BLE001 - a missing extra only skips these figures
        print(f"\nembedded tokenizer: skipped ({exc})")
        return
    if path is None:
        print("\nembedded tokenizer: skipped (the demo model is not installed)")
        return
    backend = EmbeddedBackend(Settings(backend="embedded", model_file=str(path), num_ctx=args.num_ctx))
    started = time.perf_counter()
    ready = backend.local_tokenizer(wait=True) is not None
    print(f"\nGemma tokenizer ({path.name}): in-process tokenizer "
          + (f"ready in {time.perf_counter() - started:.1f} s" if ready else "unavailable"))
    http = backend._client_for_model(backend.load())  # llama.cpp's /tokenize, as before
    for label, counter in (("llama.cpp /tokenize over the socket", http.count_tokens), ("count_tokens", backend.count_tokens)):
        times: list[float] = []

        def count(messages: list[dict[str, str]]) -> int:
            t = time.perf_counter()
            n = counter(messages)
            times.append(time.perf_counter() - t)
            assert n is not None, "the embedded llama.cpp should count"
            return n + 8 * len(messages)

        count([{"role": "user", "content": "warm up"}])
        times.clear()
        print(f"  through {label}:")
        for name, files in sets.items():
            n, over, fills = before(engine, files, settings, count)
            print(f"  {name:22} before: {n} requests, {over} over the context, mean fill {statistics.mean(fills):.2f}")
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(f"  true count per request: p50 {statistics.median(times) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms "
              f"over {len(times)} requests")
    backend.close()

if __name__ == "__main__":
    main()
