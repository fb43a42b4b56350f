"""Commit-hook benchmark: whole-process wall time of ``gemma-review hook``, as pre-commit runs it.

Measures, each as the median of several runs, interpreter start included:
  * no files passed (pre-commit never calls this; the floor of the entry point),
  * an empty diff (the plain git hook with nothing staged, and a passed file with no staged change),
  * a diff already in the review cache (target: under 0.5 s),
  * a fresh diff against the fake Ollama server at a fixed token rate, with the time the
    model spent generating and the hook's overhead beyond it.

    python benchmarks/hook.py [--runs 7] [--tokens-per-second 40]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_ollama import FakeOllama, Reply  # noqa: E402

TARGET_CACHED = 0.5


def hook_command() -> list[str]:
    script = Path(sys.executable).with_name("gemma-review")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "gemma_review"]
    return [*prefix, "hook", "--"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def timed(cmd: list[str], cwd: Path, env: dict[str, str], expect: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children such as git)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}, expected {expect}:\n{proc.stdout}{proc.stderr}")
    return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_of(runs: int, cmd: list[str], cwd: Path, env: dict[str, str], expect: int) -> tuple[float, float]:
    samples = [timed(cmd, cwd, env, expect) for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


class TimedOracle:
    """The fake's oracle, remembering how long each reply takes to stream at the fixed rate."""

    def __init__(self, fake: FakeOllama, tokens_per_second: float) -> None:
        self.fake, self.rate = fake, tokens_per_second
        self.model_seconds = 0.0

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = self.fake.oracle(body)
        tokens = math.ceil(len(reply.text) / reply.chunk_chars)  # the fake streams one chunk per token
        self.model_seconds += tokens / self.rate
        return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (median reported)")
    parser.add_argument("--tokens-per-second", type=float, default=40.0, help="the fake model's decode rate")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="gemma-review-hook-bench-"))
    try:
        repo = work / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
            "commit", "-q", "--allow-empty", "-m", "initial")
        with FakeOllama(tokens_per_second=args.tokens_per_second) as fake:
            oracle = TimedOracle(fake, args.tokens_per_second)
            fake.set_reply(oracle)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT", "GEMMA_REVIEW_"))}
            env.update(OLLAMA_HOST=fake.url, GEMMA_REVIEW_BACKEND="ollama",
                       GEMMA_REVIEW_CACHE_DIR=str(work / "cache"), NO_COLOR="1")
            hook = hook_command()
            rows: list[tuple[str, tuple[float, float], str]] = []

            rows.append(("interpreter start alone (python -c pass)",
                         median_of(args.runs, [sys.executable, "-c", "pass"], repo, env, 0), ""))
            rows.append(("no files passed", median_of(args.runs, hook, repo, env, 0), ""))
            rows.append(("empty diff, plain git hook",
                         median_of(args.runs, [*hook, "--git-hook", "pre-commit"], repo, env, 0), ""))
            (repo / "streak.py").write_text((REPO / "samples" / "streak.py").read_text(encoding="utf-8"), encoding="utf-8")
            rows.append(("empty diff, file passed but not staged", median_of(args.runs, [*hook, "streak.py"], repo, env, 0), ""))

            git(repo, "add", "streak.py")
            timed([*hook, "streak.py"], repo, env, 1)  # fills the cache
            cached = median_of(args.runs, [*hook, "streak.py"], repo, env, 1)
            verdict = "ok" if cached[0] < TARGET_CACHED else "OVER TARGET"
            rows.append(("diff already in the cache (blocks on its finding)", cached,
                         f"target < {TARGET_CACHED} s wall: {verdict}"))

            fresh: list[tuple[float, float, float]] = []
            for i in range(max(3, args.runs // 2)):
                env_fresh = dict(env, GEMMA_REVIEW_CACHE_DIR=str(work / f"cache-fresh-{i}"))
                before = oracle.model_seconds
                wall, cpu = timed([*hook, "streak.py"], repo, env_fresh, 1)
                fresh.append((wall, cpu, oracle.model_seconds - before))
            wall = statistics.median(w for w, _, _ in fresh)
            model = statistics.median(m for _, _, m in fresh)
            rows.append((f"fresh diff, fake model at {args.tokens_per_second:g} tok/s",
                         (wall, statistics.median(c for _, c, _ in fresh)),
                         f"model {model:.2f} s, overhead beyond the model {wall - model:.2f} s"))
            requests = len(fake.requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"gemma-review hook, whole process incl. interpreter start (median of {args.runs} runs; "
          f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average {load:.1f})")
    width = max(len(name) for name, _, _ in rows)
    print(f"  {'':<{width}}    wall      CPU")
    for name, (seconds, cpu), note in rows:
        print(f"  {name:<{width}}  {seconds:6.3f} s {cpu:6.3f} s  {note}".rstrip())
    print(f"  model requests made: {requests} (1 to fill the cache + 1 per fresh run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
