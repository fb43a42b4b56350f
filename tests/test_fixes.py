"""Fixes: re-indentation, syntax checks, text edits that keep line endings, safe writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gemma_review.findings import Fix
from gemma_review.fixes import apply_fixes, apply_to_text, make_fix, parses, reindent, unified_diff
from gemma_review.textfile import content_hash
from tests.helpers import finding

METHOD = ["        if amount <= 0:", "            raise ValueError(amount)"]
TABBED = ["\tif x > 0 {", "\t\treturn x", "\t}"]


@pytest.mark.parametrize(
    "suggested, original, expected",
    [
        # Model lost all indentation: re-based on the original's.
        ("if amount < 0:\n    raise ValueError(amount)", METHOD, ["        if amount < 0:", "            raise ValueError(amount)"]),
        # Model kept the exact indentation.
        ("        if amount < 0:\n            raise ValueError(amount)", METHOD, ["        if amount < 0:", "            raise ValueError(amount)"]),
        # Model indented by a different amount: still relative.
        ("  if amount < 0:\n      raise ValueError(amount)", METHOD, ["        if amount < 0:", "            raise ValueError(amount)"]),
        # One delta for every line: the suggestion's own relative indentation is never changed,
        # even when it looks like the model stripped only the first line.
        ("if amount < 0:\n            raise ValueError(amount)", METHOD, ["        if amount < 0:", "                    raise ValueError(amount)"]),
        (
            "total = 0\n    for x in xs:\n        total += x",
            ["    total = sum(xs)"],
            ["    total = 0", "        for x in xs:", "            total += x"],
        ),
        # Two absolute levels kept by the model: the least-indented line meets the least-indented
        # replaced line, so nothing is shifted twice.
        ("        s += x\n    return s / n", ["        s += x", "    return s"], ["        s += x", "    return s / n"]),
        ("    s += x\nreturn s / n", ["        s += x", "    return s"], ["        s += x", "    return s / n"]),
        # Spaces in a file that indents with tabs, tabs in a file that indents with spaces.
        ("\tif a:\n\t\tb()", ["    if a:", "        b()"], ["    if a:", "        b()"]),
        # Dedented block whose body sits one level in: at a 4-space base the body must go deeper.
        (
            "if amount < 0:\n    raise ValueError(amount)",
            ["    if amount <= 0:", "        raise ValueError(amount)"],
            ["    if amount < 0:", "        raise ValueError(amount)"],
        ),
        (
            "for (const x of xs) {\n  total += x;\n}",
            ["  for (let i = 0; i < xs.length; i++) {", "    total += xs[i];", "  }"],
            ["  for (const x of xs) {", "    total += x;", "  }"],
        ),
        # Blank lines around the suggestion dropped, blank lines inside kept (without spaces).
        ("\n\nif a:\n\n    b()\n\n", ["    if a:", "        b()"], ["    if a:", "", "        b()"]),
        # Tabs: a tab-indented file stays tab-indented whatever the model used.
        ("if x > 0 {\n    return x\n}", TABBED, ["\tif x > 0 {", "\t\treturn x", "\t}"]),
        ("if x > 0 {\n  return x\n}", TABBED, ["\tif x > 0 {", "\t\treturn x", "\t}"]),
        ("if x > 0 {\n\treturn x\n}", TABBED, ["\tif x > 0 {", "\t\treturn x", "\t}"]),
        ("\tif x > 0 {\n\t\treturn x\n\t}", TABBED, ["\tif x > 0 {", "\t\treturn x", "\t}"]),
        # Top-level code: nothing to add.
        ("x = 2\ny = 3", ["x = 1"], ["x = 2", "y = 3"]),
        ("return y  ", ["    return x"], ["    return y"]),
        ("a = 1\r\nb = 2\r\n", ["    a = 0"], ["    a = 1", "    b = 2"]),
        ("", ["    a = 0"], []),
        ("\n  \n", ["    a = 0"], []),
    ],
)
def test_reindent(suggested: str, original: list[str], expected: list[str]) -> None:
    assert reindent(suggested, original) == expected


PY = "def f(amount):\n    if amount <= 0:\n        raise ValueError(amount)\n    return amount\n"
JS = "function f(a) {\n  if (a <= 0) {\n    throw new Error(a);\n  }\n  return a;\n}\n"
GO = "package p\n\nfunc F(a int) int {\n\tif a <= 0 {\n\t\tpanic(a)\n\t}\n\treturn a\n}\n"


@pytest.mark.parametrize(
    "path, text, line, end, suggested, ok",
    [
        ("a.py", PY, 2, 3, "if amount < 0:\n    raise ValueError(amount)", True),
        ("a.py", PY, 2, 3, "if amount < 0\n    raise ValueError(amount)", False),  # missing colon
        ("a.py", PY, 2, 3, "if amount < 0:\nraise ValueError(amount)", False),  # body lost its indent
        ("a.py", PY, 4, 4, "return (amount", False),
        ("a.js", JS, 2, 4, "if (a < 0) {\n  throw new Error(a);\n}", True),
        ("a.js", JS, 2, 4, "if (a < 0) {\n  throw new Error(a);", False),  # unbalanced brace
        ("a.js", JS, 5, 5, "return a +;", False),
        ("a.go", GO, 4, 6, "if a < 0 {\n\tpanic(a)\n}", True),
        ("a.go", GO, 4, 6, "if a < 0 {\n\tpanic(a)", False),
        ("a.go", GO, 7, 7, "return a)", False),
        ("notes.txt", "a\nb\n", 1, 1, "((( not code", True),  # no grammar: nothing to check
    ],
)
def test_make_fix_checks_syntax(path: str, text: str, line: int, end: int, suggested: str, ok: bool) -> None:
    fix = make_fix(finding(line, end, path=path, suggested_code=suggested), text)
    if not ok:
        assert fix is None
        return
    assert fix is not None
    assert (fix.start_line, fix.end_line, fix.content_hash) == (line, end, content_hash(text))
    after, applied = apply_to_text(text, [fix])
    assert applied == 1
    assert parses({"a.py": "python", "a.js": "javascript", "a.go": "go"}.get(path), path, text, after)


def test_make_fix_on_a_file_that_was_already_broken() -> None:
    broken = "def f(:\n    x = 1\n    return x\n"
    fix = make_fix(finding(2, 2, path="b.py", suggested_code="x = 2"), broken)
    assert fix is not None and fix.replacement == "    x = 2"


@pytest.mark.parametrize("suggested", ["", "   ", "\n\n", "    raise ValueError(amount)", "raise ValueError(amount)  "])
def test_no_fix_for_empty_or_identical_suggestion(suggested: str) -> None:
    assert make_fix(finding(3, 3, path="a.py", suggested_code=suggested), PY) is None


def test_fix_that_deletes_lines() -> None:
    text = "def f():\n    x = 1\n    x = 1\n    return x\n"
    # Replacing two duplicated lines by one is a real fix; the replacement is whole lines.
    fix = make_fix(finding(2, 3, path="d.py", suggested_code="x = 1"), text)
    assert fix is not None
    assert apply_to_text(text, [fix]) == ("def f():\n    x = 1\n    return x\n", 1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a\nb\nc\n", "a\nB1\nB2\nc\n"),
        ("a\r\nb\r\nc\r\n", "a\r\nB1\r\nB2\r\nc\r\n"),  # CRLF kept
        ("a\nb\nc", "a\nB1\nB2\nc"),  # no final newline kept
        ("a\r\nb\r\nc", "a\r\nB1\r\nB2\r\nc"),
        ("a\nb\r\nc\n", "a\nB1\r\nB2\r\nc\n"),  # mixed endings: untouched lines keep theirs
        ("a\r\nb\nc\r\n", "a\r\nB1\nB2\nc\r\n"),
    ],
    ids=["lf", "crlf", "lf no eol", "crlf no eol", "mixed 1", "mixed 2"],
)
def test_apply_to_text_keeps_line_endings(text: str, expected: str) -> None:
    assert apply_to_text(text, [Fix(2, 2, "B1\nB2", content_hash(text))]) == (expected, 1)


@pytest.mark.parametrize("text", ["a\nb\nc", "a\r\nb\r\nc"])
def test_apply_to_last_line_without_newline(text: str) -> None:
    nl = "\r\n" if "\r" in text else "\n"
    assert apply_to_text(text, [Fix(3, 3, "C1\nC2", "h")]) == (f"a{nl}b{nl}C1{nl}C2", 1)


def test_apply_to_text_several_fixes_and_overlaps() -> None:
    text = "".join(f"l{i}\n" for i in range(1, 11))
    fixes = [Fix(2, 3, "X", "h"), Fix(3, 4, "overlaps", "h"), Fix(8, 8, "", "h"), Fix(10, 12, "past end", "h")]
    out, applied = apply_to_text(text, fixes)
    # Applied bottom-up: of two overlapping fixes the lower one wins; past the end is dropped.
    assert applied == 2
    assert out == "l1\nl2\noverlaps\nl5\nl6\nl7\nl9\nl10\n"


def test_unified_diff() -> None:
    out = unified_diff("a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n")
    assert out.splitlines()[:2] == ["--- a/a.py", "+++ b/a.py"]
    assert "-y = 2" in out and "+y = 3" in out


# --- writing fixes to disk ---------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600])
@pytest.mark.parametrize("text", [PY, PY.replace("\n", "\r\n"), PY.rstrip("\n")], ids=["lf", "crlf", "no eol"])
def test_apply_fixes_writes_atomically_keeping_mode(tmp_path: Path, mode: int, text: str) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(text.encode())
    os.chmod(path, mode)
    before_inode = path.stat().st_ino
    fix = make_fix(finding(2, 3, path="a.py", suggested_code="if amount < 0:\n    raise ValueError(amount)"), text)
    assert fix is not None
    result = apply_fixes(path, "a.py", [fix])
    assert (result.applied, result.refused) == (1, None)
    data = path.read_bytes().decode()
    nl = "\r\n" if "\r\n" in text else "\n"
    assert data == text.replace(f"if amount <= 0:{nl}", f"if amount < 0:{nl}")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.stat().st_ino != before_inode  # replaced in one step, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]  # no temporary file left behind


def test_apply_fixes_refuses_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(PY)
    fix = make_fix(finding(2, 3, path="a.py", suggested_code="if amount < 0:\n    raise ValueError(amount)"), PY)
    assert fix is not None
    edited = PY + "\nprint('edited after the review')\n"
    path.write_text(edited)
    result = apply_fixes(path, "a.py", [fix])
    assert result.applied == 0
    assert "changed since it was reviewed" in (result.refused or "")
    assert path.read_text() == edited


def test_apply_fixes_missing_file(tmp_path: Path) -> None:
    result = apply_fixes(tmp_path / "gone.py", "gone.py", [Fix(1, 1, "x", "h")])
    assert result.applied == 0 and "no such file" in (result.refused or "")


def test_apply_fixes_nothing_to_do(tmp_path: Path) -> None:
    assert apply_fixes(tmp_path / "a.py", "a.py", []).applied == 0


def test_apply_fixes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text(PY)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    fix = make_fix(finding(4, 4, path="link.py", suggested_code="return amount * 2"), PY)
    assert fix is not None
    assert apply_fixes(link, "link.py", [fix]).applied == 1
    assert link.is_symlink()
    assert real.read_text().endswith("    return amount * 2\n")


# --- candidate placements ---------------------------------------------------------------------

from gemma_review.fixes import reindent_candidates, validate_fix  # noqa: E402

TOTAL = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"


def test_one_placement_when_first_and_least_indented_lines_agree() -> None:
    assert reindent_candidates("if a:\n    b()", ["        x()"]) == [["        if a:", "            b()"]]


def test_first_line_anchored_suggestion_keeps_a_new_top_level_def_top_level() -> None:
    # The case: re-indenting by the least-indented line would move `return s` into
    # the loop and nest `average`; the placement anchored on the first line is the only valid one.
    suggestion = "    return s\n\n\ndef average(xs):\n    return total(xs) / len(xs)"
    candidates = reindent_candidates(suggestion, ["    return s"])
    assert candidates[0][0] == "        return s" and candidates[1][0] == "    return s"
    decision = validate_fix("t.py", TOTAL, 5, 5, suggestion)
    assert decision.fix is not None
    assert decision.fix.replacement.split("\n") == ["    return s", "", "", "def average(xs):", "    return total(xs) / len(xs)"]


def test_both_placements_valid_in_a_brace_language_takes_the_first() -> None:
    js = "function f(xs) {\n  let s = 0;\n  for (const x of xs) {\n    s += x;\n  }\n  return s;\n}\n"
    decision = validate_fix("a.js", js, 6, 6, "  return s;\nconsole.log(s);")
    assert decision.fix is not None
    assert decision.fix.replacement == "    return s;\n  console.log(s);"


@pytest.mark.parametrize(
    "suggested, reason",
    [
        ("    return s\x07", "adds a control character (U+0007)"),
        ("    return s\x00", "adds a control character (U+0000)"),
        ("    return s  # \x1b[31m", "adds a control character (U+001B)"),
        ("    return s\rx = 1", "adds a control character (U+000D)"),
        ("    return \"a\u2028b\"", "adds a control character (U+2028)"),
        ("    return s  # \u202e", "adds a control character (U+202E)"),
    ],
)
def test_fix_never_adds_control_characters(suggested: str, reason: str) -> None:
    decision = validate_fix("t.py", TOTAL, 5, 5, suggested)
    assert decision.fix is None and decision.rejected == reason


def test_a_control_character_the_replaced_line_had_is_kept() -> None:
    text = 'def f():\n    return "a\x0cb"\n'
    decision = validate_fix("t.py", text, 2, 2, 'return "a\x0cb" * 2')
    assert decision.fix is not None and "\x0c" in decision.fix.replacement


@pytest.mark.parametrize("start, end", [(0, 1), (5, 9), (3, 2)])
def test_a_fix_cannot_reach_outside_the_file(start: int, end: int) -> None:
    assert validate_fix("t.py", TOTAL, start, end, "pass").rejected == "reaches outside the file"


def test_bom_stays_first_when_line_one_is_fixed() -> None:
    text = "\ufeffimport os\r\nx = os.sep\r\n"
    decision = validate_fix("t.py", text, 1, 1, "import os.path\nimport os")
    assert decision.fix is not None
    assert apply_to_text(text, [decision.fix]) == ("\ufeffimport os.path\r\nimport os\r\nx = os.sep\r\n", 1)


def test_write_refused_for_a_read_only_file_even_as_root(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(PY)
    os.chmod(path, 0o444)
    fix = make_fix(finding(4, 4, path="a.py", suggested_code="return amount * 2"), PY)
    assert fix is not None
    result = apply_fixes(path, "a.py", [fix])
    assert result.applied == 0 and result.refused == "a.py is read-only; fixes not applied (make it writable to let --fix change it)"
    assert path.read_text() == PY and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_write_error_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gemma_review.fixes as fixes_module

    path = tmp_path / "a.py"
    path.write_text(PY)
    fix = make_fix(finding(4, 4, path="a.py", suggested_code="return amount * 2"), PY)

    def full_disk(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixes_module, "write_atomic", full_disk)
    result = apply_fixes(path, "a.py", [fix])
    assert result.applied == 0 and result.refused == "a.py: cannot write: No space left on device; fixes not applied"
    assert path.read_text() == PY
