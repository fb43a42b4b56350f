"""Packing: units into requests, real line numbers, attribution, the diff <= whole-file rule."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gemma_review.config import Settings
from gemma_review.engine import ReviewEngine
from gemma_review.intake import FileChange
from gemma_review.packing import pack, render, request_messages
from gemma_review.scheduler import Scheduler
from gemma_review.tokens import estimate_tokens
from tests.fake_ollama import FakeOllama, Reply, last_user_text


def module(n_funcs: int, body: int = 6, tag: str = "f") -> str:
    lines = ['"""A module."""', "", "import math", ""]
    for i in range(n_funcs):
        lines += ["", f"def {tag}_{i}(values):", f'    """Sum {i}."""', "    total = 0"]
        lines += [f"    total += math.floor(values[{k}] * {i + 1})" for k in range(body)]
        lines += ["    return total", ""]
    return "\n".join(lines) + "\n"


def engine(server: FakeOllama | None = None, cache: bool = False, **over: object) -> ReviewEngine:
    s = Settings(backend="ollama", host=server.url if server else "http://127.0.0.1:9", cache=cache, **over)  # type: ignore[arg-type]
    return ReviewEngine(s, root=Path.cwd(), scheduler=Scheduler(s.max_parallel))


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.split("\n"), 1) if needle in ln)


def test_regions_of_one_file_share_a_request_with_real_line_numbers() -> None:
    text = module(12)
    a, b = line_of(text, "values[2] * 2)"), line_of(text, "values[3] * 11)")
    eng = engine()
    units = eng.units_for(FileChange("m.py", text, [(a, a), (b, b)]))
    assert len(units) == 2
    (request,) = pack(units, eng.unit_token_budget(), estimate_tokens)
    user = request_messages(request)[-1]["content"]
    assert f">{a:>5} | " in user and f">{b:>5} | " in user
    assert f"... (lines {units[0].end + 1}-{units[1].start - 1} not shown)" in user
    assert user.count("File: m.py") == 1
    # Only the two functions: the lines between them are not sent.
    assert f"{units[0].end + 2:>5} | " not in user


def test_small_files_of_one_change_share_a_request() -> None:
    texts = {f"p{i}.py": module(1, tag=f"g{i}") for i in range(3)}
    eng = engine()
    units = [u for p, t in texts.items() for u in eng.units_for(FileChange(p, t, [(7, 7)]))]
    requests = pack(units, eng.unit_token_budget(), estimate_tokens)
    assert len(requests) == 1 and requests[0].paths == list(texts)


def test_budget_splits_requests_and_never_splits_a_region() -> None:
    text = module(30)
    changed = [(line_of(text, f"values[1] * {i + 1})"),) * 2 for i in range(0, 30, 3)]
    eng = engine()
    units = eng.units_for(FileChange("m.py", text, changed))
    assert len(units) == 10
    budget = 600
    requests = pack(units, budget, estimate_tokens)
    assert len(requests) > 1
    assert sorted(u.start for r in requests for u in r.units) == sorted(u.start for u in units)
    for r in requests:
        if len(r.units) > 1:
            assert estimate_tokens(render(r.units)) <= budget


def test_whole_file_sent_when_regions_cover_most_of_it() -> None:
    text = module(5)
    n = len(text.split("\n")) - 1
    changed = [(line_of(text, f"values[0] * {i + 1})"),) * 2 for i in range(5)]
    (unit,) = engine().units_for(FileChange("m.py", text, changed))
    assert (unit.start, unit.end) == (1, n)
    assert unit.changed == {a for a, _ in changed}  # still only the changed lines are marked
    # Two of five functions: their regions are sent, not the file.
    units = engine().units_for(FileChange("m.py", text, changed[:2]))
    assert len(units) == 2 and sum(len(u.lines) for u in units) < n / 2


def diff_and_whole(seed: int) -> tuple[list[FileChange], list[FileChange]]:
    """Random files, each as a change of random regions and as a whole file."""
    rng = random.Random(seed)
    files = {f"m{i}.py": module(rng.randint(1, 40), body=rng.randint(1, 12), tag=f"h{i}") for i in range(rng.randint(1, 4))}
    diff, whole = [], []
    for path, text in files.items():
        n = len(text.split("\n")) - 1
        picks = sorted(rng.sample(range(1, n + 1), rng.randint(1, min(n, 25))))
        diff.append(FileChange(path, text, [(p, min(n, p + rng.randint(0, 3))) for p in picks]))
        whole.append(FileChange(path, text, None))
    return diff, whole


@pytest.mark.parametrize("seed", range(6))
def test_diff_scoped_packing_never_larger_than_whole_file_packing(seed: int) -> None:
    """The packing stage alone (no model): the diff-scoped requests are no larger, and no more."""
    eng = engine()

    def packed(changes: list[FileChange]) -> tuple[int, int]:
        units = [u for c in changes for u in eng.units_for(c)]
        requests = pack(units, eng.unit_token_budget(), estimate_tokens)
        tokens = sum(estimate_tokens(m["content"]) for r in requests for m in request_messages(r))
        return tokens, len(requests)

    (d_tokens, d_requests), (w_tokens, w_requests) = (packed(c) for c in diff_and_whole(seed))
    assert 0 < d_tokens <= w_tokens and d_requests <= w_requests


@pytest.mark.parametrize("seed", range(1))  # end to end once; every seed is checked on the packing alone above
def test_diff_scoped_prompt_never_larger_than_whole_file_prompt(fake_ollama: FakeOllama, seed: int) -> None:
    diff, whole = diff_and_whole(seed)
    d = engine(fake_ollama).review(diff)
    w = engine(fake_ollama).review(whole)
    assert not d.notes and not w.notes
    assert 0 < d.prompt_tokens_estimated <= w.prompt_tokens_estimated
    assert d.requests <= w.requests


def test_findings_of_a_packed_request_go_to_the_right_file_and_are_cached_per_unit(tmp_path: Path) -> None:
    a_text = module(1, tag="alpha")
    b_text = "def beta(x):\n    if x == None:\n        return 0\n    return x\n"
    finding = {
        "line": 2, "end_line": 2, "severity": "warning", "category": "bug", "title": "Compare with is None",
        "explanation": "== None calls __eq__.", "existing_code": "    if x == None:",
        "suggested_code": "    if x is None:", "confidence": 0.9,
    }
    prompts: list[str] = []

    def answer(body: dict) -> Reply:
        prompts.append(last_user_text(body))
        return Reply(text=json.dumps({"findings": [finding]}))

    changes = [FileChange("a.py", a_text, [(2, 8)]), FileChange("b.py", b_text, [(2, 2)])]
    with FakeOllama(responder=answer) as server:
        eng = engine(server, cache=True, cache_dir=str(tmp_path / "cache"))
        first = eng.review(changes)
        second = engine(server, cache=True, cache_dir=str(tmp_path / "cache")).review(changes)
    assert len(prompts) == 1 and "File: a.py" in prompts[0] and "File: b.py" in prompts[0]
    assert first.requests == 1
    for result in (first, second):
        (f,) = result.findings
        assert (f.path, f.line) == ("b.py", 2)
        assert f.fix is not None and f.fix.replacement == "    if x is None:"
    assert second.cached_units == second.units == first.units and second.requests == 0


def test_statement_aware_window_takes_a_parenthesised_import_whole() -> None:
    lines = ["import os", ""] + [f"X{i} = {i}" for i in range(12)] + [
        "from collections import (",
        "    OrderedDict,",
        "    defaultdict,",
        "    deque,",
        "    namedtuple,",
        "    ChainMap,",
        "    Counter,",
        ")",
        "",
        "def f():",
        "    a = 1",
        "    b = 2",
        "    c = 3",
        "    d = 4",
        "    return a + b + c + d",
    ]
    text = "\n".join(lines) + "\n"
    start = lines.index("from collections import (") + 1
    changed = start + 1  # "    OrderedDict,": a plain +-6 window would end inside the import
    (unit,) = engine().units_for(FileChange("m.py", text, [(changed, changed)]))
    # Starts on a statement (X7 = 7: six lines up), takes the import whole, ends on its ")".
    assert (unit.start, unit.lines[0]) == (changed - 6, "X7 = 7")
    assert unit.lines[-1] == ")" and unit.end == start + 7
    # A neighbouring definition the +-6 window would cut is left out, not half-sent.
    later = start + 7  # ")"; +6 reaches into f
    (unit,) = engine().units_for(FileChange("m.py", text, [(later, later)]))
    assert "def f():" not in unit.lines and unit.lines[-1] in (")", "")


@pytest.mark.parametrize("seed", range(20))
def test_buffer_intake_marks_the_same_lines_as_difflib(seed: int) -> None:
    """The near-linear line diff agrees with difflib on small texts with repeated lines."""
    import difflib

    from gemma_review.intake import from_buffer

    rng = random.Random(seed)
    pool = ["    return total", "", "    total = 0", "}", "def f():", "x = 1"] + [f"line {k}" for k in range(40)]
    old = [rng.choice(pool) for _ in range(rng.randint(0, 60))]
    new = list(old)
    for _ in range(rng.randint(0, 6)):
        k = rng.randint(0, len(new))
        op = rng.choice("ird")
        if op == "i":
            new[k:k] = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
        elif op == "r" and k < len(new):
            new[k] = rng.choice(pool) + " # edited"
        elif new and k < len(new):
            del new[k : k + rng.randint(1, 3)]
    got = from_buffer("a.py", "\n".join(new) + "\n", "\n".join(old) + "\n").changed_lines() or set()
    want: set[int] = set()  # what the difflib-only intake marked
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            want.update(range(j1 + 1, j2 + 1))
        elif tag == "delete" and new:
            want.add(min(j1 + 1, len(new)))
    assert len(got) <= len(want) + 1  # ties among repeated lines may place an edit one line apart
    assert all(new[n - 1] in old for n in range(1, len(new) + 1) if n not in got)


def test_buffer_intake_and_remap_on_big_texts_use_unique_lines() -> None:
    """Above difflib's size the diff anchors on unique lines: scattered edits stay precise."""
    from gemma_review.intake import from_buffer
    from gemma_review.linediff import matched_lines

    old = [f"    value_{k} = compute({k % 7})" if k % 3 else "    return total" for k in range(3000)]
    new = list(old)
    edits = range(10, 3000, 97)
    for k in edits:
        new[k] = new[k] + "  # edited"
    got = from_buffer("a.py", "\n".join(new) + "\n", "\n".join(old) + "\n").changed_lines()
    assert got == {k + 1 for k in edits}
    pairs = dict(matched_lines(old, new))
    assert len(pairs) == 3000 - len(edits) and all(pairs[k] == k for k in pairs)


def test_hook_budget_reviews_the_small_edit_before_a_big_table() -> None:
    import time as _time

    from gemma_review.hooks.budget import review_within

    bad = "    if x == None:"
    small = FileChange("z_edit.py", f"def beta(x):\n{bad}\n        return 0\n    return x\n", [(2, 2)])
    table = "TABLE = [\n" + "".join(f"    ({k}, 'row {k}', {k * 0.5}),\n" for k in range(6000)) + "]\n"
    big = FileChange("a_table.py", table, None)

    def answer(body: dict) -> Reply:
        hit = bad in last_user_text(body)
        found = [{"line": 2, "end_line": 2, "severity": "warning", "category": "bug", "title": "Compare with is None",
                  "explanation": "x", "existing_code": bad, "suggested_code": "    if x is None:", "confidence": 0.9}]
        return Reply(text=json.dumps({"findings": found if hit else []}), first_token_delay=0.5)

    with FakeOllama(responder=answer) as server:
        eng = engine(server, max_file_bytes=0)
        outcome = review_within(eng, [big, small], _time.monotonic() + 3.0)
        eng.close()
    assert outcome.timed_out, outcome
    assert [f.path for f in outcome.result.findings] == ["z_edit.py"]
    assert dict(outcome.unreviewed).get("a_table.py", 0) > 0 and "z_edit.py" not in dict(outcome.unreviewed)
