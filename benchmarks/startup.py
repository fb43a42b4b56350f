"""Start-up cost of the two runs that should feel instant: a cached review of one file, and
the hook with nothing staged. Whole process, median of N runs, against the fake Ollama server.

    python benchmarks/startup.py [--runs 15]

Goal (issue 19): both under 0.25 s on 2 cores. `python -X importtime -m gemma_review review
FILE` shows where the time goes.
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

from tests.fake_ollama import FakeOllama  # noqa: E402


def timed(cmd: list[str], cwd: Path, env: dict[str, str], runs: int) -> tuple[float, float, int]:
    times = []
    code = 0
    for _ in range(runs):
        t = time.perf_counter()
        code = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True).returncode
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    exe = [sys.executable, "-m", "gemma_review"]
    with tempfile.TemporaryDirectory() as tmp, FakeOllama() as server:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git_env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                   "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
                   "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
        subprocess.run(["git", "init", "-q"], cwd=repo, env=git_env, check=True)
        (repo / "a.py").write_text("def f(x):\n    return x + 1\n")
        subprocess.run(["git", "add", "a.py"], cwd=repo, env=git_env, check=True)
        subprocess.run(["git", "commit", "-qm", "a"], cwd=repo, env=git_env, check=True)
        env = {**git_env, "OLLAMA_HOST": server.url, "GEMMA_REVIEW_CACHE_DIR": str(Path(tmp) / "cache")}
        # As users run it: bytecode cached (a first run writes it; the runs below read it).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([*exe, "hook"], cwd=repo, env=env, capture_output=True, check=False)
        review = [*exe, "review", "a.py", "--backend", "ollama"]
        subprocess.run(review, cwd=repo, env=env, capture_output=True, check=False)  # fills the cache
        print(f"{os.cpu_count()} cores; median / best of {runs} runs, whole process")
        med, best, code = timed(review, repo, env, runs)
        print(f"cached review of one file   {med:.3f} s / {best:.3f} s  (exit {code})")
        med, best, code = timed([*exe, "hook"], repo, env, runs)
        print(f"hook with nothing staged    {med:.3f} s / {best:.3f} s  (exit {code})")
        med, best, code = timed([sys.executable, "-c", "pass"], repo, env, runs)
        print(f"python itself               {med:.3f} s / {best:.3f} s")


if __name__ == "__main__":
    main()
