"""The composite action (action.yml): its shell steps run as GitHub's runner runs them
(``bash --noprofile --norc -eo pipefail``, GITHUB_EVENT_PATH with a pull_request payload,
GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH), against the fake Ollama, on a real git
repository with a base and a head commit. The install step really pip-installs the action's
own folder into a fresh virtual environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import GIT_ENV, REPO, SAMPLES, finding_json, git, reply

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPR = re.compile(r"\$\{\{\s*([a-z_.]+)\s*\}\}")


def inputs_with(**given: str) -> dict[str, str]:
    unknown = set(given) - set(ACTION["inputs"])
    assert not unknown, unknown
    return {name: given.get(name, str(spec.get("default", ""))) for name, spec in ACTION["inputs"].items()}


class Runner:
    """Just enough of GitHub's runner for a composite action's bash steps."""

    def __init__(self, tmp: Path, workspace: Path, event: dict[str, Any]) -> None:
        self.tmp, self.workspace = tmp, workspace
        self.files = {name: tmp / name for name in ("event.json", "output", "summary.md", "path", "env")}
        self.files["event.json"].write_text(json.dumps(event))
        for name in ("output", "summary.md", "path", "env"):
            self.files[name].write_text("")
        (tmp / "runner-temp").mkdir()

    def expand(self, text: str, inputs: dict[str, str]) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("inputs."):
                return inputs[name[len("inputs."):]]
            if name == "github.action_path":
                return str(REPO)
            raise AssertionError(f"expression not simulated: {name}")

        return EXPR.sub(value, text)

    def run_step(self, step: dict[str, Any], inputs: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        assert step["shell"] == "bash"
        script = self.tmp / "step.sh"
        script.write_text(self.expand(step["run"], inputs))
        extra_path = [p for p in self.files["path"].read_text().splitlines() if p]
        step_env = {k: self.expand(str(v), inputs) for k, v in (step.get("env") or {}).items()}
        full = {
            **os.environ, **GIT_ENV, **env, **step_env,
            "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(self.files["event.json"]), "GITHUB_OUTPUT": str(self.files["output"]),
            "GITHUB_STEP_SUMMARY": str(self.files["summary.md"]), "GITHUB_PATH": str(self.files["path"]),
            "GITHUB_ENV": str(self.files["env"]), "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.tmp / "runner-temp"),
            "PATH": os.pathsep.join([*reversed(extra_path), os.environ["PATH"]]),
        }
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=self.workspace,
                              env=full, capture_output=True, text=True, timeout=600)

    def outputs(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.files["output"].read_text().splitlines() if "=" in line)


def pr_repo(root: Path) -> tuple[str, str]:
    """streak.py: the base loops over unsorted events, the head is the sample (lines 13-14 change)."""
    head = (SAMPLES / "streak.py").read_text()
    base = head.replace('    for event in sorted(events, key=lambda e: e["date"]):\n', "    for event in events:\n")
    assert base != head
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "streak.py").write_text(base)
    (root / "README.md").write_text("habit tracker\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    base_sha = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "-b", "feature")
    (root / "streak.py").write_text(head)
    git(root, "commit", "-qam", "sort events by date")
    return base_sha, git(root, "rev-parse", "HEAD").strip()


def event(base: str, head: str) -> dict[str, Any]:
    return {"action": "synchronize", "number": 7,
            "pull_request": {"number": 7, "base": {"ref": "main", "sha": base}, "head": {"ref": "feature", "sha": head}}}


REVIEW = reply(
    finding_json(),  # lines 13-14, changed: shown
    finding_json(line=10, end_line=10, severity="warning", category="maintainability", title="Name what is counted",
                 explanation="Unchanged line.", existing_code="    longest = 0", suggested_code="", confidence=0.8),
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's install step, run once: a GITHUB_PATH file naming the new venv's bin."""
    tmp = tmp_path_factory.mktemp("install")
    runner = Runner(tmp, tmp, {})
    step = ACTION["runs"]["steps"][0]
    assert step["name"] == "Install gemma-review"
    proc = runner.run_step(step, inputs_with(python=sys.executable), {})
    if proc.returncode != 0 and re.search(r"Could not find a version|No matching distribution|connection", proc.stderr, re.I):
        pytest.skip(f"pip cannot install the dependencies here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr
    (venv_bin,) = runner.files["path"].read_text().splitlines()
    assert (Path(venv_bin) / "gemma-review").is_file()
    assert proc.stdout.startswith("gemma-review ")
    return runner.files["path"]


@pytest.fixture
def pull_request(tmp_path: Path, installed: Path) -> tuple[Runner, str]:
    base, head = pr_repo(tmp_path / "repo")
    runner = Runner(tmp_path, tmp_path / "repo", event(base, head))
    runner.files["path"].write_text(installed.read_text())  # the install step ran in this job
    return runner, base


def review_step() -> dict[str, Any]:
    (step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == "review"]
    return step


def test_the_action_reviews_the_pull_request_and_fails_at_fail_on(pull_request, fake_ollama: FakeOllama) -> None:
    runner, base = pull_request
    fake_ollama.set_reply(Reply(text=REVIEW))
    inputs = inputs_with(host=fake_ollama.url, backend="ollama")
    proc = runner.run_step(review_step(), inputs, {})
    assert proc.returncode == 1, proc.stderr  # an error finding, fail_on error
    # Only the changed lines were reviewed: one finding, annotated.
    annotations = [x for x in proc.stdout.splitlines() if x.startswith("::")]
    assert len(annotations) == 1 and annotations[0].startswith("::error file=streak.py,line=13,endLine=14,")
    assert "gemma-review: 1 finding; model gemma4:e4b (ollama)" in proc.stdout
    assert runner.outputs() == {"sarif_file": "gemma-review.sarif", "findings": "1", "exit_code": "1"}
    sarif = json.loads((runner.workspace / "gemma-review.sarif").read_text())
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "gemma-review/bug" and "fixes" in result
    summary = runner.files["summary.md"].read_text()
    assert summary.startswith("### gemma-review: 1 finding (1 error)")
    assert "| 🔴 error | `streak.py` | 13–14 | bug | **Deduplicate dates" in summary
    # The prompt held the PR's change, nothing from the base-only README.
    prompt = json.dumps(fake_ollama.requests)
    assert "streak.py" in prompt and "habit tracker" not in prompt


def test_the_action_passes_below_fail_on_and_with_no_findings(pull_request, fake_ollama: FakeOllama) -> None:
    runner, _ = pull_request
    fake_ollama.set_reply(Reply(text=reply()))
    proc = runner.run_step(review_step(), inputs_with(host=fake_ollama.url, backend="ollama"), {})
    assert proc.returncode == 0, proc.stderr
    assert runner.outputs() == {"sarif_file": "gemma-review.sarif", "findings": "0", "exit_code": "0"}
    assert json.loads((runner.workspace / "gemma-review.sarif").read_text())["runs"][0]["results"] == []
    assert runner.files["summary.md"].read_text().startswith("### gemma-review: 0 findings\n")


def test_the_action_says_what_is_missing_without_a_base(pull_request, fake_ollama: FakeOllama) -> None:
    runner, _ = pull_request
    runner.files["event.json"].write_text(json.dumps({"ref": "refs/heads/main"}))  # a push, not a pull request
    proc = runner.run_step(review_step(), inputs_with(host=fake_ollama.url, backend="ollama"), {})
    assert proc.returncode == 2
    assert "::error title=gemma-review::no base commit" in proc.stdout
    assert fake_ollama.requests == []


def test_the_action_fails_when_the_model_is_unavailable(pull_request) -> None:
    from tests.helpers import closed_port_url

    runner, _ = pull_request
    proc = runner.run_step(review_step(), inputs_with(host=closed_port_url(), backend="ollama"), {})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert runner.outputs()["exit_code"] == "3"


def test_a_second_push_reviews_only_what_it_changed(pull_request, fake_ollama: FakeOllama) -> None:
    """The cache (GEMMA_REVIEW_CACHE_DIR, kept between runs by actions/cache) holds the first
    push's units: the second push's review of base...HEAD asks the model only about the new code."""
    runner, base = pull_request
    fake_ollama.set_reply(Reply(text=reply()))
    inputs = inputs_with(host=fake_ollama.url, backend="ollama")
    assert runner.run_step(review_step(), inputs, {}).returncode == 0
    first = len(fake_ollama.requests)
    assert first >= 1
    repo = runner.workspace
    (repo / "weekly.py").write_text("def weekly_total(counts):\n    return sum(counts[-7:])\n")
    git(repo, "add", "weekly.py")
    git(repo, "commit", "-qm", "second push")
    assert runner.run_step(review_step(), inputs, {}).returncode == 0
    new = fake_ollama.requests[first:]
    assert len(new) == 1  # weekly.py only; streak.py's units came from the cache
    assert "weekly_total" in json.dumps(new) and "calculate_streak" not in json.dumps(new)
    report = json.loads((Path(runner.files["output"]).parent / "runner-temp" / "gemma-review.json").read_text())
    assert report["summary"]["cached_units"] >= 1 and report["summary"]["units"] == report["summary"]["cached_units"] + 1
