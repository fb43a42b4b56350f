"""The request scheduler: bounded in flight, priority order, stale work dropped, timeouts from send."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from gemma_review.cli import main
from gemma_review.config import Settings, load_settings
from gemma_review.engine import ReviewEngine
from gemma_review.errors import ModelError, ReviewCancelled
from gemma_review.intake import FileChange
from gemma_review.scheduler import Parallelism, Scheduler, parallelism, shared_scheduler
from tests.helpers import SAMPLES
from tests.fake_ollama import ContextRules, FakeOllama, Reply


def source(i: int) -> str:
    return f"def check_{i}(x):\n    if x == None:\n        return {i}\n    return x\n"


def test_waiters_go_by_priority_then_arrival() -> None:
    sched = Scheduler(1)
    order: list[str] = []
    gate = threading.Event()
    priorities = {"low": 1.0, "high": 5.0, "mid": 3.0, "mid2": 3.0}

    def holder() -> None:
        with sched.slot():
            gate.wait(5)

    def waiter(name: str) -> None:
        with sched.slot(priority=lambda: priorities[name]):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    while sched.in_flight == 0:
        time.sleep(0.01)
    for name in ("low", "mid", "high", "mid2"):
        t = threading.Thread(target=waiter, args=(name,))
        t.start()
        threads.append(t)
        while sched.waiting() < len(threads) - 1:
            time.sleep(0.01)
    priorities["low"] = 10.0  # the user switched to that document while it waited
    gate.set()
    for t in threads:
        t.join(5)
    assert order == ["low", "high", "mid", "mid2"]
    assert sched.peak == 1 and sched.sent == 5


def test_cancelled_waiter_is_dropped_without_being_sent() -> None:
    sched = Scheduler(1)
    cancel = threading.Event()
    gate = threading.Event()
    outcome: list[str] = []

    def holder() -> None:
        with sched.slot():
            gate.wait(5)

    def waiter() -> None:
        try:
            with sched.slot(cancel):
                outcome.append("sent")
        except ReviewCancelled:
            outcome.append("dropped")

    h = threading.Thread(target=holder)
    h.start()
    while sched.in_flight == 0:
        time.sleep(0.01)
    w = threading.Thread(target=waiter)
    w.start()
    while sched.waiting() == 0:
        time.sleep(0.01)
    cancel.set()
    w.join(5)
    gate.set()
    h.join(5)
    assert outcome == ["dropped"] and sched.dropped == 1 and sched.sent == 1


def test_shared_scheduler_is_one_per_server_and_follows_max_parallel() -> None:
    a = shared_scheduler("ollama|http://127.0.0.1:1", 1)
    assert shared_scheduler("ollama|http://127.0.0.1:1", 1) is a
    assert shared_scheduler("ollama|http://127.0.0.1:2", 1) is not a
    shared_scheduler("ollama|http://127.0.0.1:1", 3)
    assert a.max_parallel == 3


def _review_concurrently(server: FakeOllama, max_parallel: int, n: int, timeout: float) -> list[object]:
    """``n`` reviews at once (as the language server runs one per document) through one scheduler."""
    sched = Scheduler(max_parallel)
    outcomes: list[object] = [None] * n

    def run(i: int) -> None:
        s = Settings(backend="ollama", host=server.url, cache=False, timeout=timeout)
        eng = ReviewEngine(s, root=Path.cwd(), scheduler=sched)
        try:
            outcomes[i] = eng.review([FileChange(f"m{i}.py", source(i), None)])
        except ModelError as exc:
            outcomes[i] = exc
        finally:
            eng.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_timeout_counts_from_send_not_from_the_server_queue() -> None:
    # A one-slot server taking 0.6 s per reply, a 1.5 s timeout, four reviews at once.
    with FakeOllama(responder=Reply(first_token_delay=0.6), num_parallel=1) as server:
        bounded = _review_concurrently(server, 1, 4, 1.5)
        assert all(not isinstance(o, ModelError) for o in bounded), bounded
        # Without the bound the fourth waits ~1.8 s in the server's queue: its timeout fires.
        unbounded = _review_concurrently(server, 4, 4, 1.5)
    assert any(isinstance(o, ModelError) for o in unbounded)


def test_jobs_bounds_requests_in_flight() -> None:
    with FakeOllama(responder=Reply(first_token_delay=0.2), num_parallel=4) as server:
        sched = Scheduler(2)
        s = Settings(backend="ollama", host=server.url, cache=False, max_parallel=2, num_ctx=2048, num_predict=256)
        eng = ReviewEngine(s, root=Path.cwd(), scheduler=sched)
        # Files too big to share a request: one request each.
        big = ["\n".join(f"def f_{i}_{k}(x):\n    return x * {k}\n" for k in range(60)) for i in range(5)]
        result = eng.review([FileChange(f"m{i}.py", text, None) for i, text in enumerate(big)])
        eng.close()
    assert result.requests >= 5 and not result.notes
    assert sched.peak == 2 and sched.sent == result.requests


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("streak.py", "cart.js", "pagination.ts", "config.go", "slugify.py", "tags.py"):
        if (SAMPLES / name).exists():
            shutil.copy(SAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_jobs_output_is_deterministic(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p.name for p in work.iterdir())
    outputs = []
    with FakeOllama(tokens_per_second=400) as server:
        for jobs in ("1", "4"):
            code = main(["review", *files, "--format", "json", "--no-cache", "--jobs", jobs,
                         "--backend", "ollama", "--host", server.url, "--num-ctx", "2048", "--num-predict", "256"])
            out, err = capsys.readouterr()
            assert code in (0, 1), err
            doc = json.loads(out)
            outputs.append([(f["path"], f["range"]["start"]["line"], f["title"]) for f in doc["findings"]])
    assert outputs[0] and outputs[0] == outputs[1]


def test_jobs_must_be_positive(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["review", "streak.py", "--jobs", "0", "--backend", "ollama", "--host", "http://127.0.0.1:9"])
    _out, err = capsys.readouterr()
    # The error names the flag the user typed, not the internal setting (max_parallel).
    assert code == 2 and "--jobs must be a whole number from 1 to 64, got 0" in err and "max_parallel" not in err


def _big_files(n: int) -> list[FileChange]:
    """Files too big to share a request: one request each."""
    big = ["\n".join(f"def f_{i}_{k}(x):\n    return x * {k}\n" for k in range(60)) for i in range(n)]
    return [FileChange(f"m{i}.py", text, None) for i, text in enumerate(big)]


def _slots_server(slots: int) -> FakeOllama:
    """An OpenAI-compatible server whose llama-server /props reports ``slots`` (and really has them)."""
    return FakeOllama(responder=Reply(first_token_delay=0.3), num_parallel=slots,
                      context=ContextRules(props=True, total_slots=slots))


@pytest.mark.parametrize("jobs, peak", [(None, 3), (1, 1)])
def test_jobs_follow_the_servers_slots_unless_set(jobs: int | None, peak: int, tmp_path: Path) -> None:
    # Not set: the server's /props total_slots (3). Set (--jobs 1): the setting wins.
    overrides = {"max_parallel": jobs} if jobs is not None else {}
    with _slots_server(3) as server:
        overrides.update(backend="openai", host=server.url, model="gemma4:e4b", cache=False, num_ctx=2048, num_predict=256)
        s = load_settings(tmp_path, env={}, overrides=overrides).settings
        sched = Scheduler(s.max_parallel)
        eng = ReviewEngine(s, root=Path.cwd(), scheduler=sched)
        result = eng.review(_big_files(6))
        eng.close()
    assert result.requests >= 6 and not result.notes
    assert sched.peak == peak and sched.max_parallel == peak and sched.sent == result.requests
    assert eng.parallelism.jobs == peak
    assert eng.parallelism.source == ("set by --jobs" if jobs else "the server's /props total_slots (3); --jobs overrides it")


def test_cli_jobs_from_the_server_and_explicit_jobs_wins(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gemma_review import scheduler as scheduler_module

    for name, text in zip(("a.py", "b.py", "c.py", "d.py", "e.py", "f.py"), (f.text for f in _big_files(6))):
        (work / name).write_text(text or "")
    peaks = []
    with _slots_server(3) as server:
        for extra in ([], ["--jobs", "1"]):
            scheduler_module._shared.pop(f"openai|{server.url}", None)
            code = main(["review", "a.py", "b.py", "c.py", "d.py", "e.py", "f.py", "--format", "json", "--no-cache",
                         "--backend", "openai", "--host", server.url, "--num-ctx", "2048", "--num-predict", "256", *extra])
            _out, err = capsys.readouterr()
            assert code in (0, 1), err
            peaks.append(scheduler_module._shared[f"openai|{server.url}"].peak)
    assert peaks == [3, 1]


def test_servers_without_slots_keep_the_setting() -> None:
    # Ollama reports no slot count: the default (1) stays, said as a default.
    with FakeOllama(responder=Reply(first_token_delay=0.05), num_parallel=4) as server:
        sched = Scheduler(1)
        s = Settings(backend="ollama", host=server.url, cache=False, num_ctx=2048, num_predict=256)
        eng = ReviewEngine(s, root=Path.cwd(), scheduler=sched)
        eng.review(_big_files(3))
        eng.close()
    assert sched.peak == 1
    assert eng.parallelism == Parallelism(1, "the max_parallel default (the server does not report its slots)", None, "default")


def test_slot_count_is_capped_by_the_settings_bound() -> None:
    class Big:
        def server_slots(self) -> tuple[int, str]:
            return 500, "the server's /props total_slots"

    p = parallelism(Big(), Settings(), bound=64)
    assert p.jobs == 64 and p.server_slots == 500 and "capped at 64" in p.source
