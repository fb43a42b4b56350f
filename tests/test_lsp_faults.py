"""The language server under hostile input and faults, end to end (pytest-lsp client, the
server in a subprocess, the fake Ollama server): the protocol's line model through edits,
errors that are one line, requests after shutdown, failed reviews, configuration pushes for
other sections, untitled buffers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_ollama import FakeOllama, Reply, last_user_text
from tests.helpers import STREAK
from tests.lsp_client import (
    MARK,
    WAIT,
    actions_at,
    by_profile,
    change,
    client_apply,
    client_lines,
    edits_for,
    flag_marked_line,
    latest,
    logs,
    ollama,
    prompt_lines,
    published,
    raw_request,
    session,
    span,
    until,
)

REQUEST_FAILED = -32803


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def review_command(client: Any, uri: str, command: str = "gemma-review.reviewFile") -> Any:
    return client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[uri]))


def edit(a: tuple[int, int], b: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(types.Position(*a), types.Position(*b)), text=text)


# The buffer: every kind of line break, and characters str.splitlines() breaks at that LSP does not.
START = (
    "def greet(name):\r\n"
    "    note = 'form\ffeed'\n"
    "    sep = '\u2028'  # a line separator inside a string\n"
    "    wave = '👋'\r"
    "    banner = 'hi'  " + MARK + "\n"
    "    return banner + name\n"
)
# Several incremental edits, each (start, end, new text) in LSP positions of the text before it.
EDITS = [
    ((0, 0), (0, 0), "# top\r"),  # a new first line ending in a lone CR: later lines move down by one
    ((2, 12), (2, 16), "FORM"),  # after the form feed on that line
    ((3, 12), (3, 12), "\u2029"),  # another separator, right after the first one
    ((4, 14), (4, 14), "🙂"),  # after the surrogate pair (UTF-16 column 14 follows 👋)
    ((5, 0), (5, 0), "    pad = 1\r\n    more = 2\f\n"),  # two lines above the marked one, CRLF and LF
]


@by_profile
async def test_the_servers_lines_stay_the_editors_through_edits(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    fake_ollama.set_reply(flag_marked_line)
    path = tmp_path / "greet.py"
    path.write_text(START, encoding="utf-8", newline="")
    async with session(profile, tmp_path, ollama(fake_ollama, trigger="manual")) as client:
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=START))
        )
        text = START
        for version, (a, b, new) in enumerate(EDITS, start=2):
            text = client_apply(text, a, b, new)
            change(client, uri, version, [edit(a, b, new)])
        version = len(EDITS) + 1
        expected = client_lines(text)
        marked = next(n for n, line in enumerate(expected) if MARK in line)
        assert marked == 7 and expected[4] == "    wave = '👋🙂'"

        await review_command(client, uri)
        (diag,) = await until(lambda: [d for p in published(client, uri, version) for d in p.diagnostics], "the finding")
        # The model was shown exactly the editor's lines, numbered as the editor numbers them.
        shown = prompt_lines(fake_ollama.requests[-1])
        assert shown == {n + 1: line for n, line in enumerate(expected) if n + 1 in shown}
        assert sorted(shown) == list(range(1, len(expected) + (0 if expected[-1] else -1) + 1))
        # The diagnostic is on the marked line, in UTF-16 columns.
        assert span(diag.range) == ((marked, 4), (marked, utf16(expected[marked])))

        # The fix, applied by the editor, changes exactly the marked line and nothing else.
        fix = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title.startswith("Apply Gemma fix"))
        (text_edit,) = edits_for(fix.edit, uri, profile, version)
        fixed = client_apply(
            text, (text_edit.range.start.line, text_edit.range.start.character),
            (text_edit.range.end.line, text_edit.range.end.character), text_edit.new_text,
        )
        assert fixed == text.replace("'hi'", "'hello'")

        # "Ignore" goes on its own line above, with the buffer's most common line break.
        ignore = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title == "Ignore this finding")
        (text_edit,) = edits_for(ignore.edit, uri, profile, version)
        assert span(text_edit.range) == ((marked, 0), (marked, 0))
        assert text_edit.new_text == "    # gemma-review: ignore[style]\n"


@by_profile
async def test_a_buffer_with_lone_cr_line_ends_gets_diagnostics_on_the_right_lines(
    profile: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    # Old Mac line ends: git's model sees one line, the editor sees five.
    code = "def greet(name):\r    x = 1\r\r    banner = 'hi'  " + MARK + "\r    return banner\r"
    fake_ollama.set_reply(flag_marked_line)
    path = tmp_path / "greet.py"
    path.write_text(code, encoding="utf-8", newline="")
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=code))
        )
        (diag,) = await until(lambda: client.diagnostics.get(uri), "the finding")
        assert span(diag.range) == ((3, 4), (3, utf16("    banner = 'hi'  " + MARK)))
        fix = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title.startswith("Apply Gemma fix"))
        (text_edit,) = edits_for(fix.edit, uri, profile, 1)
        start, end = text_edit.range.start, text_edit.range.end
        fixed = client_apply(code, (start.line, start.character), (end.line, end.character), text_edit.new_text)
        assert fixed == code.replace("'hi'", "'hello'")
        ignore = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title == "Ignore this finding")
        assert edits_for(ignore.edit, uri, profile, 1)[0].new_text.endswith("ignore[style]\r")

        # A \n typed right after a lone \r joins them into one \r\n: no line is added.
        change(client, uri, 2, [edit((1, 0), (1, 0), "\n")])
        (moved,) = (await until(lambda: published(client, uri, 2), "v2"))[-1].diagnostics
        assert span(moved.range) == span(diag.range)
        # Deleting the only character between a \r and a \n joins two breaks into one.
        change(client, uri, 3, [edit((2, 0), (2, 0), "X\n")])  # "x = 1\rX\n\r": a line more
        (moved,) = (await until(lambda: published(client, uri, 3), "v3"))[-1].diagnostics
        assert moved.range.start.line == 4
        change(client, uri, 4, [edit((2, 0), (2, 1), "")])  # "x = 1\r\n\r": one line fewer
        (moved,) = (await until(lambda: published(client, uri, 4), "v4"))[-1].diagnostics
        assert span(moved.range) == span(diag.range)


@by_profile
async def test_review_file_says_why_a_uri_cannot_be_reviewed(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    (tmp_path / "image.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.py").write_bytes("name = 'Jos\xe9'\n".encode("latin-1"))
    (tmp_path / "folder").mkdir()
    cases = [
        ((tmp_path / "missing.py").as_uri(), "no such file"),
        ((tmp_path / "image.py").as_uri(), "binary"),
        ((tmp_path / "latin1.py").as_uri(), "not valid UTF-8"),
        ((tmp_path / "folder").as_uri(), "is a directory"),
        ("https://example.invalid/code.py", "not a file: URI"),
        ("untitled:Untitled-9", "not a file: URI"),  # an untitled buffer the editor has not opened
    ]
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        for uri, reason in cases:
            for command in ("gemma-review.reviewFile", "gemma-review.reviewChanges"):
                with pytest.raises(JsonRpcException) as failed:
                    await review_command(client, uri, command)
                error = failed.value
                assert error.code == REQUEST_FAILED, (uri, error)
                assert reason in error.message and "\n" not in error.message and "Traceback" not in error.message
                assert error.data is None
        # Nothing was sent to the model; the server still works.
        assert fake_ollama.requests == []
        good = tmp_path / "good.py"
        good.write_text(STREAK, encoding="utf-8")
        await review_command(client, good.as_uri())
        await until(lambda: logs(client, r"^reviewed good\.py"), "the review of a readable file")


@by_profile
async def test_requests_after_shutdown_get_invalid_request(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        await asyncio.wait_for(client.shutdown_async(None), WAIT)
        for method, params in (
            ("textDocument/hover", {"textDocument": {"uri": (tmp_path / "a.py").as_uri()}, "position": {"line": 0, "character": 0}}),
            ("shutdown", None),
            ("textDocument/codeAction", {"textDocument": 42}),  # malformed as well
        ):
            with pytest.raises(JsonRpcException) as refused:
                await raw_request(client, method, params)
            assert refused.value.code == -32600 and "shutting down" in refused.value.message
        client.exit(None)
        assert await asyncio.wait_for(client._server.wait(), WAIT) == 0


@by_profile
async def test_a_failed_review_keeps_the_previous_still_valid_diagnostics(
    profile: str, fake_ollama: FakeOllama, streak: Path
) -> None:
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = streak.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STREAK))
        )
        (first,) = await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the end of the first review")

        # The text changes (so the cache cannot answer) below the finding, which stays valid.
        end = len(STREAK.split("\n")) - 1
        change(client, uri, 2, [edit((end, 0), (end, 0), "# edited\n")])
        await until(lambda: published(client, uri, 2), "the moved diagnostics of v2")
        # A second review finds something else, then the model server fails mid-stream.
        other = {"line": 1, "end_line": 1, "severity": "info", "category": "maintainability", "title": "Another finding",
                 "explanation": "x", "existing_code": STREAK.split("\n")[0], "suggested_code": "", "confidence": 0.9}
        fake_ollama.set_reply(Reply(text=json.dumps({"findings": [other]}), stream_error="model runner crashed"))
        await review_command(client, uri)
        await until(lambda: logs(client, r"streak\.py: \w*Error"), "the review to fail")
        titles = sorted(d.message.split("\n")[0] for d in latest(client, uri).diagnostics)
        assert titles == ["Another finding", first.message.split("\n")[0]]
        assert span(next(d for d in latest(client, uri).diagnostics if d.message == first.message).range) == span(first.range)

        # A review that fails before it finds anything publishes nothing; the finding stays.
        fake_ollama.set_reply(Reply(status=500, error="boom"))
        change(client, uri, 3, [edit((end, 0), (end, 0), "# edited again\n")])
        await until(lambda: published(client, uri, 3), "the moved diagnostics of v3")
        before = len(published(client, uri))
        await review_command(client, uri)
        await until(lambda: len(logs(client, r"streak\.py: \w*Error")) == 2, "the second failure")
        assert len(published(client, uri)) == before

        # A review that ends well replaces them all.
        fake_ollama.set_reply(fake_ollama.oracle)
        await review_command(client, uri)
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 2, "a good review")
        assert [d.message for d in latest(client, uri).diagnostics] == [first.message]


@by_profile
async def test_a_cancelled_review_keeps_the_previous_diagnostics(profile: str, fake_ollama: FakeOllama, streak: Path) -> None:
    async with session(profile, streak.parent, ollama(fake_ollama)) as client:
        uri = streak.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STREAK))
        )
        (first,) = await until(lambda: client.diagnostics.get(uri), "the streak diagnostic")
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the end of the first review")
        # The next review streams a different finding, then keeps writing (blank padding).
        other = {"line": 1, "end_line": 1, "severity": "info", "category": "maintainability", "title": "Another finding",
                 "explanation": "x", "existing_code": STREAK.split("\n")[0], "suggested_code": "", "confidence": 0.9}
        padding = dict(other, title="padding", existing_code="no such line anywhere", explanation=" " * 8000)
        fake_ollama.set_reply(Reply(text=json.dumps({"findings": [other, padding]}), tokens_per_second=200, chunk_chars=4))
        end = len(STREAK.split("\n")) - 1
        change(client, uri, 2, [edit((end, 0), (end, 0), "# v2\n")])  # new text: the cache cannot answer
        await review_command(client, uri)
        await until(lambda: any(len(p.diagnostics) == 2 for p in published(client, uri, 2)), "the new finding")
        change(client, uri, 3, [edit((0, 0), (0, 0), "\n")])  # the user types: the review is stale
        await asyncio.to_thread(fake_ollama.wait, lambda f: f.cancelled == 1, WAIT)
        await until(lambda: published(client, uri, 3), "v3")
        moved = {d.message.split("\n")[0]: d.range.start.line for d in latest(client, uri).diagnostics}
        assert moved == {"Another finding": 1, first.message.split("\n")[0]: first.range.start.line + 1}


@by_profile
async def test_configuration_changes_of_other_sections_do_not_review_again(
    profile: str, fake_ollama: FakeOllama, streak: Path
) -> None:
    async with session(profile, streak.parent, ollama(fake_ollama), config={"minConfidence": 0.5}) as client:
        uri = streak.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STREAK))
        )
        await until(lambda: logs(client, r"^reviewed streak\.py"), "the first review")
        for settings in ({"python": {"analysis": {"typeCheckingMode": "strict"}}}, None, {"editor": {"tabSize": 2}}):
            unchanged = len(logs(client, r"settings unchanged"))
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))
            await until(lambda: len(logs(client, r"settings unchanged")) > unchanged, "the server to read the change")
        assert len(fake_ollama.requests) == 1 and len(logs(client, r"^reviewed streak\.py")) == 1

        # A change of ours still reviews the open files again.
        client.set_configuration({"minConfidence": 0.95}, section="gemma-review")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await until(lambda: len(logs(client, r"^reviewed streak\.py")) == 2, "the review after our setting changed")
        assert not latest(client, uri).diagnostics


@by_profile
async def test_an_untitled_buffer_is_reviewed_in_its_language(profile: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    fake_ollama.set_reply(flag_marked_line)
    code = "def greet(name):\n    banner = 'hi'  " + MARK + "\n    return banner + name\n"
    async with session(profile, tmp_path, ollama(fake_ollama)) as client:
        uri = "untitled:Untitled-1"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=code))
        )
        (diag,) = await until(lambda: client.diagnostics.get(uri), "the finding in the untitled buffer")
        assert span(diag.range) == ((1, 4), (1, utf16("    banner = 'hi'  " + MARK)))
        prompt = last_user_text(fake_ollama.requests[-1])
        assert re.search(r"^File: Untitled-1\.py \(python\)", prompt, re.M), prompt[:200]
        ignore = next(a for a in await actions_at(client, uri, diag.range, [diag]) if a.title == "Ignore this finding")
        assert edits_for(ignore.edit, uri, profile, 1)[0].new_text == "    # gemma-review: ignore[style]\n"
        # The command works on it too: it is open, so it is read from the editor.
        await review_command(client, uri)
        await until(lambda: len(logs(client, r"^reviewed Untitled-1\.py")) == 2, "the review by command")


def test_an_unexpected_exception_is_answered_in_one_line_without_a_traceback() -> None:
    from gemma_review.lsp.server import build_server

    server = build_server()
    sent: list[Any] = []
    server.protocol._send_data = sent.append  # type: ignore[method-assign]

    @server.feature("gemma-review/crashForTest")
    def crash(ls: Any, params: Any) -> None:
        raise KeyError("the 'x' key\nsecond line")

    message = server.protocol.structure_message({"jsonrpc": "2.0", "id": 7, "method": "gemma-review/crashForTest", "params": {}})
    server.protocol.handle_message(message)
    (response,) = [m for m in sent if getattr(m, "id", None) == 7]
    assert response.error.code == -32603 and response.error.data is None
    assert response.error.message.startswith("internal error: KeyError:") and "\n" not in response.error.message
    assert "details in the gemma-review server log" in response.error.message


async def test_lone_cr_lines_compare_with_head_line_for_line(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    """In git, the buffer and HEAD are read with the same line model: an unchanged file with
    old Mac line endings has no changed lines, and one edited line is the only one reviewed."""
    import subprocess

    code = "def greet(name):\r    x = 1\r    banner = 'hi'  " + MARK + "\r    return banner\r"
    path = tmp_path / "greet.py"
    path.write_bytes(code.encode())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", "-C", str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "greet.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    fake_ollama.set_reply(flag_marked_line)
    async with session("visual-studio-code", tmp_path, ollama(fake_ollama)) as client:
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=code))
        )
        await until(lambda: logs(client, r"^reviewed greet\.py"), "the review on open")
        assert fake_ollama.requests == [] and not latest(client, uri).diagnostics

        change(client, uri, 2, [edit((2, 4), (2, 4), "my_")])  # line 3 now differs from HEAD
        await review_command(client, uri, "gemma-review.reviewChanges")
        (diag,) = await until(lambda: [d for p in published(client, uri, 2) for d in p.diagnostics], "the finding")
        assert diag.range.start.line == 2
        changed = [n for n in prompt_lines(fake_ollama.requests[-1]) if re.search(rf"^>\s*{n} \|", last_user_text(fake_ollama.requests[-1]), re.M)]
        assert changed == [3]
