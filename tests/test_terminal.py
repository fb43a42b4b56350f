"""Model text on a terminal: escape sequences go, the words stay; JSON keeps the data exactly."""

from __future__ import annotations

import json

import pytest

from gemma_review.terminal import encodable, json_escaped, one_line, safe


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[31mred\x1b[0m", "red"),  # SGR colour
        ("a\x1b[2Jb", "ab"),  # clear screen
        ("\x1b]0;window title\x07text", "text"),  # OSC title, BEL-terminated
        ("\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST-terminated
        ("\x9b6nx", "x"),  # C1 CSI (device status report)
        ("\x1bPq#0;2;0;0;0\x1b\\after", "after"),  # DCS (sixel)
        ("ding\x07", "ding"),  # BEL
        ("over\rwrite", "overwrite"),  # a carriage return would overwrite the line
        ("\x1b7saved\x1b8", "saved"),  # two-byte ESC sequences
        ("abc\u202edef\u2066", "abcdef"),  # bidi overrides (Trojan Source)
        ("tab\tand\nnewline", "tab\tand\nnewline"),  # kept: the report's own layout
        ("unterminated \x1b]0;title", "unterminated "),
        ("lone escape \x1b", "lone escape "),
        ("café ✓ 日本", "café ✓ 日本"),
    ],
)
def test_safe(raw: str, shown: str) -> None:
    assert safe(raw) == shown


def test_one_line() -> None:
    assert one_line("error:\n  <html>\x1b[1m500\x1b[0m</html>\n") == "error: <html>500</html>"


def test_encodable_escapes_only_lone_surrogates() -> None:
    assert encodable("ok 😀") == "ok 😀"
    assert encodable("caf\udce9.py") == "caf\\udce9.py"
    encodable("x\ud800y").encode("utf-8")  # no UnicodeEncodeError


def test_json_escaped_keeps_the_data() -> None:
    data = {"title": "\x1b[31m\x9b\u202e\ud800 😀 é"}
    doc = json_escaped(json.dumps(data, ensure_ascii=False))
    assert json.loads(doc) == data
    doc.encode("utf-8")
    assert not any(0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in doc)


def test_internal_error_log_falls_back_when_the_cache_dir_is_unusable(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gemma_review import error_handler
    from gemma_review.errors import EXIT_INTERNAL

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("GEMMA_REVIEW_CACHE_DIR", str(blocker))  # mkdir under a file fails
    monkeypatch.setattr(error_handler.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))

    def crash() -> int:
        raise RuntimeError("\x1b[2Jmissing\nkey")

    assert error_handler.guarded(crash) == EXIT_INTERNAL
    (line,) = capsys.readouterr().err.splitlines()
    log = tmp_path / "tmp" / "gemma-review.log"
    assert line == f"gemma-review: internal error: RuntimeError: missing key; details in {log}"
    assert "RuntimeError" in log.read_text() and "Traceback" in log.read_text()
