"""A real repository's commits against a llama-server with several slots, and the CI cache.

Two figures for issue 22, on the last commits of a real git repository (a clone; nothing of
it is copied here):

- ``jobs``: each of the last ``--commits`` non-merge commits is reviewed (``commit^..commit``,
  :func:`gemma_review.intake.from_range`, one review per commit as a CI run would) against
  llama.cpp's own HTTP server (xllamacpp ``Server``, ``n_parallel=4``, continuous batching)
  serving the bundled Gemma 3 270M through the ``openai`` backend, once per ``--jobs`` value
  and once without ``--jobs`` (the server's ``/props`` ``total_slots`` decides). Printed:
  units, requests, wall time, units/s, the peak of requests in flight, and ``os.cpu_count()``.
  All slots share the machine's cores, so expect far less than ``jobs``-fold.
- ``cache``: the newest merged pull request of at least ``--pr-commits`` commits (``base`` =
  the merge base of its branch): ``base..commit_1``, then ``base..commit_2`` ... with one cache
  directory, as CI reviews each push of a PR with ``actions/cache``; against the fake Ollama
  server (``tests/fake_ollama.py``).
  Printed per push: units in the review, reviewed by the model, served from the cache.

Reproduce (the repository is any clone, e.g. of https://github.com/pallets/click):

    git clone https://github.com/pallets/click /tmp/click
    python benchmarks/jobs_server.py jobs  /tmp/click [--commits 6] [--jobs 1,2,4] [--num-predict 32] [--num-ctx 2048]
    python benchmarks/jobs_server.py cache /tmp/click [--pr-commits 4]

``jobs`` needs the demo and embedded extras (``pip install 'gemma-review[demo,embedded]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.intake import FileChange, from_range  # noqa: E402
from gemma_review.scheduler import Scheduler  # noqa: E402

SLOTS = 4
PER_SLOT_CTX = 4096


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commits(repo: Path, n: int) -> list[str]:
    """The last ``n`` non-merge commits of the history, oldest first."""
    return git(repo, "log", "--no-merges", "--format=%H", f"-{n}").split()[::-1]


def pull_request(repo: Path, least: int) -> tuple[str, str, list[str]]:
    """The newest merged pull request of at least ``least`` commits and no merges of its own:
    (its merge commit, its base, its commits oldest first)."""
    for merge in git(repo, "log", "--first-parent", "--merges", "--format=%H", "-400").split():
        base = git(repo, "merge-base", f"{merge}^1", f"{merge}^2")
        shas = git(repo, "rev-list", "--reverse", f"{base}..{merge}^2").split()
        if len(shas) >= least and not git(repo, "rev-list", "--merges", f"{base}..{merge}^2"):
            return merge, base, shas
    sys.exit(f"no merged pull request of {least} or more commits in the last 400 merges")


def diffs(repo: Path, shas: list[str]) -> list[tuple[str, list[FileChange]]]:
    return [(sha[:8], from_range(repo, f"{sha}^", sha)) for sha in shas]


def review_all(settings: Settings, per_commit: list[tuple[str, list[FileChange]]], jobs: int | None) -> dict[str, float]:
    """One review per commit with ``--jobs jobs`` (None: not set, the server decides)."""
    s = settings
    if jobs is not None:  # as the CLI records ``--jobs N``: the user's own choice
        s = dataclasses.replace(settings, max_parallel=jobs, origins={"max_parallel": "--jobs"})
    sched = Scheduler(s.max_parallel)
    units = requests = 0
    used = 0
    t = time.perf_counter()
    for _sha, changes in per_commit:
        engine = ReviewEngine(s, root=REPO / "benchmarks", scheduler=sched)
        try:
            result = engine.review(changes)
            used = engine.parallelism.jobs if result.requests else used
        finally:
            engine.close()
        units += result.units
        requests += result.requests
    wall = time.perf_counter() - t
    return {"units": units, "requests": requests, "wall": wall, "peak": sched.peak, "jobs": used}


def _start_server(threads: int) -> tuple[subprocess.Popen[str], str]:
    from gemma_review.smoke_model import smoke_model_path

    model = smoke_model_path()
    if model is None:
        sys.exit("the demo model is not installed: pip install 'gemma-review[demo,embedded]'")
    # The server of benchmarks/jobs.py: ``--serve MODEL N_CTX N_PARALLEL THREADS``.
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "jobs.py"), "--serve", str(model), str(PER_SLOT_CTX * SLOTS),
         str(SLOTS), str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    line = proc.stdout.readline().strip() if proc.stdout else ""
    watchdog.cancel()
    if not re.match(r"^http://127\.0\.0\.1:\d+$", line):
        proc.kill()
        sys.exit(f"llama.cpp server did not start: {line!r} {(proc.stderr.read() if proc.stderr else '')[-800:]}")
    return proc, line


def jobs_figure(args: argparse.Namespace) -> None:
    repo = Path(args.repo).resolve()
    per_commit = diffs(repo, commits(repo, args.commits))
    cores = os.cpu_count()
    proc, url = _start_server(cores or 2)
    try:
        settings = Settings(backend="openai", host=url, model="smoke", cache=False, num_ctx=args.num_ctx,
                            num_predict=args.num_predict, timeout=900)
        review_all(settings, [per_commit[0]], 1)  # warm up (model pages, connection)
        print(f"{repo.name}: last {len(per_commit)} commits ({', '.join(sha for sha, _ in per_commit)}); "
              f"llama.cpp server, {SLOTS} slots, Gemma 3 270M, num_predict {args.num_predict}, num_ctx {args.num_ctx}; "
              f"os.cpu_count() = {cores}")
        print(f"  {'--jobs':<22} {'units':>5} {'requests':>8} {'wall s':>7} {'units/s':>7} {'peak in flight':>14}")
        rows: list[tuple[str, int | None]] = [(str(j), j) for j in args.jobs]
        rows.append(("not set (server: ?)", None))
        base = None
        for label, jobs in rows:
            r = review_all(settings, per_commit, jobs)
            if jobs is None:
                label = f"not set (server: {int(r['jobs'])})"
            rate = r["units"] / r["wall"]
            base = base or rate
            print(f"  {label:<22} {int(r['units']):>5} {int(r['requests']):>8} {r['wall']:>7.1f} {rate:>7.2f} "
                  f"{int(r['peak']):>14}   x{rate / base:.2f}", flush=True)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def cache_figure(args: argparse.Namespace) -> None:
    from tests.fake_ollama import FakeOllama

    repo = Path(args.repo).resolve()
    merge, base, shas = pull_request(repo, args.pr_commits)
    with tempfile.TemporaryDirectory() as cache_dir, FakeOllama(tokens_per_second=2000) as server:
        settings = Settings(backend="ollama", host=server.url, cache=True, cache_dir=cache_dir)
        print(f"{repo.name}: the pull request merged in {merge[:8]} ({git(repo, 'log', '-1', '--format=%s', merge)}): "
              f"{len(shas)} commits on {base[:8]}; push k reviews {base[:8]}..commit_k; one cache dir; fake Ollama")
        print(f"  {'push':<6} {'head':<9} {'files':>5} {'units':>5} {'reviewed':>8} {'from cache':>10} {'requests':>8}")
        total = reviewed = 0
        for k, sha in enumerate(shas, 1):
            changes = from_range(repo, base, sha)
            engine = ReviewEngine(settings, root=REPO / "benchmarks")
            try:
                r = engine.review(changes)
            finally:
                engine.close()
            print(f"  {k:<6} {sha[:8]:<9} {len(changes):>5} {r.units:>5} {r.units - r.cached_units:>8} "
                  f"{r.cached_units:>10} {r.requests:>8}", flush=True)
            total += r.units
            reviewed += r.units - r.cached_units
        print(f"  over the {len(shas)} pushes: {reviewed} of {total} units reviewed by the model "
              f"({total - reviewed} from the cache, {(total - reviewed) / max(total, 1):.0%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure", choices=("jobs", "cache"))
    ap.add_argument("repo", help="a clone of a real git repository")
    ap.add_argument("--commits", type=int, default=6, help="jobs: the last N commits")
    ap.add_argument("--pr-commits", type=int, default=4, help="cache: the newest merged PR with at least N commits")
    ap.add_argument("--jobs", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 4])
    ap.add_argument("--num-predict", type=int, default=32)
    ap.add_argument("--num-ctx", type=int, default=2048, help="the tool's num_ctx (the server has 4096 per slot)")
    args = ap.parse_args()
    jobs_figure(args) if args.figure == "jobs" else cache_figure(args)


if __name__ == "__main__":
    main()
