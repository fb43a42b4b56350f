"""CI outputs of a real review (the CLI against the fake Ollama): SARIF through Microsoft's
validator with GitHub's rules, reviewdog's rdjson, GitLab Code Quality, GitHub annotations."""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import FIXED_LINE, finding_json, git, reply, run

SARIF_MULTITOOL = "@microsoft/sarif-multitool@5.7.0"

# Three rules, one finding with a validated fix and two without.
REVIEW_REPLY = reply(
    finding_json(),  # bug, error, with a fix
    finding_json(
        line=10, end_line=10, severity="warning", category="maintainability", title="Name what is counted",
        explanation="`longest` and `streak` read alike; say which run each one counts.",
        existing_code="    longest = 0", suggested_code="", confidence=0.8,
    ),
    finding_json(
        line=14, end_line=14, severity="info", category="style", title="Unpack the date once",
        explanation="The loop reads event[\"date\"] twice.", existing_code='        current = event["date"]',
        suggested_code="", confidence=0.7,
    ),
)


@pytest.fixture
def reviewed(work: Path, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]):
    """Run a review of streak.py in ``fmt``; (exit code, report, stderr)."""
    fake_ollama.set_reply(Reply(text=REVIEW_REPLY))

    def review(fmt: str, *extra: str) -> tuple[int, str, str]:
        return run(capsys, fake_ollama, "review", "streak.py", "--format", fmt, *extra)

    return review


# --- SARIF through Microsoft's validator --------------------------------------------------------


def _tool_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gemma-review-tests" / "sarif-multitool"


@pytest.fixture(scope="session")
def sarif_multitool() -> Path:
    """The validator's native binary, installed with npm once into the user's cache dir."""
    prefix = _tool_dir()
    found = glob.glob(str(prefix / "node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool"))
    if not found:
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install @microsoft/sarif-multitool")
        prefix.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "install", "--prefix", str(prefix), SARIF_MULTITOOL], capture_output=True,
                              text=True, timeout=300)
        found = glob.glob(str(prefix / "node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool"))
        if proc.returncode != 0 or not found:
            pytest.skip(f"npm install {SARIF_MULTITOOL} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    binary = Path(found[0])
    # npm may not run the package's postinstall (which only sets this bit).
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def validate(binary: Path, sarif: Path) -> list[dict]:
    """The validator's results (errors, warnings and notes) for ``sarif`` with SARIF and GitHub rules."""
    out = sarif.with_suffix(".validation.sarif")
    proc = subprocess.run(
        [str(binary), "validate", "--rule-kind", "Sarif;Gh", "--level", "Error;Warning;Note",
         "--log", "ForceOverwrite", "--output", str(out), str(sarif)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.is_file(), proc.stdout + proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))["runs"][0]["results"]


def test_sarif_of_a_real_review_passes_the_validator_with_github_rules(reviewed, sarif_multitool, tmp_path) -> None:
    code, report, err = reviewed("sarif")
    assert code == 1, err
    doc = json.loads(report)
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["gemma-review/maintainability", "gemma-review/bug", "gemma-review/style"]
    assert "fixes" in results[1] and "fixes" not in results[0] and "fixes" not in results[2]
    path = tmp_path / "review.sarif"
    path.write_text(report, encoding="utf-8")
    found = validate(sarif_multitool, path)
    problems = [(r["ruleId"], r.get("level", "warning"), r["message"]) for r in found
                if r.get("level", "warning") in ("error", "warning")]
    assert problems == []


def test_sarif_with_a_dismissed_finding_passes_the_validator(reviewed, sarif_multitool, work: Path, tmp_path, capsys) -> None:
    """Issue 21: a team's dismissal stays in the SARIF as a suppressed result code scanning accepts."""
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "streak.py")
    git(work, "commit", "-q", "-m", "streak")
    code, report, err = reviewed("sarif")
    first = json.loads(report)["runs"][0]["results"][1]
    fp = first["partialFingerprints"]["gemmaReview/v1"]
    code, _out, err = run(capsys, None, "dismiss", fp, "--reason", "dates are unique upstream")
    assert code == 0, err
    code, report, err = reviewed("sarif", "--no-cache")
    results = json.loads(report)["runs"][0]["results"]
    assert [r.get("suppressions") for r in results if r.get("suppressions")] == [
        [{"kind": "external", "justification": "dates are unique upstream"}]]
    path = tmp_path / "dismissed.sarif"
    path.write_text(report, encoding="utf-8")
    found = validate(sarif_multitool, path)
    assert [(r["ruleId"], r["message"]) for r in found if r.get("level", "warning") in ("error", "warning")] == []


def test_sarif_rules_carry_help_and_stable_ids(reviewed) -> None:
    from gemma_review.config import CATEGORIES

    _, report, _ = reviewed("sarif")
    driver = json.loads(report)["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [f"gemma-review/{c}" for c in CATEGORIES]  # never renamed
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    security = next(r for r in driver["rules"] if r["id"] == "gemma-review/security")
    assert 0 < float(security["properties"]["security-severity"]) <= 10
    for result in json.loads(report)["runs"][0]["results"]:
        assert list(result["partialFingerprints"]) == ["gemmaReview/v1"]
        assert len(result["partialFingerprints"]["gemmaReview/v1"]) == 16


def test_sarif_fix_replaces_the_anchored_lines(reviewed) -> None:
    _, report, _ = reviewed("sarif")
    (fix,) = json.loads(report)["runs"][0]["results"][1]["fixes"]
    (replacement,) = fix["artifactChanges"][0]["replacements"]
    assert replacement["deletedRegion"]["startLine"] == 13
    assert FIXED_LINE in replacement["insertedContent"]["text"]


# --- reviewdog's rdjson -------------------------------------------------------------------------


def test_rdjson_field_by_field(reviewed, work: Path) -> None:
    code, report, err = reviewed("rdjson")
    assert code == 1, err
    doc = json.loads(report)
    assert set(doc) == {"source", "severity", "diagnostics"}  # reviewdog refuses unknown fields
    assert doc["source"] == {"name": "gemma-review", "url": "https://example.invalid/gemma-review"}
    assert doc["severity"] == "ERROR"
    maint, bug, style = doc["diagnostics"]
    assert maint == {
        "message": "Name what is counted. `longest` and `streak` read alike; say which run each one counts.",
        "location": {"path": "streak.py", "range": {"start": {"line": 10, "column": 5}, "end": {"line": 10, "column": 16}}},
        "severity": "WARNING",
        "source": {"name": "gemma-review", "url": "https://example.invalid/gemma-review"},
        "code": {"value": "gemma-review/maintainability"},
        "original_output": maint["original_output"],
    }
    assert len(maint["original_output"]) == 16  # the content fingerprint
    assert (style["severity"], style["code"]["value"]) == ("INFO", "gemma-review/style")
    assert "suggestions" not in maint and "suggestions" not in style
    # The fix: a line-based suggestion over exactly the diagnostic's lines.
    assert bug["severity"] == "ERROR" and bug["code"]["value"] == "gemma-review/bug"
    (suggestion,) = bug["suggestions"]
    assert suggestion["range"] == bug["location"]["range"] == {"start": {"line": 13}, "end": {"line": 14}}
    lines = (work / "streak.py").read_text().splitlines()
    fixed = lines[:12] + suggestion["text"].split("\n") + lines[14:]
    assert FIXED_LINE in fixed and 'for event in sorted(events, key=lambda e: e["date"]):' not in "\n".join(fixed)
    compile("\n".join(fixed) + "\n", "streak.py", "exec")


def test_rdjson_columns_are_utf8_bytes() -> None:
    from gemma_review.intake import FileChange
    from gemma_review.report import render
    from gemma_review.result import ReviewResult
    from tests.helpers import finding

    text = 'x = "é€"; y = 1\n'
    f = finding(1, path="u.py", column=11, end_column=16)  # "y = 1" in characters
    doc = json.loads(render("rdjson", ReviewResult(findings=[f], files={"u.py": FileChange("u.py", text, [(1, 1)])})))
    rng = doc["diagnostics"][0]["location"]["range"]
    assert (rng["start"]["column"], rng["end"]["column"]) == (14, 19)  # é is 2 bytes, € is 3
    assert text.encode()[13:18] == b"y = 1"


def test_rdjson_no_findings(reviewed, fake_ollama: FakeOllama) -> None:
    fake_ollama.set_reply(Reply(text=reply()))
    code, report, _ = reviewed("rdjson")
    assert code == 0 and json.loads(report) == {"source": {"name": "gemma-review", "url": "https://example.invalid/gemma-review"}, "diagnostics": []}


# --- GitLab Code Quality ------------------------------------------------------------------------


def test_gitlab_code_quality_field_by_field(reviewed) -> None:
    code, report, err = reviewed("gitlab")
    assert code == 1, err
    maint, bug, style = json.loads(report)
    assert bug == {
        "type": "issue",
        "description": bug["description"],
        "check_name": "gemma-review/bug",
        "fingerprint": bug["fingerprint"],
        "severity": "major",
        "categories": ["Bug Risk"],
        "location": {"path": "streak.py", "lines": {"begin": 13, "end": 14}},
    }
    assert bug["description"].startswith("Deduplicate dates before counting the streak.")
    assert (maint["severity"], maint["check_name"], maint["location"]["lines"]) == (
        "minor", "gemma-review/maintainability", {"begin": 10, "end": 10})
    assert (style["severity"], style["categories"]) == ("info", ["Style"])
    fingerprints = [i["fingerprint"] for i in (maint, bug, style)]
    assert len(set(fingerprints)) == 3 and all(len(fp) == 16 for fp in fingerprints)
    sarif = json.loads(reviewed("sarif")[1])["runs"][0]["results"]
    assert fingerprints == [r["partialFingerprints"]["gemmaReview/v1"] for r in sarif]  # one fingerprint everywhere


def test_gitlab_severities_and_unique_fingerprints() -> None:
    from gemma_review.report import render
    from gemma_review.result import ReviewResult
    from tests.helpers import finding

    findings = [
        finding(1, severity="error", category="security", fingerprint="same"),
        finding(2, severity="error", category="bug", fingerprint="same"),
        finding(3, severity="warning", category="performance", fingerprint="other"),
    ]
    issues = json.loads(render("gitlab", ReviewResult(findings=findings)))
    assert [i["severity"] for i in issues] == ["critical", "major", "minor"]
    assert {i["severity"] for i in issues} <= {"info", "minor", "major", "critical", "blocker"}
    assert [i["fingerprint"] for i in issues] == ["same", "same-2", "other"]
    assert json.loads(render("gitlab", ReviewResult())) == []


# --- reviewdog for real -------------------------------------------------------------------------

REVIEWDOG_MODULE = "github.com/reviewdog/reviewdog/cmd/reviewdog@latest"


@pytest.fixture(scope="session")
def reviewdog() -> str:
    """reviewdog on PATH, or built with ``go install`` into the user's cache dir once."""
    found = shutil.which("reviewdog")
    gopath = _tool_dir().parent / "gopath"
    built = gopath / "bin" / "reviewdog"
    if found:
        return found
    if built.is_file():
        return str(built)
    go = shutil.which("go")
    if go is None:
        pytest.skip("reviewdog is not installed and Go is not available to build it")
    env = {**os.environ, "GOPATH": str(gopath), "GOFLAGS": "-modcacherw"}
    try:
        proc = subprocess.run([go, "install", REVIEWDOG_MODULE], env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip(f"go install {REVIEWDOG_MODULE} took more than 240 s")
    if proc.returncode != 0 or not built.is_file():
        pytest.skip(f"go install {REVIEWDOG_MODULE} failed: {' '.join((proc.stderr or proc.stdout).split())[-300:]}")
    return str(built)


def make_pr_repo(root: Path) -> str:
    """streak.py committed twice: the base loops without sorting, the head is the sample (lines 13-14 change)."""
    from tests.helpers import SAMPLES, git

    head = (SAMPLES / "streak.py").read_text()
    base = head.replace('    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]\n',
                        '    for event in events:\n        current = event["date"]\n')
    assert base != head
    git(root, "init", "-q", "-b", "main")
    (root / "streak.py").write_text(base)
    git(root, "add", "streak.py")
    git(root, "commit", "-qm", "base")
    base_sha = git(root, "rev-parse", "HEAD").strip()
    (root / "streak.py").write_text(head)
    git(root, "commit", "-qam", "head")
    return base_sha


def test_reviewdog_local_reporter_comments_on_the_changed_lines(reviewed, reviewdog: str, work: Path) -> None:
    from tests.helpers import GIT_ENV

    base = make_pr_repo(work)
    code, report, err = reviewed("rdjson", "--base", base, "--head", "HEAD")
    assert code == 1, err
    proc = subprocess.run(
        [reviewdog, "-f=rdjson", "-reporter=local", "-name=gemma-review", f"-diff=git diff {base} HEAD"],
        input=report, cwd=work, capture_output=True, text=True, timeout=60, env={**os.environ, **GIT_ENV},
    )
    out = proc.stdout + proc.stderr
    assert "streak.py:13" in out, out  # the bug finding, on a changed line
    assert "Deduplicate dates" in out
    assert "streak.py:10" not in out  # outside the diff: neither gemma-review nor reviewdog shows it


# --- GitHub annotations within limits, the job summary ------------------------------------------


def test_github_annotations_stay_within_the_limits_and_say_how_many_more() -> None:
    from gemma_review.report import render
    from gemma_review.result import ReviewResult
    from tests.helpers import finding

    findings = [finding(i + 1, severity="error", confidence=0.5 + i / 100, title=f"E{i}") for i in range(13)]
    findings += [finding(100 + i, severity="warning", title=f"W{i}") for i in range(12)]
    findings += [finding(200 + i, severity="info", title=f"I{i}") for i in range(5)]
    out = render("github", ReviewResult(findings=findings, model="m", backend="ollama"), summary_to="the job summary")
    lines = out.splitlines()
    errors = [x for x in lines if x.startswith("::error ")]
    assert len(errors) == 10 and len([x for x in lines if x.startswith("::warning ")]) == 10
    assert len([x for x in lines if x.startswith("::notice ")]) == 5
    assert not any("title=gemma-review [bug] E0::" in x or "E1::" in x or "E2::" in x for x in errors)  # least confident out
    assert errors[0].startswith("::error file=a.py,line=4,")  # file order among those shown
    assert lines[-2] == ("gemma-review: 3 errors, 2 warnings more not annotated (GitHub shows at most 10 annotations "
                         "per level in a step; the most confident are shown); the job summary lists every finding")
    assert lines[-1] == "gemma-review: 30 findings; model m (ollama)"


def test_github_format_writes_the_job_summary(reviewed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, err = reviewed("github")
    assert code == 1, err
    assert out.count("::") == 6  # three annotations
    text = summary.read_text()
    assert text.startswith("earlier step\n### gemma-review: 3 findings (1 error, 1 warning, 1 info)\n")  # appended
    assert "Reviewed 1 file (1 units, 0 from the cache) with model gemma4:e4b (ollama)." in text
    rows = [x for x in text.splitlines() if x.startswith("| ")]
    assert rows[0] == "| Severity | File | Lines | Category | Finding | Fix |"
    assert rows[1].startswith("| 🟠 warning | `streak.py` | 10 | maintainability | **Name what is counted**<br>")
    assert rows[2].startswith("| 🔴 error | `streak.py` | 13–14 | bug | **Deduplicate dates") and rows[2].endswith("| yes |")
    assert rows[3].startswith("| 🔵 info | `streak.py` | 14 | style | **Unpack the date once**<br>The loop reads event[\"date\"] twice.")


def test_summary_option_and_more_reports_from_one_review(reviewed, fake_ollama, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    summary, sarif, gitlab = tmp_path / "s.md", tmp_path / "r.sarif", tmp_path / "gl.json"
    code, out, err = reviewed("json", "--summary", str(summary), "--report", f"sarif={sarif}", "--report", f"gitlab={gitlab}")
    assert code == 1, err
    assert len(fake_ollama.requests) == 1  # one review, four outputs
    assert len(json.loads(out)["findings"]) == 3
    assert len(json.loads(sarif.read_text())["runs"][0]["results"]) == 3
    assert len(json.loads(gitlab.read_text())) == 3
    assert summary.read_text().count("\n| ") == 4  # header row + 3 (the separator starts with "|-")
    code, _, err = reviewed("json", "--report", "pdf=x.pdf")
    assert code == 2 and "FORMAT=FILE" in err


def test_summary_cells_cannot_break_the_table() -> None:
    from gemma_review.report import render
    from gemma_review.result import ReviewResult
    from tests.helpers import finding

    f = finding(1, title="a | b", explanation="line one\nline two <script>")
    text = render("summary", ReviewResult(findings=[f]))
    (row,) = [x for x in text.splitlines() if x.startswith("| ") and "a \\| b" in x]
    assert "line one line two &lt;script&gt;" in row and row.count(" | ") == 5
