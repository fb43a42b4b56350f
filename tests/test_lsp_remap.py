"""Whole-document changes of large documents: their findings are moved in a worker thread,
never on the event loop, and a result overtaken by a newer version is dropped.

End to end through pytest-lsp (the server in a subprocess, the fake Ollama server), and in
process, where the test can see which thread matched the lines and hold one back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from lsprotocol import types

from gemma_review.findings import Finding
from gemma_review.lsp import diagnostics
from gemma_review.lsp import server as lsp_server
from gemma_review.lsp import sync as lsp_sync
from tests.fake_ollama import FakeOllama
from tests.lsp_client import MARK, by_profile, change, flag_marked_line, ollama, published, session, until

BIG = 20_000  # lines: four times the threshold, the size issue 14 measured
MARKED = 15_000  # 0-based line of the finding, far below the inserted lines


def big_text(marked: bool) -> str:
    """Mostly distinct statements, with the blank lines and repeats real files have."""
    out: list[str] = []
    for i in range(BIG):
        if i == MARKED:
            out.append("greeting = 'hi'" + (f"  {MARK}" if marked else ""))
        elif i % 10 == 9:
            out.append("")
        elif i % 10 == 5:
            out.append("total = total + 1")
        else:
            out.append(f"value_{i} = {i}")
    return "\n".join(out) + "\n"


def header(count: int) -> str:
    return "".join(f"# inserted {n}\n" for n in range(count))


def whole(text: str) -> types.TextDocumentContentChangeWholeDocument:
    return types.TextDocumentContentChangeWholeDocument(text=text)


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    """A 20,000-line file in git whose buffer differs from HEAD on the marked line only,
    so the review on open asks the model about that one region."""
    path = tmp_path / "big.py"
    path.write_text(big_text(marked=False), encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", "-C", str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "big.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def settings(fake: FakeOllama) -> dict[str, Any]:
    return ollama(fake, maxFileBytes=0)  # the big file is over the default size limit


async def open_big(client: Any, path: Path) -> tuple[str, types.Diagnostic]:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=big_text(True)))
    )
    (diag,) = await until(lambda: [d for p in published(client, uri, 1) for d in p.diagnostics], "the finding on the big file")
    assert diag.range.start.line == MARKED
    return uri, diag


@by_profile
async def test_a_whole_document_change_of_20k_lines_moves_the_finding(
    profile: str, fake_ollama: FakeOllama, big_repo: Path
) -> None:
    fake_ollama.set_reply(flag_marked_line)
    async with session(profile, big_repo.parent, settings(fake_ollama)) as client:
        uri, diag = await open_big(client, big_repo)
        change(client, uri, 2, [whole(header(7) + big_text(True))])
        (moved,) = (await until(lambda: published(client, uri, 2), "diagnostics for version 2"))[-1].diagnostics
        assert moved.range.start.line == MARKED + 7 and moved.range.end.line == diag.range.end.line + 7
        assert (moved.range.start.character, moved.range.end.character) == (diag.range.start.character, diag.range.end.character)
        # The fix still applies, at the new place.
        assert moved.data["fix"]["start_line"] == MARKED + 7 + 1
        assert len(fake_ollama.requests) == 1  # moved, not reviewed again (trigger "save")


@pytest.mark.parametrize("profile", ["visual-studio-code"])
async def test_two_quick_changes_never_end_on_the_older_position(
    profile: str, fake_ollama: FakeOllama, big_repo: Path
) -> None:
    fake_ollama.set_reply(flag_marked_line)
    async with session(profile, big_repo.parent, settings(fake_ollama)) as client:
        uri, _ = await open_big(client, big_repo)
        # Sent back to back: the second arrives while the first is (very likely) still being matched.
        change(client, uri, 2, [whole(header(3) + big_text(True))])
        change(client, uri, 3, [whole(header(8) + big_text(True))])
        await until(lambda: published(client, uri, 3), "diagnostics for version 3")
        # A ranged edit after them is moved by its range, from the newest position.
        change(client, uri, 4, [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(0, 0), types.Position(0, 0)), text="# one more\n")])
        await until(lambda: published(client, uri, 4), "diagnostics for version 4")
    # The session is over (the server has exited): this is every publication there will be.
    after_open = [p for p in published(client, uri) if p.version and p.version > 1]
    versions = [p.version for p in after_open]
    assert versions == sorted(versions), f"an older version was published after a newer one: {versions}"
    assert versions[-1] == 4 and 2 not in versions[versions.index(3):]
    lines = {p.version: [d.range.start.line for d in p.diagnostics] for p in after_open}
    assert lines[3] == [MARKED + 8] and lines[4] == [MARKED + 9]
    assert lines.get(2, [MARKED + 3]) == [MARKED + 3]


# --- in process: which thread matched the lines, and a result held back on purpose ------------


class Sink:
    """Where the in-process server writes its messages."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict[str, Any]]:
        out, rest = [], self.data
        while rest:
            head, _, rest = rest.partition(b"\r\n\r\n")
            length = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
            out.append(json.loads(rest[:length]))
            rest = rest[length:]
        return out

    def published(self) -> list[dict[str, Any]]:
        return [m["params"] for m in self.messages() if m.get("method") == "textDocument/publishDiagnostics"]


class InProcess:
    """The server object on this test's event loop, fed messages directly (no review runs:
    the client never says ``initialized``, so reviews wait for settings)."""

    def __init__(self, tmp_path: Path) -> None:
        self.server = lsp_server.build_server()
        self.sink = Sink()
        self.server.protocol.set_writer(self.sink)  # type: ignore[arg-type]
        self.uri = (tmp_path / "doc.py").as_uri()
        self.root = tmp_path.as_uri()

    def send(self, method: str, params: dict[str, Any], msg_id: int | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if msg_id is not None:
            message["id"] = msg_id
        self.server.protocol.handle_message(self.server.protocol.structure_message(message))

    def start(self, text: str, marked_line: int) -> None:
        self.send("initialize", {"capabilities": {}, "rootUri": self.root, "processId": None}, msg_id=1)
        self.send("textDocument/didOpen", {"textDocument": {"uri": self.uri, "languageId": "python", "version": 1, "text": text}})
        state = self.server.docs[self.uri]
        line = state.lines[marked_line]
        found = Finding(
            path="doc.py", line=marked_line + 1, end_line=marked_line + 1, column=1, end_column=len(line) + 1,
            severity="warning", category="style", title="Say hello", explanation="", existing_code=line,
            suggested_code="", confidence=0.9, fingerprint="fp",
        )
        state.findings = [diagnostics.live(found, state.lines)]

    def replace(self, version: int, text: str) -> None:
        self.send("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": version}, "contentChanges": [{"text": text}],
        })

    def lines_published(self) -> list[tuple[int, list[int]]]:
        return [(p["version"], [d["range"]["start"]["line"] for d in p["diagnostics"]]) for p in self.sink.published()]


def small_text(count: int = 50) -> str:
    return "".join(f"x_{i} = {i}\n" for i in range(count))


def record_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    threads: list[int] = []
    real: Callable[[list[str], list[str]], dict[int, int]] = diagnostics.line_mapping

    def spy(old: list[str], new: list[str]) -> dict[int, int]:
        threads.append(threading.get_ident())
        return real(old, new)

    monkeypatch.setattr(diagnostics, "line_mapping", spy)
    return threads


async def test_a_large_document_is_remapped_off_the_event_loop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lsp_sync, "REMAP_OFF_LOOP_LINES", 20)  # the 50-line document counts as large
    threads = record_threads(monkeypatch)
    doc = InProcess(tmp_path)
    doc.start(small_text(), marked_line=30)
    doc.replace(2, "# new\n# lines\n" + small_text())
    # Nothing is published by the handler itself: the lines are being matched elsewhere.
    assert doc.lines_published() == []
    assert doc.server.docs[doc.uri].findings == []  # held back: their ranges are on the old text
    await until(lambda: doc.lines_published(), "the moved diagnostics")
    assert doc.lines_published() == [(2, [32])]
    assert len(threads) == 1 and threads[0] != threading.get_ident(), "the remap ran on the event loop's thread"


async def test_a_small_document_is_remapped_at_once_on_the_loop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    threads = record_threads(monkeypatch)
    doc = InProcess(tmp_path)
    doc.start(small_text(), marked_line=30)
    doc.replace(2, "# new\n" + small_text())
    assert doc.lines_published() == [(2, [31])]  # within the handler, no await
    assert threads == [threading.get_ident()]


async def test_a_remap_overtaken_by_a_newer_version_is_dropped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lsp_sync, "REMAP_OFF_LOOP_LINES", 20)
    real = diagnostics.line_mapping
    release = threading.Event()
    calls: list[int] = []

    def first_one_slow(old: list[str], new: list[str]) -> dict[int, int]:
        calls.append(len(new))
        if len(calls) == 1:
            release.wait(30)  # held until the newer version's result is out
        return real(old, new)

    monkeypatch.setattr(diagnostics, "line_mapping", first_one_slow)
    doc = InProcess(tmp_path)
    doc.start(small_text(), marked_line=30)
    try:
        doc.replace(2, "# a\n" + small_text())
        doc.replace(3, "# a\n# b\n# c\n" + small_text())
        await until(lambda: doc.lines_published(), "the newer version's diagnostics")
        assert doc.lines_published() == [(3, [33])]
    finally:
        release.set()
    pending = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.endswith("remap_off_loop")]  # type: ignore[union-attr]
    await asyncio.wait_for(asyncio.gather(*pending), 30)  # the older one has finished, and published nothing
    assert calls == [52, 54]  # line counts of versions 2 and 3 (the text ends with a break: one more)
    assert doc.lines_published() == [(3, [33])]
    assert [i.range.start.line for i in doc.server.docs[doc.uri].findings] == [33]


async def test_a_ranged_edit_while_a_remap_runs_matches_from_the_held_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The held findings are on the text before the first change, which the edit's range
    does not refer to: the server matches lines from that text to the newest one."""
    monkeypatch.setattr(lsp_sync, "REMAP_OFF_LOOP_LINES", 20)
    real = diagnostics.line_mapping
    release = threading.Event()
    calls: list[int] = []

    def first_one_slow(old: list[str], new: list[str]) -> dict[int, int]:
        calls.append(len(old))
        if len(calls) == 1:
            release.wait(30)
        return real(old, new)

    monkeypatch.setattr(diagnostics, "line_mapping", first_one_slow)
    doc = InProcess(tmp_path)
    doc.start(small_text(), marked_line=30)
    try:
        doc.replace(2, "# a\n" + small_text())
        doc.send("textDocument/didChange", {
            "textDocument": {"uri": doc.uri, "version": 3},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                                "text": "# b\n# c\n"}],
        })
        await until(lambda: doc.lines_published(), "the diagnostics of version 3")
    finally:
        release.set()
    assert calls == [51, 51]  # both from the 51 lines the findings were on, not from version 2's 52
    assert doc.lines_published() == [(3, [33])]
