"""The language server's test client, shared by the language server's test modules.

A pytest-lsp client (Neovim and VS Code profiles) that drives ``gemma-review lsp`` in a
subprocess and keeps what the server publishes; waiting helpers; edits applied the way an
editor applies them; an LSP client's own model of a buffer's lines; a fake-model reply that
flags a marked line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Union, AsyncIterator, Callable

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from tests.fake_ollama import PROMPT_LINE, FakeOllama, Reply, last_user_text

SERVER = [sys.executable, "-m", "gemma_review", "lsp"]
PROFILES = ["neovim", "visual-studio-code"]
TITLE = "Deduplicate dates before counting the streak"
WAIT = 30.0  # generous (CI machines are busy): only a failing test ever waits this long

by_profile = pytest.mark.parametrize("profile", PROFILES)


# --- the client ------------------------------------------------------------------------


def client_converter() -> Any:
    """pygls' converter, reading a code action as the LSP spec does.

    lsprotocol takes any object with a ``command`` key for a ``Command``, so a CodeAction
    that carries both an edit and a command (the server counts an applied fix that way)
    would reach the test as a bare Command. Per the spec, a Command's ``command`` is a
    string and a CodeAction's is an object; VS Code and Neovim read it so.
    """
    converter = default_converter()

    def command_or_action(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)
    return converter


def make_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics (with its version) and status."""
    client = LanguageClient(converter_factory=client_converter)
    register_lsp_features(
        client, {k: v for k, v in DEFAULT_CLIENT_FEATURES.items() if k != types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS}
    )
    client.statuses: list[dict[str, Any]] = []  # type: ignore[misc]
    client.published: list[types.PublishDiagnosticsParams] = []  # type: ignore[misc]
    client.applied: list[types.ApplyWorkspaceEditParams] = []  # type: ignore[misc]

    @client.feature("gemma-review/status")
    def status(ls: LanguageClient, params: Any) -> None:
        # pygls hands unknown notifications' params over as namedtuples.
        client.statuses.append(params._asdict() if hasattr(params, "_asdict") else dict(params))

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.published.append(params)
        client.diagnostics[params.uri] = params.diagnostics

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return client


@contextlib.asynccontextmanager
async def session(
    profile: str, root: Path, init: dict[str, Any] | None = None, config: dict[str, Any] | None = None
) -> AsyncIterator[LanguageClient]:
    client = await ClientServerConfig(server_command=SERVER, client_factory=make_client, server_env=dict(os.environ)).start()
    if config is not None:
        client.set_configuration(config, section="gemma-review")
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(profile),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=init,
            )
        )
        yield client
        if client._server is not None and client._server.returncode is None:
            await asyncio.wait_for(client.shutdown_session(), WAIT)
    finally:
        await stop(client)


async def stop(client: LanguageClient) -> None:
    """Stop the client; a server left running by a failed test is killed, not waited for forever."""
    server = client._server
    if server is not None and server.returncode is None and client.error is None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 5)
    if server is not None and server.returncode is None:
        server.kill()
    await asyncio.wait_for(client.stop(), WAIT)


async def until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def fake_waits(fake: FakeOllama, predicate: Callable[[FakeOllama], bool], what: str) -> None:
    if not await asyncio.to_thread(fake.wait, predicate, WAIT):
        raise AssertionError(f"timed out waiting for the fake model: {what}")


def opened(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text))
    )
    return uri


def published(client: LanguageClient, uri: str, version: int | None = None) -> list[types.PublishDiagnosticsParams]:
    return [p for p in client.published if p.uri == uri and (version is None or p.version == version)]


def latest(client: LanguageClient, uri: str) -> types.PublishDiagnosticsParams | None:
    found = published(client, uri)
    return found[-1] if found else None


def logs(client: LanguageClient, pattern: str) -> list[str]:
    return [m.message for m in client.log_messages if re.search(pattern, m.message)]


def span(rng: types.Range) -> tuple[tuple[int, int], tuple[int, int]]:
    return (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)


async def actions_at(
    client: LanguageClient, uri: str, rng: types.Range, diags: list[types.Diagnostic] | None = None, only: list[str] | None = None
) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=diags or [], only=only),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def point(line: int, character: int = 0) -> types.Range:
    return types.Range(types.Position(line, character), types.Position(line, character))


# --- applying edits the way an editor does (independent of the server's own code) -----------


def _offset(text: str, pos: types.Position) -> int:
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: pos.line])
    line = lines[pos.line] if pos.line < len(lines) else ""
    prefix = line.encode("utf-16-le")[: 2 * pos.character].decode("utf-16-le")
    return start + len(prefix)


def edits_for(edit: types.WorkspaceEdit, uri: str, profile: str, version: int | None) -> list[types.TextEdit]:
    if profile == "visual-studio-code":  # it accepts documentChanges: the edit must be versioned
        assert edit.changes is None and edit.document_changes is not None
        (change,) = edit.document_changes
        assert change.text_document.uri == uri and change.text_document.version == version
        return list(change.edits)
    assert edit.document_changes is None and edit.changes is not None  # Neovim does not declare documentChanges
    return list(edit.changes[uri])


def apply(text: str, edits: list[types.TextEdit]) -> tuple[str, list[types.TextDocumentContentChangePartial]]:
    """New text and the incremental changes an editor would send (last edit first)."""
    changes = []
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        a, b = _offset(text, e.range.start), _offset(text, e.range.end)
        text = text[:a] + e.new_text + text[b:]
        changes.append(types.TextDocumentContentChangePartial(range=e.range, text=e.new_text))
    return text, changes


def change(client: LanguageClient, uri: str, version: int, changes: list[Any]) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes
        )
    )


def insert(line: int, character: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=point(line, character), text=text)


def ollama(fake: FakeOllama, **more: Any) -> dict[str, Any]:
    return {"host": fake.url, "backend": "ollama", **more}


# --- requests the client's own types would refuse to build ----------------------------------


def raw_write(client: LanguageClient, body: bytes) -> None:
    client.protocol.writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


async def raw_request(client: LanguageClient, method: str, params: Any) -> Any:
    """Send a request exactly as given (the client's own types would refuse to build a bad one)."""
    msg_id = f"raw-{method}"
    future: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = future
    raw_write(client, json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode())
    return await asyncio.wait_for(asyncio.wrap_future(future), WAIT)


# --- a client's model of the buffer, written independently of gemma_review.lsp.lines --------------


def client_lines(text: str) -> list[str]:
    """Lines as an LSP client keeps them: scan character by character."""
    out, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            out.append("".join(current))
            current, i = [], i + 2
            continue
        if ch in "\r\n":
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def client_offset(text: str, line: int, character: int) -> int:
    offset = 0
    all_lines = client_lines(text)
    for n in range(min(line, len(all_lines))):
        offset += len(all_lines[n])
        offset += 2 if text.startswith("\r\n", offset) else 1
    if line >= len(all_lines):
        return len(text)
    current = all_lines[line]
    units = current.encode("utf-16-le")[: 2 * character]
    return offset + len(units.decode("utf-16-le", errors="ignore"))


def client_apply(text: str, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
    return text[: client_offset(text, *start)] + new + text[client_offset(text, *end) :]


# --- a fake model that flags the line holding MARK ------------------------------------------

MARK = "# MARK"


def prompt_lines(body: dict[str, Any]) -> dict[int, str]:
    """Numbered code lines of a review prompt, split the way the prompt was joined (on \\n only)."""
    found: dict[int, str] = {}
    for raw in last_user_text(body).split("\n"):
        m = PROMPT_LINE.match(raw)
        if m:
            found[int(m.group(2))] = m.group(3)
    return found


def flag_marked_line(body: dict[str, Any]) -> Reply:
    """One finding on the line holding MARK, at the line number the prompt gives it."""
    numbered = prompt_lines(body)
    hits = [(n, text) for n, text in numbered.items() if MARK in text]
    if not hits:
        return Reply(text=json.dumps({"findings": []}))
    (line, text), = hits
    finding = {
        "line": line, "end_line": line, "severity": "warning", "category": "style", "title": "Say hello",
        "explanation": "A fuller greeting.", "existing_code": text, "suggested_code": text.replace("'hi'", "'hello'"),
        "confidence": 0.9,
    }
    return Reply(text=json.dumps({"findings": [finding]}))
