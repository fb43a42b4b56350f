"""The language server's line model (only \\n, \\r\\n and \\r end a line) without a client:
splitting, offsets, incremental edits on the server's copy of a buffer, and what the engine
is given."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types
from pygls.workspace import TextDocument

from gemma_review.textfile import split_lines
from gemma_review.lsp import lines, positions
from gemma_review.lsp.documents import LspTextDocument, LspWorkspace, replace_workspace
from tests.lsp_client import client_apply, client_lines, client_offset

# Characters str.splitlines() breaks at that LSP does not.
NOT_BREAKS = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


# --- splitting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a", ""]),
        ("a\r\nb", ["a", "b"]),
        ("a\rb\r", ["a", "b", ""]),
        ("a\r\rb", ["a", "", "b"]),
        ("a\n\rb", ["a", "", "b"]),  # LF then CR: two breaks, not one
        ("a\r\n\nb", ["a", "", "b"]),
        ("x😀\ny", ["x😀", "y"]),
    ],
)
def test_lines_end_only_at_lf_crlf_and_cr(text: str, expected: list[str]) -> None:
    assert lines.split(text) == expected == client_lines(text)
    assert positions.split_lsp_lines(text) == expected
    assert "".join(lines.split_keepends(text)) == text
    assert len(lines.split_keepends(text)) == len(expected) - (1 if text.endswith(("\n", "\r")) or not text else 0)


@pytest.mark.parametrize("char", NOT_BREAKS)
def test_form_feed_and_unicode_separators_are_not_line_breaks(char: str) -> None:
    text = f"one{char}still one\ntwo"
    assert lines.split(text) == [f"one{char}still one", "two"]
    assert len(text.splitlines()) == 3  # what pygls' own TextDocument.lines would have counted
    assert LspTextDocument("file:///t.py", text).lines == (f"one{char}still one\n", "two")


@pytest.mark.parametrize(
    ("text", "newline"),
    [("a\nb", "\n"), ("a\r\nb\r\n", "\r\n"), ("a\rb\r", "\r"), ("plain", "\n"), ("a\r\nb\nc\r\n", "\r\n"), ("a\nb\rc\r", "\r")],
)
def test_new_lines_use_the_buffers_most_common_break(text: str, newline: str) -> None:
    assert lines.newline_of(text) == newline


# --- offsets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "character", "offset"),
    [
        ("ab\r\ncd", 0, 2, 2),
        ("ab\r\ncd", 0, 99, 2),  # past the end of a line: its end, never between \r and \n
        ("ab\r\ncd", 1, 1, 5),
        ("ab\rcd", 1, 0, 3),
        ("a\fb\nc", 1, 0, 4),
        ("a\u2028b\nc", 0, 3, 3),
        ("😀x\ny", 0, 2, 1),  # UTF-16: the emoji is two units
        ("😀x\ny", 0, 3, 2),
        ("ab", 5, 0, 2),  # past the last line: the end of the text
        ("ab\n", 1, 0, 3),
    ],
)
def test_offsets_of_positions(text: str, line: int, character: int, offset: int) -> None:
    assert lines.offset_at(text, line, character) == offset


# --- incremental edits: the server's copy stays the client's --------------------------------


def test_an_edit_after_a_form_feed_or_separator_lands_where_the_client_put_it() -> None:
    text = "a = '\f'\nb = 1\nc = '\u2028'\nd = 2\n"
    edit = types.TextDocumentContentChangePartial(range=types.Range(types.Position(3, 4), types.Position(3, 5)), text="42")
    expected = "a = '\f'\nb = 1\nc = '\u2028'\nd = 42\n"
    ours = LspTextDocument("file:///t.py", text)
    ours.apply_change(edit)
    assert ours.source == expected
    stock = TextDocument("file:///t.py", text)  # pygls' own document splices by splitlines()
    stock.apply_change(edit)
    assert stock.source != expected


ALPHABET = ["a", "b", " ", "\n", "\r", "\r\n", "\f", "\v", "\u2028", "\u2029", "\x85", "😀", "é", "\t"]


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def random_position(rng: random.Random, text: str) -> tuple[int, int]:
    all_lines = client_lines(text)
    line = rng.randrange(len(all_lines) + 1)  # sometimes past the last line
    width = len(all_lines[line].encode("utf-16-le")) // 2 if line < len(all_lines) else 0
    character = rng.randrange(width + 3)  # sometimes past the end of the line
    if line < len(all_lines):
        # A client never sends a column inside a surrogate pair.
        units = all_lines[line].encode("utf-16-le")[: 2 * character]
        character = len(units.decode("utf-16-le", errors="ignore").encode("utf-16-le")) // 2 if character <= width else character
    return line, character


@pytest.mark.parametrize("seed", range(20))
def test_random_incremental_edits_keep_the_server_copy_equal_to_the_clients(seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng, 40)
    doc = LspTextDocument("file:///t.py", text)
    for _ in range(60):
        a, b = sorted([random_position(rng, text), random_position(rng, text)])
        new = random_text(rng, rng.randrange(6))
        text = client_apply(text, a, b, new)
        doc.apply_change(
            types.TextDocumentContentChangePartial(range=types.Range(types.Position(*a), types.Position(*b)), text=new)
        )
        assert doc.source == text
        assert [ln.rstrip("\r\n") for ln in doc.lines] == client_lines(text)[: len(doc.lines)]
        assert doc.offset_at_position(types.Position(*b)) == client_offset(text, *b) or b[0] >= len(client_lines(text))


def test_the_workspace_makes_line_model_documents_and_keeps_its_setup() -> None:
    folder = types.WorkspaceFolder(uri="file:///w", name="w")
    old = LspWorkspace("file:///w", types.TextDocumentSyncKind.Incremental, [folder])
    new = replace_workspace(old)
    assert new.root_uri == "file:///w" and list(new.folders.values()) == [folder]
    new.put_text_document(types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text="x\fy\n"))
    assert isinstance(new.get_text_document("file:///w/a.py"), LspTextDocument)


# --- what the engine is given -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a\rb\r\nc\nd", "x\r", "\r\r\n\r", "a\fb\u2028c\rd\n", "😀\r😀\r\n", "no break"],
)
def test_the_engine_numbers_lines_as_the_protocol_does(text: str) -> None:
    engine = split_lines(lines.for_engine(text))
    protocol = lines.split(text)
    if protocol[-1] == "" and len(protocol) > 1:
        protocol = protocol[:-1]  # git does not count the empty line after a final break
    assert engine == protocol


@pytest.mark.parametrize(
    ("uri", "language_id", "name"),
    [
        ("untitled:Untitled-1", "python", "Untitled-1.py"),
        ("untitled:Untitled-2", "typescriptreact", "Untitled-2.tsx"),
        ("untitled:Untitled-3", "plaintext", "Untitled-3"),
        ("untitled:/tmp/scratch.py", "python", "scratch.py"),
        ("untitled:notes.js", "python", "notes.js.py"),
        ("untitled:Untitled-4", None, "Untitled-4"),
    ],
)
def test_untitled_buffers_are_named_for_their_language(uri: str, language_id: str | None, name: str) -> None:
    from gemma_review.lsp.engines import untitled_name

    assert untitled_name(uri, language_id) == name
