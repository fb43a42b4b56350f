"""Verdicts counted on this machine (shown, fixed, dismissed, ignored), `gemma-review stats`,
and what `learn = true` adapts: a learned min_confidence within its bounds, the team's
dismissals in the prompt after the fixed prefix and in the cache key; learn off changes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from gemma_review import decisions as dec
from gemma_review import verdicts as vd
from gemma_review.cache import ReviewCache
from gemma_review.config import Settings
from gemma_review.engine import ReviewEngine
from gemma_review.packing import Request, request_messages
from gemma_review.prompt import SYSTEM_PROMPT, review_messages
from gemma_review.tokens import estimate_tokens
from gemma_review.units import Unit
from tests.fake_ollama import FakeOllama, Reply, last_user_text
from tests.helpers import STREAK, finding_json, reply, run, streak_repo



@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = streak_repo(tmp_path / "repo", "Ann Reviewer", "ann@example.invalid")
    monkeypatch.chdir(root)
    return root


def settings() -> Settings:
    return Settings(cache_dir=os.environ["GEMMA_REVIEW_CACHE_DIR"])


def counts(root: Path) -> dict[str, tuple[int, int, int, int]]:
    return {c: (r.shown, r.fixed, r.dismissed, r.ignored) for c, r in vd.rates(settings(), root).items()}


def learn_on() -> None:
    Path(os.environ["GEMMA_REVIEW_CONFIG"]).write_text("learn = true\n", encoding="utf-8")


def answer(fake: FakeOllama, *findings: dict) -> None:
    fake.set_reply(lambda body: Reply(text=reply(*findings)))


# --- the table --------------------------------------------------------------------------


def test_an_existing_cache_gains_the_table_and_keeps_its_reviews(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "reviews.sqlite3")
    conn.execute("CREATE TABLE reviews (key TEXT PRIMARY KEY, version INTEGER, created REAL, findings TEXT, truncated INTEGER)")
    conn.execute("INSERT INTO reviews VALUES ('k', 1, 0, '[]', 0)")
    conn.commit()
    conn.close()
    cache = ReviewCache(folder)
    assert cache.count_verdicts("/r", "shown", [("bug", "error", "fp1"), ("bug", "error", "fp2")], "2026-12-05") == 2
    assert cache.count_verdicts("/r", "shown", [("bug", "error", "fp1")], "2026-12-05") == 0  # same day: once
    assert cache.count_verdicts("/r", "shown", [("bug", "error", "fp1")], "2026-12-06") == 1
    assert cache.count_verdicts("/r", "fixed", [("bug", "error", "fp1")]) == 1
    assert cache.count_verdicts("/r", "bogus", [("bug", "error", "fp1")]) == 0
    assert cache.verdict_counts("/r") == [("bug", "error", 3, 1, 0, 0)]
    assert cache.get("k", 1) == ([], False)


# --- each verdict path, through the CLI ------------------------------------------------------


def test_shown_once_a_day_fixed_by_fix_and_dismissed(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json())
    for _ in range(2):  # a re-review of the same code is not a new showing
        code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache", "--format", "json")
        assert code == 1, err
    fp = json.loads(out)["findings"][0]["fingerprint"]
    assert counts(repo) == {"bug": (1, 0, 0, 0)}

    code, _, err = run(capsys, None, "dismiss", fp, "--reason", "dates are unique upstream")
    assert code == 0, err
    assert counts(repo) == {"bug": (1, 0, 1, 0)}

    (repo / ".gemma-review" / "decisions.jsonl").unlink()
    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache", "--fix")
    assert "fixed 1 finding in streak.py" in err
    assert counts(repo) == {"bug": (1, 1, 1, 0)}


def test_a_finding_an_ignore_comment_hides_counts_as_ignored(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    lines = STREAK.split("\n")
    at = finding_json()["line"] - 1
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at, f"{indent}# gemma-review: ignore[bug]")
    (repo / "streak.py").write_text("\n".join(lines), encoding="utf-8")
    answer(fake_ollama, finding_json(line=at + 2, end_line=finding_json()["end_line"] + 1))
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache")
    assert code == 0 and "silenced by a gemma-review: ignore comment" in err
    assert counts(repo) == {"bug": (0, 0, 0, 1)}


def test_stats_prints_the_rates_and_what_learning_would_adapt(repo: Path, capsys) -> None:
    s = settings()
    vd.record(s, repo, "shown", [("style", "info", f"s{i}") for i in range(20)])
    vd.record(s, repo, "dismissed", [("style", "info", f"s{i}") for i in range(12)])
    vd.record(s, repo, "ignored", [("style", "info", f"s{i}") for i in range(3)])
    vd.record(s, repo, "shown", [("bug", "error", f"b{i}") for i in range(4)])
    vd.record(s, repo, "fixed", [("bug", "error", "b0")])
    code, out, _ = run(capsys, None, "stats")
    assert code == 0
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[2:4]}
    assert rows["bug"][:5] == ["bug", "4", "25%", "0%", "0%"] and "nothing yet (4 of 20 shown)" in out
    # 75 % dismissed or ignored: one started 20 points over 50 % -> +0.1, twice.
    assert rows["style"][:5] == ["style", "20", "0%", "60%", "15%"] and "min_confidence 0.5 -> 0.7" in out
    assert out.splitlines()[1].startswith("category") and "learn: off" in out


# --- the learned threshold ---------------------------------------------------------------------


@pytest.mark.parametrize("shown, rejected, base, expected", [
    (19, 19, 0.5, None),  # too few shown
    (20, 10, 0.5, None),  # exactly 50 %: not mostly dismissed
    (20, 11, 0.5, 0.6),  # 55 %: one started step
    (20, 14, 0.5, 0.6),  # 70 %: still one
    (20, 15, 0.5, 0.7),  # 75 %: two
    (20, 20, 0.5, 0.8),  # 100 %: three
    (20, 30, 0.5, 0.8),  # more verdicts than showings count as 100 %
    (20, 20, 0.7, 0.9),  # capped at 0.9
    (20, 20, 0.9, None),  # never past the cap, never lower than configured
])
def test_the_learned_threshold_stays_within_its_bounds(shown: int, rejected: int, base: float, expected) -> None:
    assert vd.learned_threshold(base, vd.Rates("style", shown=shown, dismissed=rejected)) == expected


def test_learn_on_hides_below_the_learned_threshold_and_explain_says_why(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    vd.record(settings(), repo, "shown", [("bug", "error", f"b{i}") for i in range(20)])
    vd.record(settings(), repo, "dismissed", [("bug", "error", f"b{i}") for i in range(16)])  # 80 % -> 0.5 + 0.2
    answer(fake_ollama, finding_json(confidence=0.65))
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache", "--explain")
    assert code == 1 and "learned" not in err  # learn off: shown as before
    learn_on()
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache", "--explain")
    assert code == 0, out
    # The first review's showing counted too: 16 of 21 dismissed (76 %) -> two started steps.
    assert "learned: bug needs confidence 0.7 (min_confidence 0.5): 76% of 21 shown" in err
    assert "below confidence (confidence below min_confidence): learned" in err
    assert "below the min_confidence learned for their category hidden (learn = true)" in err
    answer(fake_ollama, finding_json(confidence=0.75))  # above the learned bound: shown
    assert run(capsys, fake_ollama, "review", "streak.py", "--no-cache")[0] == 1
    code, out, _ = run(capsys, None, "doctor", "--backend", "ollama", "--host", fake_ollama.url)
    assert "learning" in out and "on: bug needs confidence 0.7" in out


# --- the examples in the prompt --------------------------------------------------------------


def records(n: int, path: str = "streak.py") -> list[dec.Decision]:
    return [dec.Decision(f"{i:016x}", path if i % 2 == 0 else "other.py", "bug", f"Dismissed problem number {i} " * 3,
                         f"x = {i}  # " + "y" * 200, "dismissed", "not a problem: " + "z" * 80, "Ann", f"2026-12-{i % 28 + 1:02d}")
            for i in range(n)]


def test_examples_are_relevant_within_the_budget_and_after_the_fixed_prefix() -> None:
    store = dec.Decisions(records(12) + [dec.Decision("f" * 16, "streak.py", "bug", "Baselined", "", "baseline")]
                          + [dec.Decision("e" * 16, "main.go", "bug", "Other language", "x", "dismissed")])
    block = vd.examples_block(store, "streak.py", ["bug"])
    lines = block.splitlines()
    assert lines[0] == vd.EXAMPLE_HEADER and 1 < len(lines) <= 1 + vd.MAX_EXAMPLES
    assert estimate_tokens(block) <= vd.EXAMPLE_BUDGET
    assert all("streak.py" in ln for ln in lines[1:])  # the same file first, newest first
    assert "Baselined" not in block and "main.go" not in block
    assert vd.examples_block(store, "a.rb", ["bug"]) == ""  # no dismissal in that language
    assert vd.examples_block(store, "streak.py", ["style"]) == ""  # nor of a wanted category

    unit = Unit("streak.py", "python", 1, 2, ("a = 1", "b = 2"), frozenset({2}))
    plain = review_messages(unit, "Team rules.")
    learned = review_messages(unit, "Team rules.", block)
    assert plain[0] == learned[0] == {"role": "system", "content": SYSTEM_PROMPT}
    # The user message: the guidelines, then the examples, then the code; the prefix is byte-identical.
    head = "Project review guidelines (follow them):\nTeam rules.\n\n"
    assert plain[1]["content"].startswith(head) and learned[1]["content"].startswith(head + block)
    assert learned[1]["content"].replace(block + "\n", "", 1) == plain[1]["content"]
    assert request_messages(Request([unit]), "Team rules.", None, block) == learned


def test_learn_off_changes_nothing_and_examples_change_the_key(repo: Path) -> None:
    s = settings()
    engine = ReviewEngine(s, root=repo, backend=object())  # type: ignore[arg-type]
    unit = Unit("streak.py", "python", 1, 2, ("a = 1", "b = 2"), frozenset({2}))
    assert engine.cache_key(unit) == engine.cache_key(unit, "")
    assert engine.cache_key(unit, "x") != engine.cache_key(unit, "y") != engine.cache_key(unit)
    learning = vd.learning(s, repo, dec.Decisions(records(4)))
    assert not learning.on and learning.examples("streak.py") == "" and learning.min_confidence() == {}
    from dataclasses import replace

    on = ReviewEngine(replace(s, learn=True), root=repo, backend=object())  # type: ignore[arg-type]
    assert engine.unit_token_budget() - on.unit_token_budget() == vd.EXAMPLE_BUDGET
    assert vd.learning(replace(s, learn=True), repo, dec.Decisions(records(4))).examples("streak.py")


def test_learn_on_sends_the_dismissals_and_a_new_one_is_a_new_review(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    dec.write(repo, records(2))
    answer(fake_ollama)
    run(capsys, fake_ollama, "review", "streak.py")
    assert vd.EXAMPLE_HEADER not in last_user_text(fake_ollama.requests[-1])
    learn_on()
    run(capsys, fake_ollama, "review", "streak.py")
    assert len(fake_ollama.requests) == 2  # the examples are in the key: not the cached review
    assert vd.EXAMPLE_HEADER in last_user_text(fake_ollama.requests[-1])
    plain, learned = (r["messages"] for r in fake_ollama.requests)
    assert plain[0] == learned[0]  # the instructions and schema: byte-identical
    before, block, after = learned[1]["content"].partition(vd.EXAMPLE_HEADER)
    assert plain[1]["content"] == before + after[after.index("File: "):]  # the block sits before the code
    run(capsys, fake_ollama, "review", "streak.py")
    assert len(fake_ollama.requests) == 2  # same examples: cached
    dec.write(repo, records(4))
    run(capsys, fake_ollama, "review", "streak.py")
    assert len(fake_ollama.requests) == 3  # new examples: reviewed again


def test_a_repository_cannot_turn_learning_on(repo: Path, capsys) -> None:
    from gemma_review.config import load_settings

    (repo / ".gemma-review.toml").write_text("learn = true\n", encoding="utf-8")
    assert load_settings(repo).settings.learn is False
    assert "learn: off" in run(capsys, None, "stats")[1]
    learn_on()  # the developer's own config
    assert load_settings(repo).settings.learn is True
    assert "learn: on" in run(capsys, None, "stats")[1]


def test_baseline_counts_nothing(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json())
    code, _, err = run(capsys, None, "baseline", "--no-cache", "--backend", "ollama", "--host", fake_ollama.url)
    assert code == 0, err
    assert counts(repo) == {}
