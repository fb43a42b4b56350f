"""Decisions end to end: the real CLI (in process) in a real git repository, against the fake
Ollama server scripted with the replies a model gives; the hook in a scratch repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gemma_review import decisions as dec
from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import STREAK, finding_json, git, reply, run, streak_repo
from tests.scratch_repo import make_scratch, must

NEW_BUG = "\n\ndef average(values: list[float]) -> float:\n    return sum(values) / len(values)\n"
NEW = {
    "line": 27, "end_line": 27, "severity": "error", "category": "bug", "title": "Guard against an empty list",
    "explanation": "len(values) may be 0.", "existing_code": "    return sum(values) / len(values)",
    "suggested_code": "", "confidence": 0.9,
}
SAME_FUNCTION = {
    "line": 19, "end_line": 19, "severity": "error", "category": "bug",
    "title": "Update the longest streak only when the run ends", "explanation": "...",
    "existing_code": "        longest = max(longest, streak)", "suggested_code": "", "confidence": 0.9,
}
MODEL = ["--backend", "ollama"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = streak_repo(tmp_path / "repo", "Ann Reviewer", "ann@example.invalid")
    git(root, "add", "streak.py")
    git(root, "commit", "-q", "-m", "streak")
    monkeypatch.chdir(root)
    return root


def answer(fake: FakeOllama, *findings: dict[str, Any]) -> None:
    """The model answers every request with ``findings`` (those whose code is absent do not anchor)."""
    fake.set_reply(lambda body: Reply(text=reply(*findings)))


def review_json(capsys: pytest.CaptureFixture[str], fake: FakeOllama, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, fake, "review", "streak.py", "--no-cache", "--format", "json", *args)
    return code, json.loads(out), err


def test_baseline_then_only_the_new_bug_and_look_alikes_stay_dismissed(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json())
    code, out, err = run(capsys, None, "baseline", "--no-cache", *MODEL, "--host", fake_ollama.url)
    assert code == 0, err
    assert "recorded 1 finding as baseline in .gemma-review/decisions.jsonl" in out
    (rec,) = dec.load(repo).records
    assert rec.verdict == "baseline" and rec.path == "streak.py" and rec.category == "bug"
    assert rec.who == "Ann Reviewer <ann@example.invalid>" and len(rec.when) == 10
    assert "?? .gemma-review/" in git(repo, "status", "--porcelain")

    # A new bug: only it is reported, and the baselined one is counted as dropped.
    (repo / "streak.py").write_text(STREAK + NEW_BUG, encoding="utf-8")
    answer(fake_ollama, finding_json(title="Duplicate dates reset the streak"), NEW)
    code, doc, err = review_json(capsys, fake_ollama)
    assert code == 1
    assert [f["title"] for f in doc["findings"]] == ["Guard against an empty list"]
    assert doc["dropped"].get("dismissed") == 1

    # The code moves down (and the model rewords the title): still dismissed.
    (repo / "streak.py").write_text(STREAK.replace("def calculate_streak", "X = 1\n\n\ndef calculate_streak") + NEW_BUG)
    answer(fake_ollama, finding_json(line=16, end_line=17, title="Remove duplicate dates before computing the streak"))
    code, doc, _ = review_json(capsys, fake_ollama)
    assert code == 0 and doc["findings"] == [] and doc["dropped"] == {"dismissed": 1}

    # A different problem in the same function is shown.
    answer(fake_ollama, finding_json(title="Streak counting breaks on duplicate dates"), SAME_FUNCTION)
    code, doc, _ = review_json(capsys, fake_ollama)
    assert [f["title"] for f in doc["findings"]] == [SAME_FUNCTION["title"]]

    # --explain names the decision; SARIF keeps it as a suppressed result.
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache", "--explain", "--format", "sarif")
    assert "dismissed (the team decided about it (.gemma-review/decisions.jsonl)): baseline (Ann Reviewer" in err
    results = json.loads(out)["runs"][0]["results"]
    assert [r.get("suppressions") for r in results] == [None, [{"kind": "external", "justification": "baseline"}]]


def test_dismiss_by_fingerprint_from_the_text_report(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json())
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 1
    fp = next(ln.split()[1] for ln in out.splitlines() if ln.startswith("  fingerprint "))
    code, out, err = run(capsys, None, "dismiss", fp, "--reason", "dates are unique upstream", "--verdict", "accepted-risk")
    assert code == 0, err
    assert "accepted-risk 1 finding in .gemma-review/decisions.jsonl" in out
    (rec,) = dec.load(repo).records
    assert rec.fingerprint == fp and rec.reason == "dates are unique upstream" and rec.title == finding_json()["title"]
    assert "for event in sorted(events" in rec.code
    code, out, err = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 0 and "No findings" in out
    assert "1 finding the team decided about" in err
    # Unknown fingerprints are refused, and nothing is written.
    before = dec.store_path(repo).read_bytes()
    code, _, err = run(capsys, None, "dismiss", "0123456789abcdef")
    assert code == 2 and "no finding with fingerprint 0123456789abcdef" in err
    assert dec.store_path(repo).read_bytes() == before


def test_a_security_finding_needs_a_reason(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json(category="security", title="Untrusted dates"))
    code, doc, _ = review_json(capsys, fake_ollama)
    (f,) = doc["findings"]
    code, _, err = run(capsys, None, "dismiss", f["fingerprint"])
    assert code == 2 and "security finding: dismissing it needs --reason" in err
    assert not dec.store_path(repo).exists()
    assert run(capsys, None, "dismiss", f["fingerprint"], "--reason", "dates come from our own DB")[0] == 0


def test_a_bad_decisions_file_gives_one_warning_and_is_left_alone(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    store = dec.store_path(repo)
    store.parent.mkdir()
    store.write_bytes(b"\x1b]0;owned\x07 not json\n")
    answer(fake_ollama, finding_json())
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache")
    assert code == 1 and "Deduplicate dates" in out
    warned = [ln for ln in err.splitlines() if "decisions.jsonl" in ln]
    assert len(warned) == 1 and "ignoring .gemma-review/decisions.jsonl: " in warned[0] and "\x1b" not in err
    code, doc, _ = review_json(capsys, fake_ollama)
    code, _, err = run(capsys, None, "dismiss", doc["findings"][0]["fingerprint"], "--reason", "x")
    assert code == 2 and "fix or remove it" in err
    assert store.read_bytes() == b"\x1b]0;owned\x07 not json\n"


def test_prune_removes_records_whose_code_is_gone_and_a_review_notes_them(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    answer(fake_ollama, finding_json(), SAME_FUNCTION)
    assert run(capsys, None, "baseline", "--no-cache", *MODEL, "--host", fake_ollama.url)[0] == 0
    assert len(dec.load(repo).records) == 2
    fixed = STREAK.replace("        longest = max(longest, streak)\n", "        longest = streak if streak > longest else longest\n")
    (repo / "streak.py").write_text(fixed, encoding="utf-8")
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--no-cache")
    assert "1 decision in .gemma-review/decisions.jsonl names code no longer in its file" in err
    assert run(capsys, None, "decisions", "prune", "--dry-run")[1].startswith("would remove 1 stale decision")
    assert len(dec.load(repo).records) == 2
    code, out, _ = run(capsys, None, "decisions", "prune")
    assert code == 0 and "removed 1 stale decision; 1 kept" in out
    assert [r.title for r in dec.load(repo).records] == [finding_json()["title"]]


def test_the_hook_and_the_cli_agree(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    """A plain scratch repository; the fake server answers as the labelled oracle (streak.py's bug)."""
    home = tmp_path / "home"
    home.mkdir()
    s = make_scratch(tmp_path / "work", home, fake_ollama, None)
    s.use_plain_hook()
    s.write("streak.py", STREAK)
    must(s.git("add", "streak.py"))
    proc = s.cli("review", "--staged", "--format", "json")
    assert proc.returncode == 1, proc.stdout
    fp = json.loads(proc.stdout[proc.stdout.index("{"):])["findings"][0]["fingerprint"]
    proc = s.commit()
    assert proc.returncode == 1 and "Deduplicate dates" in proc.stdout
    must(s.cli("dismiss", fp, "--reason", "known; tracked in #12"))
    assert ".gemma-review/" in s.git("status", "--porcelain").stdout
    assert s.cli("review", "--staged").returncode == 0
    proc = s.commit()
    assert proc.returncode == 0, proc.stdout
    assert "Deduplicate dates" not in proc.stdout


def test_baseline_from_a_subfolder_records_repository_paths(repo: Path, fake_ollama: FakeOllama, capsys, monkeypatch) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "streak.py").write_text(STREAK, encoding="utf-8")
    monkeypatch.chdir(repo / "pkg")
    answer(fake_ollama, finding_json())
    code, out, err = run(capsys, None, "baseline", "--no-cache", *MODEL, "--host", fake_ollama.url)
    assert code == 0, err
    assert [r.path for r in dec.load(repo).records] == ["pkg/streak.py"]
    assert not (repo / "pkg" / ".gemma-review").exists()
