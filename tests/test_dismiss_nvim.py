"""Issue 21 end to end in a real Neovim (Debian's 0.7 and the PyPI 0.11+ build): a user in a git
repository dismisses the duplicate-date finding of streak.py for the team with the code action
menu and the server's question (tests/nvim/dismiss.lua); the diagnostic leaves the buffer, the
store shows in ``git status`` holding the reason; a colleague's clone of the commit that adds the
store, opened in a fresh Neovim with an empty cache, never shows the finding."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gemma_review import decisions as dec
from tests.fake_ollama import FakeOllama
from tests.helpers import NVIM_VARIANTS as VARIANTS
from tests.helpers import REPO, git, nvim_command, nvim_env, read_nvim_result as read_result

SCRIPT = Path(__file__).resolve().parent / "nvim" / "dismiss.lua"
DISMISS = "Dismiss for the team…"
TITLE = "Deduplicate dates before counting the streak"
ANSWER = "False positive"  # the server records it as verdict "dismissed", reason "false positive"

pytestmark = pytest.mark.nvim


def nvim(binary: Path) -> list[str]:
    return nvim_command(binary, SCRIPT)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_neovim_dismisses_for_the_team_and_a_clone_never_shows_it(
    variant: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    binary, api, reason = VARIANTS[variant]
    if binary is None:
        pytest.skip(reason)
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.name", "Nia Vim")
    git(origin, "config", "user.email", "nia@example.invalid")
    (origin / "README.md").write_text("streaks\n", encoding="utf-8")
    git(origin, "add", "README.md")
    git(origin, "commit", "-q", "-m", "start")
    # New code, not committed yet: the server's default scope reviews what differs from HEAD.
    (origin / "streak.py").write_text((REPO / "samples" / "streak.py").read_text(encoding="utf-8"), encoding="utf-8")

    # 1. Dismiss in the first clone's editor.
    out = tmp_path / "dismiss.json"
    init = {"host": fake_ollama.url, "backend": "ollama"}
    env = nvim_env(tmp_path, "nia", init, origin / "streak.py", out, GEMMA_MODE="dismiss", GEMMA_CHOICE=ANSWER)
    done = subprocess.run(nvim(binary), env=env, cwd=origin, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    result = read_result(out, done.returncode, done.stderr)
    assert result["api"] == api
    diag = result["diagnostic"]
    assert (diag["lnum"], diag["source"]) == (12, "gemma-review") and diag["message"].startswith("Deduplicate dates")
    assert DISMISS in result["menu"], result["menu"]
    # Neovim's own window/showMessageRequest handler put the server's question to the user.
    (prompt,) = result["prompts"]
    shown = "\n".join([prompt.get("prompt") or "", *prompt["items"]])
    assert TITLE in shown and all(choice in shown for choice in ("False positive", "Accepted risk", "Not worth fixing"))
    assert result["cleared"], "the dismissed diagnostic stayed in the buffer"
    assert result["published"][-1] == 0, result["published"]
    assert result["recorded"] and "false positive" in result["recorded"], result["logs"][-5:]

    status = git(origin, "status", "--porcelain")
    assert "?? .gemma-review/" in status.splitlines(), status
    (record,) = dec.load(origin).records
    assert (record.path, record.title, record.verdict, record.reason) == (
        "streak.py", TITLE, "dismissed", "false positive")
    assert record.who == "Nia Vim <nia@example.invalid>"
    assert "false positive" in (origin / ".gemma-review" / "decisions.jsonl").read_text(encoding="utf-8")

    # 2. Commit the code and the store; a colleague clones and opens streak.py in a fresh Neovim.
    git(origin, "add", "streak.py", ".gemma-review")
    git(origin, "commit", "-q", "-m", "streak, and the team's decision about its duplicate dates")
    clone = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert (clone / ".gemma-review" / "decisions.jsonl").is_file()
    answered = tmp_path / "answered"
    out2 = tmp_path / "reopen.json"
    # The clone has no changes: the colleague reviews the whole file (scope "file"), else
    # nothing would be reviewed and "never shown" would prove nothing.
    env2 = nvim_env(tmp_path, "colleague-home", {**init, "scope": "file"}, clone / "streak.py", out2,
                    GEMMA_MODE="reopen", GEMMA_ANSWERED=str(answered))
    before = fake_ollama.completed
    proc = subprocess.Popen(nvim(binary), env=env2, cwd=clone, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        # The fake model's log says when the colleague's review was answered (a fresh cache:
        # the model is asked again); the script then waits for the server to finish the review.
        reviewed = fake_ollama.wait(lambda f: f.completed > before, timeout=60)
        answered.write_text("yes", encoding="utf-8")
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert reviewed, "the colleague's Neovim never had streak.py reviewed by the model"
    result2 = read_result(out2, proc.returncode, stderr)
    assert result2["api"] == api
    # The model found it again; the server hid it: never published, not in the buffer.
    assert re.search(r"dropped \(dismissed 1\)", "\n".join(result2["logs"])), result2["logs"]
    assert all(count == 0 for count in result2["published"]), result2["published"]
    assert result2["diagnostics"] == 0
