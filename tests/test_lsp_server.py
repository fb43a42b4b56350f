"""The language server end to end: a pytest-lsp client (Neovim and VS Code profiles) drives
``gemma-review lsp`` in a subprocess, which reviews against the fake Ollama server."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import FIXED_LINE, SAMPLES, STREAK, WHITESPACE_SOURCE, free_port, whitespace_reply
from tests.lsp_client import (
    PROFILES,
    SERVER,
    TITLE,
    WAIT,
    actions_at,
    apply,
    by_profile,
    change,
    edits_for,
    fake_waits,
    insert,
    latest,
    logs,
    make_client,
    ollama,
    opened,
    point,
    published,
    raw_request,
    raw_write,
    session,
    span,
    until,
)

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DIAG_RANGE = ((12, 4), (13, 31))  # lines 13-14 of streak.py, 0-based, UTF-16 columns


def streak_cases_pass(source: str) -> bool:
    """Run the labelled behaviour cases of streak.py against ``source``."""
    labels = tomllib.loads((SAMPLES / "labels.toml").read_text(encoding="utf-8"))
    sample = next(s for s in labels["samples"] if s["file"] == "streak.py")
    namespace: dict[str, Any] = {}
    exec(compile(source, "streak.py", "exec"), namespace)
    fn = namespace[sample["behaviour"]["function"]]
    for case in sample["behaviour"]["cases"]:
        events = [{"date": datetime.date.fromisoformat(d)} for d in case["dates"]]
        if fn(events) != case["expected"]:
            return False
    return True


def slow_after_first(fake: FakeOllama, filler_chars: int, tokens_per_second: float) -> Callable[[dict[str, Any]], Reply]:
    """The oracle's findings, then a long finding the engine cannot anchor, streamed slowly.

    The padding is blank so the engine's repetition detector does not stop the stream."""

    def respond(body: dict[str, Any]) -> Reply:
        found = json.loads(fake.oracle(body).text)["findings"]
        filler = {"line": 1, "end_line": 1, "severity": "info", "category": "style", "title": "padding",
                  "explanation": " " * filler_chars, "existing_code": "no such line anywhere", "suggested_code": "",
                  "confidence": 0.9}
        return Reply(text=json.dumps({"findings": found + [filler]}), tokens_per_second=tokens_per_second, chunk_chars=4)

    return respond


# --- tests -------------------------------------------------------------------------------


@by_profile
async def test_streak_diagnostic_streams_then_fix_ignore_fix_all_and_hover(
    profile: str, fake_ollama: FakeOllama, streak: Path
) -> None:
    # After the real finding the model keeps writing for a while: the diagnostic must not wait for it.
    fake_ollama.set_reply(slow_after_first(fake_ollama, filler_chars=4000, tokens_per_second=400))
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        first = await until(lambda: [p for p in published(client, uri) if p.diagnostics], "the streak diagnostic")
        assert fake_ollama.completed == 0, "published only after the model had finished"
        params = first[0]
        assert params.version == 1
        (diag,) = params.diagnostics
        assert span(diag.range) == DIAG_RANGE
        assert diag.source == "gemma-review" and diag.code == "bug"
        assert diag.severity == types.DiagnosticSeverity.Error
        assert diag.message.startswith(TITLE)
        assert diag.data["fingerprint"] and diag.data["fix"]["replacement"] == FIXED_LINE
        assert (diag.data["fix"]["start_line"], diag.data["fix"]["end_line"]) == (13, 14)

        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(13, 10))
        )
        assert hover is not None and "sorted({event" in hover.contents.value
        # VS Code shows the diagnostic's own text in the same hover: the hover must not repeat it.
        text = hover.contents.value
        assert TITLE not in text and diag.message.split("\n")[-1] not in text
        assert "gemma-review bug, error, confidence" in text

        found = await actions_at(client, uri, diag.range, [diag])
        titles = [a.title for a in found]
        assert titles[:2] == [f"Apply Gemma fix: {TITLE}", "Ignore this finding"]
        assert "Refactor with Gemma" in titles
        fix, ignore = found[0], found[1]
        assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred

        assert ignore.kind == types.CodeActionKind.QuickFix and ignore.diagnostics

        (fix_all,) = await actions_at(client, uri, point(0), only=["source.fixAll"])
        assert fix_all.kind == "source.fixAll.gemma-review"
        fixed_by_all, _ = apply(STREAK, edits_for(fix_all.edit, uri, profile, 1))

        fixed, changes = apply(STREAK, edits_for(fix.edit, uri, profile, 1))
        assert fixed == fixed_by_all
        assert FIXED_LINE in fixed.splitlines() and not streak_cases_pass(STREAK) and streak_cases_pass(fixed)

        change(client, uri, 2, changes)
        after = await until(lambda: published(client, uri, 2), "diagnostics for version 2")
        assert not after[-1].diagnostics, "the applied fix left its diagnostic behind"
        assert await actions_at(client, uri, point(12), only=["quickfix"]) == []

        fake_ollama.set_reply(fake_ollama.oracle)
        second = streak.parent / "sub" / "streak.py"
        second.parent.mkdir()
        second.write_text(STREAK, encoding="utf-8")
        await ignore_silences(client, profile, second)


async def ignore_silences(client: LanguageClient, profile: str, path: Path) -> None:
    """Ignore this finding: the diagnostic goes now, and stays away when the file is reviewed again."""
    uri = opened(client, path, STREAK)
    (diag,) = await until(lambda: client.diagnostics.get(uri), "the diagnostic of the second file")
    ignore = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title == "Ignore this finding")
    (edit,) = edits_for(ignore.edit, uri, profile, 1)
    assert span(edit.range) == ((12, 0), (12, 0)) and edit.new_text == "    # gemma-review: ignore[bug]\n"
    ignored, changes = apply(STREAK, [edit])
    change(client, uri, 2, changes)
    assert not (await until(lambda: published(client, uri, 2), "diagnostics of the second file, v2"))[-1].diagnostics
    path.write_text(ignored, encoding="utf-8")
    before = len(published(client, uri, 2))
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    # The review on save publishes its (empty) result: the engine honours the comment.
    await until(lambda: len(published(client, uri, 2)) > before, "the review on save")
    assert not latest(client, uri).diagnostics


@by_profile
async def test_refactor_runs_the_model_only_when_resolved(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    asked: list[str] = []
    replacement = {"value": 'for current in sorted({event["date"] for event in events}):\n    current = current'}

    def respond(body: dict[str, Any]) -> Reply:
        if "replacement" in ((body.get("format") or {}).get("properties") or {}):  # the refactor schema
            asked.append(body["messages"][-1]["content"])
            return Reply(text=json.dumps({"summary": "Iterate over distinct dates.", "replacement": replacement["value"]}))
        return fake_ollama.oracle(body)

    fake_ollama.set_reply(respond)
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")

        # A selection (lines 13-14): offered without asking the model...
        selection = types.Range(types.Position(12, 0), types.Position(14, 0))
        (offer,) = await actions_at(client, uri, selection, only=["refactor"])
        assert offer.title == "Refactor with Gemma" and offer.kind == types.CodeActionKind.RefactorRewrite
        assert offer.edit is None and offer.data is not None and asked == []
        # ...and resolved into a validated, re-indented edit when picked.
        resolved = await client.code_action_resolve_async(offer)
        assert len(asked) == 1 and "   13 |" in asked[0] and "   14 |" in asked[0]
        (edit,) = edits_for(resolved.edit, uri, profile, 1)
        assert span(edit.range) == ((12, 0), (13, 31))
        assert edit.new_text == FIXED_LINE + "\n        current = current"
        new_text, _ = apply(STREAK, [edit])
        assert streak_cases_pass(new_text)

        # The cursor in a function (empty range): the whole function is offered.
        (whole,) = await actions_at(client, uri, point(10, 5), only=["refactor.rewrite"])
        assert whole.data["range"]["start"]["line"] == 7 and whole.data["range"]["end"]["line"] == 20

        # A reply that would break the file is refused, not applied.
        replacement["value"] = "for current in (:"
        with pytest.raises(JsonRpcException) as failed:
            await client.code_action_resolve_async(offer)
        assert "would not parse" in str(failed.value)

        # Clients without resolve support use the command, which sends workspace/applyEdit.
        replacement["value"] = 'for current in sorted({event["date"] for event in events}):\n    pass'
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="gemma-review.refactor",
                arguments=[{"uri": uri, "range": {"start": {"line": 12, "character": 0}, "end": {"line": 13, "character": 31}}}],
            )
        )
        assert result["applied"] is True and result["summary"] == "Iterate over distinct dates."
        (sent,) = client.applied
        (edit,) = edits_for(sent.edit, uri, profile, 1)
        assert edit.new_text == FIXED_LINE + "\n        pass"


@by_profile
async def test_progress_is_reported_and_cancellable_while_requests_stay_prompt(
    profile: str, fake_ollama: FakeOllama, streak: Path
) -> None:
    fake_ollama.set_reply(slow_after_first(fake_ollama, filler_chars=20000, tokens_per_second=200))
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the first finding")
        (token,) = client.progress_reports
        units = re.compile(r"\d+/\d+ units?.*")
        reports = await until(
            lambda: [r for r in client.progress_reports[token] if units.fullmatch(r.message or "")], "a units report"
        )
        begin = client.progress_reports[token][0]
        assert isinstance(begin, types.WorkDoneProgressBegin) and begin.title == "Reviewing streak.py" and begin.cancellable
        assert reports[0].message.startswith("0/1 unit")
        # The model is still writing: requests are answered all the same.
        assert await actions_at(client, uri, point(12)) and fake_ollama.completed == 0
        assert await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(12, 8)))
        assert any(s["state"] == "reviewing" for s in client.statuses)

        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        await fake_waits(fake_ollama, lambda f: f.cancelled == 1, "the HTTP stream closed")
        end = await until(
            lambda: [r for r in client.progress_reports[token] if isinstance(r, types.WorkDoneProgressEnd)], "progress end"
        )
        assert end[0].message == "cancelled"
        await until(lambda: client.statuses[-1]["state"] == "idle", "the idle status")
        assert client.statuses[-1]["model"] == "gemma4:e4b"
        assert fake_ollama.completed == 0 and len(client.diagnostics[uri]) == 1

        # Shutdown and exit do not wait for a review that is still streaming.
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="gemma-review.reviewFile", arguments=[uri]))
        await fake_waits(fake_ollama, lambda f: len(f.requests) == 2, "the second review request")
        await asyncio.wait_for(client.shutdown_session(), WAIT)
        assert client._server.returncode == 0 and fake_ollama.completed == 0
        await fake_waits(fake_ollama, lambda f: f.cancelled == 2, "the connection of the exited server closed")


@by_profile
async def test_a_new_version_cancels_the_stale_review(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    fake_ollama.set_reply(Reply(text=json.dumps({"findings": []}) + " " * 4000, tokens_per_second=100, chunk_chars=4))
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await fake_waits(fake_ollama, lambda f: len(f.requests) == 1, "the review request")
        change(client, uri, 2, [insert(0, 0, "# edited\n")])
        await fake_waits(fake_ollama, lambda f: f.cancelled == 1, "the stale request closed")
        assert fake_ollama.completed == 0 and len(fake_ollama.requests) == 1  # trigger "save": no new review yet

        fake_ollama.set_reply(fake_ollama.oracle)
        streak.write_text("# edited\n" + STREAK, encoding="utf-8")
        client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
        (diag,) = (await until(lambda: [p for p in published(client, uri, 2) if p.diagnostics], "diagnostics of v2"))[0].diagnostics
        assert span(diag.range) == ((13, 4), (14, 31))
        assert len(fake_ollama.requests) == 2


@by_profile
async def test_on_type_reviews_once_after_the_debounce(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    async with session(profile, streak.parent, ollama(fake_ollama, trigger="type", debounceMs=300)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the review on open")
        # Diagnostics stream in before the review ends; let it end so edits don't cancel it.
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the end of the review on open")
        for version in (2, 3, 4):
            change(client, uri, version, [insert(0, 0, f"# edit {version}\n")])
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 2, "the debounced review")
        assert len(fake_ollama.requests) == 2, "each keystroke started a review"
        prompt = fake_ollama.requests[-1]["messages"][-1]["content"]
        assert "# edit 4" in prompt and "# edit 2" in prompt
        (diag,) = (await until(lambda: [p for p in published(client, uri, 4) if p.diagnostics], "v4 diagnostics"))[-1].diagnostics
        assert span(diag.range) == ((15, 4), (16, 31))


@by_profile
async def test_diagnostics_move_with_the_text_until_the_next_review(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")

        change(client, uri, 2, [insert(0, 0, "\n\n")])
        (diag,) = (await until(lambda: published(client, uri, 2), "v2"))[-1].diagnostics
        assert span(diag.range) == ((14, 4), (15, 31))
        fix = (await actions_at(client, uri, diag.range, [diag]))[0]
        (edit,) = edits_for(fix.edit, uri, profile, 2)
        assert span(edit.range) == ((14, 0), (15, 31))

        # An emoji typed where the finding starts: two UTF-16 units; the fix no longer applies.
        change(client, uri, 3, [insert(14, 4, "🎉")])
        (diag,) = (await until(lambda: published(client, uri, 3), "v3"))[-1].diagnostics
        assert span(diag.range) == ((14, 6), (15, 31))
        assert [a.title for a in await actions_at(client, uri, diag.range, [diag], only=["quickfix"])] == ["Ignore this finding", "Dismiss for the team…"]

        # Typed away again: the fix is back.
        change(client, uri, 4, [types.TextDocumentContentChangePartial(range=types.Range(types.Position(14, 4), types.Position(14, 6)), text="")])
        (diag,) = (await until(lambda: published(client, uri, 4), "v4"))[-1].diagnostics
        assert span(diag.range) == ((14, 4), (15, 31))
        assert (await actions_at(client, uri, diag.range, [diag]))[0].title.startswith("Apply Gemma fix")

        # The flagged lines replaced whole: the diagnostic goes.
        change(client, uri, 5, [types.TextDocumentContentChangePartial(range=types.Range(types.Position(14, 0), types.Position(15, 31)), text="    pass")])
        assert not (await until(lambda: published(client, uri, 5), "v5"))[-1].diagnostics
        assert len(fake_ollama.requests) == 1  # no review while typing (trigger "save")


@by_profile
async def test_settings_from_init_options_and_workspace_configuration(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    init = ollama(fake_ollama, colour="blue", numCtx="lots")
    async with session(profile, streak.parent, init, config={"minConfidence": 0.95}) as client:
        uri = opened(client, streak, STREAK)
        # workspace/configuration is read before the first review: the 0.9-confidence finding is filtered.
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the first review")
        assert not latest(client, uri).diagnostics
        assert logs(client, r"unknown setting 'colour' ignored")
        assert logs(client, r"the editor setting gemma-review\.numCtx must be a whole number, got 'lots'; ignored")
        assert fake_ollama.requests[0]["options"]["num_ctx"] == 8192

        client.set_configuration({"min_confidence": 0.5, "numPredict": 512}, section="gemma-review")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        (diag,) = await until(lambda: client.diagnostics.get(uri), "diagnostics after the configuration change")
        assert fake_ollama.requests[-1]["options"]["num_predict"] == 512
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 2, "the end of the second review")

        # Settings pushed in the notification itself (nested under the section) work too.
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"gemma-review": {"categories": ["security"]}})
        )
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 3, "the third review")
        assert not latest(client, uri).diagnostics


@by_profile
async def test_model_unreachable_or_not_pulled_is_said_once(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    one, two = tmp_path / "streak.py", tmp_path / "other.py"
    one.write_text(STREAK, encoding="utf-8")
    two.write_text("def f():\n    return 1\n", encoding="utf-8")
    dead = f"http://127.0.0.1:{free_port()}"
    async with session(profile, tmp_path, {"host": dead, "backend": "ollama"}) as client:
        opened(client, one, STREAK)
        opened(client, two, two.read_text())
        await until(lambda: len(logs(client, r"ModelUnavailableError")) == 2, "both reviews to fail")
        (shown,) = client.messages
        assert shown.type == types.MessageType.Error
        assert f"cannot reach Ollama at {dead}" in shown.message and "ollama serve" in shown.message
        await until(lambda: client.statuses[-1]["state"] == "unavailable", "the unavailable status")

        push = {"host": fake_ollama.url, "backend": "ollama", "model": "gemma4:absent"}
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=push))
        await until(lambda: len(logs(client, r"ModelNotFoundError")) == 2, "both reviews to fail again")
        assert len(client.messages) == 2 and "run ollama pull gemma4:absent" in client.messages[1].message

        push["model"] = "gemma4:e4b"
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=push))
        await until(lambda: client.diagnostics.get(one.as_uri()), "diagnostics once the model is there")
        await until(lambda: client.statuses[-1]["state"] == "idle", "the idle status")
        assert client.statuses[-1].get("backend") == "ollama"


@by_profile
async def test_utf16_columns_and_bad_requests(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    code = 'def greet(name):\n    banner = "👋🌍 世界"; message = banner + name\n    return message\n'
    flagged = '    banner = "👋🌍 世界"; message = banner + name'
    split = '    banner = "👋🌍 世界"\n    message = banner + name'
    finding = {"line": 2, "end_line": 2, "severity": "warning", "category": "style", "title": "One statement per line",
               "explanation": "Two statements share a line.", "existing_code": flagged, "suggested_code": split,
               "confidence": 0.8}
    fake_ollama.set_reply(json.dumps({"findings": [finding]}))
    path = tmp_path / "greet.py"
    path.write_text(code, encoding="utf-8")
    units = len(flagged.encode("utf-16-le")) // 2
    assert units == len(flagged) + 2  # two emoji outside the BMP
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        uri = opened(client, path, code)
        (diag,) = await until(lambda: client.diagnostics.get(uri), "the diagnostic")
        assert span(diag.range) == ((1, 4), (1, units))
        fix = (await actions_at(client, uri, diag.range, [diag]))[0]
        new_text, _ = apply(code, edits_for(fix.edit, uri, profile, 1))
        assert new_text == code.replace(flagged, split)

        change(client, uri, 2, [insert(1, 0, "🎉")])
        (moved,) = (await until(lambda: published(client, uri, 2), "v2"))[-1].diagnostics
        assert span(moved.range) == ((1, 6), (1, units + 2))

        await bad_requests_get_errors(client, uri)


async def bad_requests_get_errors(client: LanguageClient, uri: str) -> None:
    """Malformed and unexpected requests are answered with LSP errors; the server carries on."""
    with pytest.raises(JsonRpcException) as bad:
        await raw_request(client, "textDocument/codeAction", {"textDocument": 42})
    assert bad.value.code == -32602 and "textDocument/codeAction" in bad.value.message
    with pytest.raises(JsonRpcException) as unknown:
        await raw_request(client, "gemma-review/noSuchMethod", {})
    assert unknown.value.code == -32601
    with pytest.raises(JsonRpcException) as hover:
        await raw_request(client, "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": "x"}})
    assert hover.value.code == -32602
    raw_write(client, b"{not json")  # no id to answer: logged, and the server carries on
    for command, arguments in (("gemma-review.reviewFile", []), ("gemma-review.refactor", ["nope"]), ("no.such", [])):
        with pytest.raises(JsonRpcException):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=arguments))
    with pytest.raises(JsonRpcException):
        await client.code_action_resolve_async(types.CodeAction(title="x", data={"type": "gemma-review.refactor", "uri": uri}))
    assert await actions_at(client, "file:///nowhere/missing.py", point(0)) == []
    assert await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(1, 8)))


@by_profile
async def test_git_reviews_only_lines_that_differ_from_head(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    head = STREAK.replace('    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]\n', FIXED_LINE + "\n")
    path = tmp_path / "streak.py"
    path.write_text(head, encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "add", "streak.py"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-qm", "init"], check=True)
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        # The buffer (unsaved) brings the duplicate-date loop back: only those lines are reviewed.
        uri = opened(client, path, STREAK)
        (diag,) = await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the end of the first review")
        assert span(diag.range) == DIAG_RANGE
        prompt = fake_ollama.requests[0]["messages"][-1]["content"]
        assert [int(m) for m in re.findall(r"^>\s*(\d+) \|", prompt, re.M)] == [13, 14]

        # Back to the HEAD text: nothing differs, nothing is asked, the diagnostic goes.
        change(client, uri, 2, [types.TextDocumentContentChangeWholeDocument(text=head)])
        client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 2, "the review on save")
        assert not latest(client, uri).diagnostics and len(fake_ollama.requests) == 1

        # The commands: the whole file on demand, and the changes (none) again.
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="gemma-review.reviewFile", arguments=[uri]))
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 3, "the whole-file review")
        marked = re.findall(r"^>\s*(\d+) \|", fake_ollama.requests[1]["messages"][-1]["content"], re.M)
        assert len(marked) == len(head.splitlines())
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="gemma-review.reviewChanges", arguments=[uri]))
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 4, "the changes review")
        assert len(fake_ollama.requests) == 2


async def test_the_cli_reuses_what_the_editor_reviewed(fake_ollama: FakeOllama, streak: Path) -> None:
    async with session("visual-studio-code", streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the end of the review (then it is cached)")
    assert len(fake_ollama.requests) == 1
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gemma_review", "review", "streak.py", "--host", fake_ollama.url, "--backend", "ollama",
        "--format", "json", cwd=streak.parent, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await cli.communicate()
    assert cli.returncode == 1  # an error-severity finding
    assert TITLE in out.decode() and len(fake_ollama.requests) == 1


async def test_tcp_transport(fake_ollama: FakeOllama, streak: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "--tcp", "127.0.0.1:0", stderr=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), WAIT)).decode()
        host, port = re.search(r"listening on (\S+):(\d+)", line).groups()
        client = make_client()
        await client.start_tcp(host, int(port))
        await client.initialize_session(
            types.InitializeParams(capabilities=client_capabilities("neovim"), initialization_options=ollama(fake_ollama))
        )
        uri = opened(client, streak, STREAK)
        await until(lambda: client.diagnostics.get(uri), "the streak diagnostic over TCP")
        await client.shutdown_async(None)
        client.exit(None)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
        await client.stop()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_tcp_address_is_one_line_usage_error() -> None:
    done = subprocess.run([*SERVER, "--tcp", "localhost"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["gemma-review: error: --tcp expects HOST:PORT (e.g. 127.0.0.1:2087), got 'localhost'"]



@pytest.mark.parametrize("profile", PROFILES[:1])
async def test_dropped_findings_are_logged_at_the_log_level(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    oracle = fake_ollama.oracle

    def with_junk(body: dict[str, Any]) -> Reply:
        reply = oracle(body)
        doc = json.loads(reply.text if isinstance(reply, Reply) else reply)
        junk = dict(doc["findings"][0], title="Unsure remark", confidence=0.1, category="maintainability")
        doc["findings"].append(junk)
        return Reply(text=json.dumps(doc))

    fake_ollama.set_reply(with_junk)
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = opened(client, streak, STREAK)
        await until(lambda: [p for p in published(client, uri) if p.diagnostics], "diagnostics")
        await until(lambda: logs(client, r"^dropped: "), "the drop log")
        (line,) = [m for m in client.log_messages if m.message.startswith("dropped: ")]
        assert line.type == types.MessageType.Log
        assert "'Unsure remark': below confidence" in line.message
        assert logs(client, r"^explain: 2 raw findings from the model, 1 reported, 1 dropped")


@by_profile
async def test_one_problem_on_six_lines_is_one_diagnostic_with_related_information(
    profile: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """Issue 21 item 7: the six-line whitespace reply is one diagnostic; the other five lines are
    its relatedInformation (both profiles declare the capability), and they move with edits."""
    path = tmp_path / "ws.py"
    path.write_text(WHITESPACE_SOURCE, encoding="utf-8")
    fake_ollama.set_reply(Reply(text=whitespace_reply()))
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        uri = opened(client, path, WHITESPACE_SOURCE)
        await until(lambda: logs(client, r"^reviewed ws\.py"), "the review's end")
        (diag,) = latest(client, uri).diagnostics
        assert diag.range.start.line == 0 and diag.message.startswith("Remove unnecessary whitespace")
        related = diag.related_information or []
        assert [(r.location.uri, r.location.range.start.line) for r in related] == [(uri, n - 1) for n in (3, 6, 7, 8, 9)]
        assert related[0].message == "Also here: Remove unnecessary whitespace"
        assert "Also on" not in diag.message

        change(client, uri, 2, [insert(1, 0, "\n")])  # a line inserted after the first place
        (diag,) = (await until(lambda: published(client, uri, 2), "v2"))[-1].diagnostics
        assert diag.range.start.line == 0
        assert [r.location.range.start.line for r in diag.related_information or []] == [3, 6, 7, 8, 9]
