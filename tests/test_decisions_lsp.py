"""The language server and the team's decisions: "Dismiss for the team…" writes the store and
the diagnostic leaves every open document; a new session on that repository never shows it
(the show policy honours the store in the editor too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lsprotocol import types

from gemma_review import decisions as dec
from tests.fake_ollama import FakeOllama
from tests.helpers import STREAK, streak_repo
from tests.lsp_client import TITLE, by_profile, latest, logs, ollama, opened, published, session, until


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = streak_repo(tmp_path / "repo", "Lin Editor", "lin@example.invalid")
    (root / "copy").mkdir()
    (root / "copy" / "streak.py").write_text(STREAK, encoding="utf-8")
    return root


async def diagnostics_of(client, uri: str) -> list[types.Diagnostic]:
    return (await until(lambda: [p for p in published(client, uri) if p.diagnostics], f"diagnostics of {uri}"))[-1].diagnostics


@by_profile
async def test_dismiss_for_the_team_from_the_editor(profile: str, fake_ollama: FakeOllama, repo: Path) -> None:
    async with session(profile, repo, ollama(fake_ollama)) as client:
        uri = opened(client, repo / "streak.py", STREAK)
        other = opened(client, repo / "copy" / "streak.py", STREAK)
        (diag,) = await diagnostics_of(client, uri)
        await diagnostics_of(client, other)
        raw = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        titles = [a.title for a in raw]
        assert titles.index("Dismiss for the team…") == titles.index("Ignore this finding") + 1
        # A code action carrying a command: the test client's converter reads it back as a
        # Command whose ``command`` is the command object printed as text; an editor reads the JSON.
        offer = raw[titles.index("Dismiss for the team…")]
        command = offer.command if isinstance(offer, types.CodeAction) else ast.literal_eval(offer.command)
        command = command if isinstance(command, dict) else {"command": command.command, "arguments": command.arguments}
        assert command["command"] == "gemma-review.dismiss"
        (args,) = command["arguments"]
        assert args == {"uri": uri, "fingerprint": diag.data["fingerprint"]}
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="gemma-review.dismiss", arguments=[{**args, "reason": "dates are unique upstream"}]))
        assert result["dismissed"] is True, result
        await until(lambda: not latest(client, uri).diagnostics, "the diagnostic to leave")
        # Only the decided file's finding: the same code in another file that exists is a copy.
        assert latest(client, other).diagnostics
    (rec,) = dec.load(repo).records
    assert (rec.path, rec.title, rec.verdict, rec.reason) == ("streak.py", TITLE, "dismissed", "dates are unique upstream")
    assert rec.who == "Lin Editor <lin@example.invalid>"
    assert rec.fingerprint == diag.data["fingerprint"]

    # A new session (another editor, another clone with the store): never shown.
    async with session(profile, repo, ollama(fake_ollama)) as client:
        uri = opened(client, repo / "streak.py", STREAK)
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the review to end")
        assert logs(client, r"dropped \(dismissed 1\)")
        assert all(not p.diagnostics for p in published(client, uri))


@by_profile
async def test_without_a_reason_the_server_asks(profile: str, fake_ollama: FakeOllama, repo: Path) -> None:
    asked: list[types.ShowMessageRequestParams] = []
    async with session(profile, repo, ollama(fake_ollama)) as client:

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(ls, params: types.ShowMessageRequestParams) -> types.MessageActionItem:
            asked.append(params)
            return types.MessageActionItem(title="Accepted risk")

        uri = opened(client, repo / "streak.py", STREAK)
        (diag,) = await diagnostics_of(client, uri)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="gemma-review.dismiss", arguments=[{"uri": uri, "fingerprint": diag.data["fingerprint"]}]))
        assert result["dismissed"] is True
        await until(lambda: not latest(client, uri).diagnostics, "the diagnostic to leave")
    assert asked and TITLE in asked[0].message and [a.title for a in asked[0].actions] == [
        "False positive", "Accepted risk", "Not worth fixing"]
    (rec,) = dec.load(repo).records
    assert (rec.verdict, rec.reason) == ("accepted-risk", "accepted risk")
