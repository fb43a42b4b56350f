"""The editor's verdicts: the quick fix and "Ignore this finding" carry the command
``gemma-review.verdict``, which an editor runs after applying the edit; the server counts
them on this machine, as it counts what it showed and what was dismissed for the team."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from lsprotocol import types

from gemma_review import verdicts as vd
from gemma_review.config import Settings
from tests.fake_ollama import FakeOllama
from tests.helpers import STREAK, streak_repo
from tests.lsp_client import TITLE, ollama, opened, published, session, until


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return streak_repo(tmp_path / "repo", "Lin Editor", "lin@example.invalid")


def command_of(action) -> dict:
    """The action's command as an editor reads it (the test client's converter may give it as text)."""
    command = action.command if isinstance(action, types.CodeAction) else ast.literal_eval(action.command)
    if isinstance(command, str):
        command = ast.literal_eval(command)
    return command if isinstance(command, dict) else {"command": command.command, "arguments": command.arguments}


def counts(root: Path) -> dict[str, tuple[int, int, int, int]]:
    s = Settings(cache_dir=os.environ["GEMMA_REVIEW_CACHE_DIR"])
    return {c: (r.shown, r.fixed, r.dismissed, r.ignored) for c, r in vd.rates(s, root).items()}


async def test_the_quick_fix_ignore_and_dismiss_are_counted(fake_ollama: FakeOllama, repo: Path) -> None:
    async with session("visual-studio-code", repo, ollama(fake_ollama)) as client:
        uri = opened(client, repo / "streak.py", STREAK)
        diag = (await until(lambda: [p for p in published(client, uri) if p.diagnostics], "diagnostics"))[-1].diagnostics[0]
        raw = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        by_title = {a.title: a for a in raw}
        fix = command_of(by_title[f"Apply Gemma fix: {TITLE}"])
        ignore = command_of(by_title["Ignore this finding"])
        assert fix["command"] == ignore["command"] == "gemma-review.verdict"
        (fix_args,) = fix["arguments"]
        (item,) = fix_args["findings"]
        assert (fix_args["uri"], fix_args["verdict"], item["fingerprint"], item["category"]) == (
            uri, "fixed", diag.data["fingerprint"], "bug")
        every = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[], only=["source.fixAll.gemma-review"])))
        (fix_all,) = [command_of(a) for a in every]
        assert fix_all["command"] == "gemma-review.verdict" and fix_all["arguments"][0]["findings"] == [item]
        # The editor applies the edit, then runs the command.
        for command in (fix, ignore):
            result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command=command["command"], arguments=command["arguments"]))
            assert result["counted"] == 1, result
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="gemma-review.dismiss", arguments=[{"uri": uri, "fingerprint": diag.data["fingerprint"], "reason": "fine"}]))
        assert result["dismissed"] is True
        bad = client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="gemma-review.verdict", arguments=[{"uri": uri, "verdict": "loved", "findings": []}]))
        with pytest.raises(Exception, match="verdict"):
            await bad
    assert counts(repo) == {"bug": (1, 1, 1, 1)}


@pytest.mark.nvim
@pytest.mark.parametrize("variant", ["debian-0.7", "pypi-0.11"])
def test_neovim_applying_the_quick_fix_counts_it(variant: str, fake_ollama: FakeOllama, tmp_path: Path, repo: Path) -> None:
    """A real Neovim: vim.lsp.buf.code_action() applies the fix's edit, then runs its command."""
    import subprocess

    from tests.helpers import NVIM_VARIANTS, REPO, nvim_command, nvim_env, read_nvim_result

    binary, _api, reason = NVIM_VARIANTS[variant]
    if binary is None:
        pytest.skip(reason)
    out = tmp_path / "fix.json"
    env = nvim_env(tmp_path, "nia", {"host": fake_ollama.url, "backend": "ollama"}, repo / "streak.py", out,
                   GEMMA_MODE="action", GEMMA_ACTION="Apply Gemma fix:")
    done = subprocess.run(nvim_command(binary, REPO / "tests" / "nvim" / "dismiss.lua"), env=env, cwd=repo, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    result = read_nvim_result(out, done.returncode, done.stderr)
    assert any(t.startswith(f"Apply Gemma fix: {TITLE}") for t in result["menu"]), result["menu"]
    assert result["cleared"] and result["recorded"] == "counted fixed: 1 finding in streak.py (verdicts on this machine)"
    s = Settings(cache_dir=env["GEMMA_REVIEW_CACHE_DIR"])
    assert {c: (r.shown, r.fixed) for c, r in vd.rates(s, repo).items()} == {"bug": (1, 1)}
