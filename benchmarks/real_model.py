"""Real-model benchmark: the labelled samples reviewed by Gemma 3 270M on llama.cpp.

Loads the packaged smoke-test model in process (the ``embedded`` backend), reviews every
sample file whole with the cache off, and prints the wall time of the review, the time
inside the model (llama.cpp's own prefill + decode timings) and their ratio. Target: wall
time at most 1.1x the model's own time, i.e. the tool adds under 10 %. Loading the model
is timed separately and not counted.

    python benchmarks/real_model.py [--samples DIR] [--num-ctx 4096] [--num-predict 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.bench import load_samples, score  # noqa: E402
from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.errors import GemmaReviewError  # noqa: E402
from gemma_review.intake import from_files  # noqa: E402
from gemma_review.smoke_model import smoke_model_path  # noqa: E402

TARGET_RATIO = 1.1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=Path, default=REPO / "samples", help="labelled samples folder")
    ap.add_argument("--num-ctx", type=int, default=4096)
    ap.add_argument("--num-predict", type=int, default=128, help="reply cap per unit (the base model rambles)")
    args = ap.parse_args()

    try:
        path = smoke_model_path(os.environ.get("GEMMA_REVIEW_TEST_MODEL_DIR"))
    except GemmaReviewError as exc:
        raise SystemExit(f"real_model: {exc}") from None
    if path is None:
        raise SystemExit("real_model: needs the demo extra: pip install 'gemma-review[demo]'")
    folder = args.samples.resolve()
    samples = load_samples(folder)
    settings = Settings(backend="embedded", model_file=str(path), num_ctx=args.num_ctx,
                        num_predict=args.num_predict, cache=False)
    engine = ReviewEngine(settings, root=folder, use_cache=False)
    try:
        start = time.perf_counter()
        engine.backend.load(settings.num_ctx)  # type: ignore[attr-defined]
        load = time.perf_counter() - start

        start = time.perf_counter()
        result = engine.review(from_files([s.path for s in samples], folder))
        wall = time.perf_counter() - start
    finally:
        engine.close()

    m = result.metrics
    own = m.prefill_seconds + m.decode_seconds
    waiting = m.total_seconds
    ratio = wall / own if own > 0 else float("inf")
    overhead = wall - own
    sc = score(samples, result.findings)
    reused = f" (+ {m.cached_prompt_tokens} reused from llama.cpp's prompt cache)" if m.cached_prompt_tokens else ""
    print(f"model: {path.name} in process (llama.cpp, n_ctx {settings.num_ctx}, num_predict {settings.num_predict}); "
          f"loaded in {load:.1f} s, not counted")
    print(f"samples: {len(samples)} files, {result.units} units, {m.requests} requests; "
          f"{m.prompt_tokens} prompt tokens evaluated{reused}, {m.output_tokens} output tokens")
    print(f"speed: prefill {m.prefill_tps:.0f} tok/s, decode {m.decode_tps:.0f} tok/s; "
          f"first token after {m.time_to_first_token or 0:.2f} s")
    print(f"wall time                  {wall:8.2f} s")
    print(f"time waiting on the model  {waiting:8.2f} s  (from sending each request to its last chunk)")
    print(f"time inside the model      {own:8.2f} s  (llama.cpp's own prefill + decode timings)")
    print(f"ratio wall / model         {ratio:8.3f}    (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    print(f"tool overhead              {overhead:8.2f} s  ({100 * overhead / wall:.1f} % of wall, "
          f"{1000 * overhead / max(result.units, 1):.0f} ms per unit)")
    print(f"findings: {len(result.findings)} ({sc.found}/{sc.labelled} labelled bugs found, "
          f"{sc.false_positives} false positives; a base model is no reviewer)")
    for note in result.notes[:3]:
        print(f"note: {note}")
    if len(result.notes) > 3:
        print(f"note: ... and {len(result.notes) - 3} more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
