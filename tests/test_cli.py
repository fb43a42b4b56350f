"""End to end: the real CLI (in process), the real ``ollama`` client, a fake Ollama server."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gemma_review.cli import main
from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import FIXED_LINE, SAMPLES, finding_json, free_port, git, reply, run
from tests.helpers import STREAK_LABEL as STREAK


def streak_of(source: str, dates: list[str]) -> int:
    ns: dict = {}
    exec(compile(source, "streak.py", "exec"), ns)
    return ns["calculate_streak"]([{"date": date.fromisoformat(d)} for d in dates])


def test_streak_finding_and_fix(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    code, out, err = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 1, err
    assert "streak.py:13:5: error [bug] Deduplicate dates before counting the streak" in out
    assert "for current in sorted({event[\"date\"] for event in events}):" in out  # fix diff
    assert "Found 1 finding (1 error) in 1 file" in out

    request = fake_ollama.requests[-1]
    assert request["format"]["properties"]["findings"]["type"] == "array"
    assert request["think"] is False
    opts = request["options"]
    assert opts["temperature"] == 0 and opts["seed"] == 42
    assert opts["num_ctx"] == 8192 and opts["num_predict"] == 1024
    assert request["keep_alive"] == "10m"

    before = (work / "streak.py").read_text()
    cases = STREAK["behaviour"]["cases"]
    assert any(streak_of(before, c["dates"]) != c["expected"] for c in cases)

    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--fix")
    assert code == 0, (out, err)
    assert "fixed 1 finding in streak.py" in err
    after = (work / "streak.py").read_text()
    for case in cases:
        assert streak_of(after, case["dates"]) == case["expected"], case


def test_show_fixes_touches_nothing(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    before = (work / "streak.py").read_bytes()
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--show-fixes")
    assert code == 1
    assert "--- a/streak.py" in out and "+++ b/streak.py" in out
    assert '+    for current in sorted({event["date"] for event in events}):' in out
    assert (work / "streak.py").read_bytes() == before


def test_second_run_is_served_from_cache(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    run(capsys, fake_ollama, "review", "streak.py")
    asked = len(fake_ollama.requests)
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 1 and "1 unit reviewed, 1 cached" in out
    assert len(fake_ollama.requests) == asked
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--no-cache")
    assert len(fake_ollama.requests) == asked + 1


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_formats(work: Path, fake_ollama: FakeOllama, capsys, fmt: str) -> None:
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", fmt)
    assert code == 1
    if fmt == "json":
        doc = json.loads(out)
        (f,) = doc["findings"]
        assert f["path"] == "streak.py" and f["range"]["start"] == {"line": 13, "column": 5}
        assert f["category"] == "bug" and len(f["fingerprint"]) == 16
        assert f["fix"]["edits"][0]["content"].strip().startswith("for current in sorted(")
        assert doc["summary"]["error"] == 1 and doc["metrics"]["output_tokens"] > 0
    elif fmt == "sarif":
        doc = json.loads(out)
        assert doc["version"] == "2.1.0"
        (res,) = doc["runs"][0]["results"]
        assert res["ruleId"] == "gemma-review/bug" and res["level"] == "error"
        assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 13
    else:
        assert out.startswith("::error file=streak.py,line=13,endLine=14,col=5,title=gemma-review [bug] ")


def test_json_to_output_file(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "json", "-o", "report.json")
    assert code == 1 and out == ""
    assert json.loads((work / "report.json").read_text())["findings"]


def test_model_down(work: Path, capsys) -> None:
    code = main(["review", "streak.py", "--backend", "ollama", "--host", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "ollama serve" in err and "Traceback" not in err


def test_model_not_pulled(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--model", "gemma4:nope")
    assert code == 3
    assert err.strip() == "gemma-review: error: model 'gemma4:nope' is not pulled; run `ollama pull gemma4:nope`"


def test_server_error_is_one_line(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(Reply(status=500, error="out of memory"))
    code, _, err = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 3 and "out of memory" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "text, expect_findings, note",
    [
        pytest.param("```json\n" + reply(finding_json()) + "\n```", 1, None, id="fenced"),
        pytest.param(reply(finding_json()) + "\nHope this helps! {not json}", 1, None, id="trailing-text"),
        pytest.param(reply(finding_json(line=16, end_line=17)), 1, None, id="lines-off-by-three"),
        pytest.param(reply(finding_json(existing_code="    for x in range(10):")), 0, None, id="code-not-in-file"),
        pytest.param(reply(finding_json(line=500, end_line=501, existing_code="")), 0, None, id="outside-unit"),
        pytest.param(reply(finding_json(), finding_json(title="Dates are not deduplicated")), 1, None, id="duplicate"),
        pytest.param("", 0, "empty reply", id="empty"),
        pytest.param("I think the code is fine.", 0, "not the expected JSON", id="prose"),
        pytest.param(reply(finding_json(existing_code="  13 |     for event in sorted(events, key=lambda e: e[\"date\"]):\n  14 |         current = event[\"date\"]")), 1, None, id="numbers-copied"),
        pytest.param(reply(finding_json(confidence=0.2)), 0, None, id="low-confidence"),
        pytest.param(reply(finding_json(severity="critical", category="correctness")), 1, None, id="aliases"),
    ],
)
def test_model_misbehaviour(work: Path, fake_ollama: FakeOllama, capsys, text: str, expect_findings: int, note: str | None) -> None:
    fake_ollama.set_reply(Reply(text=text, chunk_chars=7))
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    doc = json.loads(out)
    assert len(doc["findings"]) == expect_findings, doc
    if expect_findings:
        assert doc["findings"][0]["range"]["start"]["line"] == 13
    if note:
        assert any(note in n for n in doc["notes"]), doc["notes"]
    assert code == (1 if expect_findings else 0)
    assert "Traceback" not in err


def test_cut_off_reply_keeps_complete_findings(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    second = finding_json(line=15, end_line=15, title="Compare dates directly",
                          existing_code="        if prev_date is not None and current - prev_date == timedelta(days=1):")
    full = reply(finding_json(), second)
    fake_ollama.set_reply(Reply(text=full[: len(full) - 40], done_reason="length"))
    code, out, err = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    doc = json.loads(out)
    assert [f["range"]["start"]["line"] for f in doc["findings"]] == [13]
    assert any("cut off" in n for n in doc["notes"])
    assert doc["metrics"]["truncated"] is True


def test_repetition_loop_stops_reading(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    looping = '{"findings": [' + reply(finding_json())[14:-2] + ', {"title": "' + "la " * 5000
    fake_ollama.set_reply(Reply(text=looping, chunk_chars=3, tokens_per_second=4000))
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    doc = json.loads(out)
    assert len(doc["findings"]) == 1
    assert any("repeated itself" in n for n in doc["notes"])
    # We closed the stream early: the server saw the client go away.
    assert fake_ollama.wait(lambda s: s.cancelled >= 1, timeout=5)


@pytest.fixture
def repo(work: Path) -> Path:
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "t")
    # The committed version has no bug in the loop: the labelled lines come in a change.
    fixed = (work / "streak.py").read_text().replace(
        '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]\n', FIXED_LINE + "\n")
    (work / "streak.py").write_text(fixed)
    (work / "other.py").write_text("def helper(x):\n    return x * 2\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "init")
    shutil.copy(SAMPLES / "streak.py", work / "streak.py")
    return work


def test_diff_file_and_stdin(repo: Path, fake_ollama: FakeOllama, capsys, monkeypatch) -> None:
    diff = git(repo, "diff")
    (repo / "changes.patch").write_text(diff)
    code, out, _ = run(capsys, fake_ollama, "review", "--diff", "changes.patch")
    assert code == 1 and "streak.py:13:5" in out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(diff.encode())))
    code, out, _ = run(capsys, fake_ollama, "review", "--diff", "-")
    assert code == 1 and "streak.py:13:5" in out
    # The model saw the changed region inside its function, changed lines marked.
    prompt = fake_ollama.requests[0]["messages"][-1]["content"]
    assert ">   13 |     for event in sorted" in prompt and "def calculate_streak" in prompt
    assert "def helper" not in prompt


def test_findings_outside_changed_lines_are_dropped(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    # Change only the docstring line; the model still reports the (unchanged) loop.
    git(repo, "checkout", "streak.py")
    text = (repo / "streak.py").read_text().replace("at least one event", "one event or more")
    (repo / "streak.py").write_text(text)
    loop_now = finding_json(existing_code=FIXED_LINE, line=13, end_line=13)
    fake_ollama.set_reply(reply(loop_now))
    code, out, _ = run(capsys, fake_ollama, "review", "--base", "main")
    assert code == 0 and "No findings" in out
    assert len(fake_ollama.requests) == 1
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")  # whole file: reported
    assert code == 1


def test_staged_reads_the_index(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    git(repo, "add", "streak.py")
    # Unstaged edit that undoes the bug: --staged must still see the staged (buggy) text.
    (repo / "streak.py").write_text(git(repo, "show", "HEAD:streak.py"))
    code, out, _ = run(capsys, fake_ollama, "review", "--staged")
    assert code == 1 and "streak.py:13:5" in out


def test_base_with_head_reviews_commits(repo: Path, fake_ollama: FakeOllama, capsys) -> None:
    git(repo, "checkout", "-qb", "feature")
    git(repo, "commit", "-qam", "bug")
    git(repo, "checkout", "-q", "main")
    code, out, _ = run(capsys, fake_ollama, "review", "--base", "main", "--head", "feature")
    assert code == 1 and "streak.py:13:5" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["review", "missing.py"], "missing.py: no such file"),
        (["review"], "nothing to review"),
        (["review", "--diff", "nope.patch"], "cannot read the diff nope.patch"),
        (["review", "streak.py", "--fail-on", "bad"], "invalid choice"),
        (["review", "streak.py", "--min-confidence", "3"], "--min-confidence must be between 0 and 1, got 3"),
        (["review", "--staged"], "not inside a git repository"),
        (["review", "streak.py", "--head", "x"], "--head needs --base"),
    ],
)
def test_usage_errors(work: Path, capsys, argv: list[str], message: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_remote_host_refused(work: Path, capsys) -> None:
    code = main(["review", "streak.py", "--backend", "ollama", "--host", "http://10.1.2.3:11434"])
    err = capsys.readouterr().err
    assert code == 2 and "refusing to send code to http://10.1.2.3:11434" in err and "allow_remote" in err


def test_project_config_cannot_allow_remote(work: Path, capsys, monkeypatch) -> None:
    """A cloned repository must not be able to send its reader's code elsewhere."""
    (work / ".gemma-review.toml").write_text('host = "http://10.1.2.3:11434"\nallow_remote = true\nbackend = "ollama"\n')
    code = main(["review", "streak.py"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'allow_remote' is ignored in a project's config file" in err
    assert "refusing to send code to http://10.1.2.3:11434" in err
    # The user's own config, the environment or a flag may allow it (checked without
    # sending anything: no traffic to a non-loopback address from tests).
    from gemma_review.config import check_privacy, load_settings

    user = Path(__import__("os").environ["GEMMA_REVIEW_CONFIG"])
    user.write_text("allow_remote = true\n")
    check_privacy(load_settings(work).settings)
    user.unlink()
    monkeypatch.setenv("GEMMA_REVIEW_ALLOW_REMOTE", "1")
    check_privacy(load_settings(work).settings)


def test_config_file_and_precedence(work: Path, fake_ollama: FakeOllama, capsys, monkeypatch) -> None:
    (work / "pyproject.toml").write_text(
        f'[tool.gemma-review]\nmodel = "gemma4:e2b"\nhost = "{fake_ollama.url}"\nbackend = "ollama"\nfail_on = "never"\n'
    )
    assert main(["review", "streak.py"]) == 0  # fail_on from the file
    assert fake_ollama.requests[-1]["model"] == "gemma4:e2b"
    monkeypatch.setenv("GEMMA_REVIEW_MODEL", "gemma4:e4b")
    assert main(["review", "streak.py", "--fail-on", "warning", "--no-cache"]) == 1  # flag beats file
    assert fake_ollama.requests[-1]["model"] == "gemma4:e4b"  # env beats file
    (work / "pyproject.toml").write_text('[tool.gemma-review]\nfail_on = "sometimes"\n')
    assert main(["review", "streak.py"]) == 2
    assert "pyproject.toml: 'fail_on' must be one of" in capsys.readouterr().err


def test_a_newer_config_key_warns_and_the_review_still_runs(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    # A teammate's .gemma-review.toml written for a newer gemma-review.
    (work / ".gemma-review.toml").write_text(f'host = "{fake_ollama.url}"\nmin_confidance = 0.9\nreview_depth = 3\n')
    code, out, err = run(capsys, None, "review", "streak.py")
    assert code == 1 and "Deduplicate dates before counting the streak" in out
    config = work / ".gemma-review.toml"
    assert (f"gemma-review: warning: {config}: unknown setting 'min_confidance' ignored "
            "(did you mean 'min_confidence'?)") in err.splitlines()
    assert f"gemma-review: warning: {config}: unknown setting 'review_depth' ignored" in err.splitlines()


def test_fail_on_levels(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(reply(finding_json(severity="warning")))
    assert run(capsys, fake_ollama, "review", "streak.py")[0] == 0
    assert run(capsys, fake_ollama, "review", "streak.py", "--fail-on", "warning")[0] == 1


def test_inline_suppression(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    text = (work / "streak.py").read_text().replace(
        "    for event in sorted", "    # gemma-review: ignore[bug]\n    for event in sorted")
    (work / "streak.py").write_text(text)
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 0 and "No findings" in out


def test_version_is_fast_path() -> None:
    out = subprocess.run([sys.executable, "-m", "gemma_review", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("gemma-review ")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, gemma_review.cli; print(sorted(m for m in ('ollama','git','tree_sitter','pygls','httpx') if m in sys.modules))"],
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


@pytest.mark.real_model
def test_quick_start_auto_falls_back_to_the_embedded_smoke_model(work: Path, capsys, smoke_gguf: Path) -> None:
    """The README's first command: no Ollama here, so `auto` reviews on the embedded 270M model."""
    pytest.importorskip("xllamacpp")
    code = main(["review", "streak.py", "--host", f"http://127.0.0.1:{free_port()}", "--num-predict", "64"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert err.startswith("gemma-review: using the bundled Gemma 3 270M smoke-test model")
    assert "ollama pull gemma4:e4b" in err
    summary = out.strip().splitlines()[-1] if "fixable" not in out else out.strip().splitlines()[-2]
    assert "1 unit reviewed" in summary and "prompt +" in summary and "tok/s" in summary
