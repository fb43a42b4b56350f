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
from tests.helpers import FIXED_LINE, finding_json, reply, run

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
