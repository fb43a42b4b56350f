"""Engine benchmark: a realistic ~20-file diff against the fake Ollama server.

Prints wall time, time inside the model, the tool's own overhead (their difference),
prompt tokens for diff-scoped review against sending each changed file whole, and the
process time of a second run served from the cache.

    python benchmarks/engine.py [--files 20] [--tokens-per-second 60] [--prefill 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_ollama import FakeOllama, Reply  # noqa: E402


def python_file(rng: random.Random, n_funcs: int) -> list[str]:
    lines = ['"""Generated module."""', "", "import math", ""]
    for i in range(n_funcs):
        lines += [
            "",
            f"def compute_{i}(values, scale={rng.randint(1, 9)}):",
            f'    """Scale and sum values for report {i}."""',
            "    total = 0",
            "    for v in values:",
            "        if v is None:",
            "            continue",
            f"        total += math.floor(v * scale) % {rng.randint(3, 97)}",
            "    return total",
        ]
    return lines


def js_file(rng: random.Random, n_funcs: int) -> list[str]:
    lines = ["'use strict';", ""]
    for i in range(n_funcs):
        lines += [
            "",
            f"function handle{i}(items, limit = {rng.randint(2, 50)}) {{",
            "  const out = [];",
            "  for (const item of items) {",
            "    if (out.length >= limit) break;",
            f"    out.push(item.value * {rng.randint(1, 9)});",
            "  }",
            "  return out;",
            "}",
        ]
    return lines


def go_file(rng: random.Random, n_funcs: int) -> list[str]:
    lines = ["package gen", "", 'import "fmt"', ""]
    for i in range(n_funcs):
        lines += [
            "",
            f"func Format{i}(xs []int) string {{",
            "\ts := \"\"",
            "\tfor _, x := range xs {",
            f"\t\ts += fmt.Sprintf(\"%d,\", x*{rng.randint(1, 9)})",
            "\t}",
            "\treturn s",
            "}",
        ]
    return lines


MAKERS = {".py": python_file, ".js": js_file, ".go": go_file}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, files: int, rng: random.Random) -> list[Path]:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "bench@example.com")
    git(root, "config", "user.name", "bench")
    paths = []
    for i in range(files):
        ext = list(MAKERS)[i % 3]
        path = root / "src" / f"module_{i}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(MAKERS[ext](rng, rng.randint(25, 40))) + "\n")
        paths.append(path)
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    # Change one or two functions per file, as a real feature branch does.
    for path in paths:
        lines = path.read_text().split("\n")
        for _ in range(rng.randint(1, 2)):
            idx = rng.randrange(10, len(lines) - 10)
            lines.insert(idx, lines[idx].replace(lines[idx].strip(), "") + ("# tweak" if path.suffix == ".py" else "// tweak"))
        path.write_text("\n".join(lines))
    return paths


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[dict, float, float]:
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.run(
        [sys.executable, "-m", "gemma_review", "review", *args, "--format", "json", "-q"],
        cwd=cwd, env=env, capture_output=True, text=True,
    )
    after = os.times()
    wall = time.perf_counter() - start
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"review failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout), wall, cpu


def run_in_process(root: Path, env: dict[str, str]) -> tuple[float, float]:
    from gemma_review.config import load_settings
    from gemma_review.engine import ReviewEngine
    from gemma_review.intake import from_range

    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings(root, overrides={"cache": False}).settings
        engine = ReviewEngine(settings, root=root)
        import ollama  # noqa: F401 - warm import, outside the timed part

        engine.backend
        start = time.perf_counter()
        result = engine.review(from_range(root, "main"))
        wall = time.perf_counter() - start
        engine.close()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return wall, result.metrics.total_seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--tokens-per-second", type=float, default=60.0)
    ap.add_argument("--prefill", type=float, default=0.25, help="seconds of fake prefill per request")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, FakeOllama(tokens_per_second=args.tokens_per_second) as fake:
        root = Path(tmp) / "repo"
        root.mkdir()
        paths = make_repo(root, args.files, rng)
        fake.set_reply(lambda body: Reply(text='{"findings": []}', first_token_delay=args.prefill))
        env = {**os.environ, "GEMMA_REVIEW_CACHE_DIR": str(Path(tmp) / "cache"),
               "OLLAMA_HOST": fake.url, "GEMMA_REVIEW_BACKEND": "ollama", "PYTHONPATH": str(REPO)}

        doc, wall, _ = run_cli(["--base", "main"], env, root)
        model = doc["metrics"]["total_seconds"]
        diff_prompt = sum(r["messages"][0]["content"].__len__() + r["messages"][-1]["content"].__len__() for r in fake.requests)
        diff_tokens = doc["metrics"]["prompt_tokens"]
        requests_diff = len(fake.requests)

        # The same files sent whole (no cache), for the prompt-size comparison.
        fake.requests.clear()
        whole_doc, whole_wall, _ = run_cli([str(p.relative_to(root)) for p in paths] + ["--no-cache"], env, root)
        whole_tokens = whole_doc["metrics"]["prompt_tokens"]

        # In process, imports warm (what the language server and a long-lived process pay).
        fake.requests.clear()
        inproc_wall, inproc_model = run_in_process(root, env)

        # Second run of the same diff: everything from the cache.
        fake.requests.clear()
        cached_doc, cached_wall, cached_cpu = run_cli(["--base", "main"], env, root)
        assert not fake.requests, "the cached run asked the model"

    overhead = wall - model
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gemma_review.cli, gemma_review.engine, ollama, unidiff, tree_sitter_python"], check=True, env=env)
    startup = time.perf_counter() - t0
    print(f"diff: {args.files} files, {doc['summary']['units']} units, {requests_diff} model requests")
    print(f"wall time                 {wall:8.3f} s")
    print(f"time inside the model     {model:8.3f} s")
    print(f"tool overhead             {overhead:8.3f} s  ({100 * overhead / wall:.1f} % of wall; targets < 5 % and < 0.2 s)")
    print(f"  of which process start + imports {startup:.3f} s (python -c 'import gemma_review.cli, ollama, unidiff')")
    print(f"in process (imports warm): wall {inproc_wall:.3f} s, model {inproc_model:.3f} s, "
          f"overhead {inproc_wall - inproc_model:.3f} s ({100 * (inproc_wall - inproc_model) / inproc_wall:.1f} %)")
    print(f"prompt tokens, diff-scope {diff_tokens:8d}  ({diff_prompt} chars)")
    print(f"prompt tokens, whole files{whole_tokens:8d}  (whole-file wall {whole_wall:.2f} s)")
    print(f"diff-scoped is {whole_tokens / max(diff_tokens, 1):.1f}x smaller (target >= 3x)")
    print(f"cached second run: wall {cached_wall:.3f} s, process time {cached_cpu:.3f} s (target < 0.5 s), "
          f"{cached_doc['summary']['cached_units']}/{cached_doc['summary']['units']} units cached")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
