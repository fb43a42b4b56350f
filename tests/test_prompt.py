"""Prompt: numbered lines, a fixed system prompt first, guidelines, the reply schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gemma_review.errors import ConfigError
from gemma_review.prompt import (
    FINDING_SCHEMA,
    MAX_GUIDELINE_CHARS,
    REFACTOR_SCHEMA,
    REVIEW_SCHEMA,
    SYSTEM_PROMPT,
    load_guidelines,
    number_lines,
    refactor_messages,
    review_messages,
)
from gemma_review.units import Unit

LINE = re.compile(r"^([> ])\s*(\d+) \| ?(.*)$")  # the regex in the shared notes

UNIT_A = Unit("src/streak.py", "python", 98, 103, (
    "def calculate_streak(dates):",
    "    streak = 0",
    "\tif x:  # a tab",
    "",
    "    return streak  ",
    "    s = ' | not a prefix | '",
), frozenset({99, 102}))
UNIT_B = Unit("web/app.ts", "typescript", 1, 2, ("const a = 1;", "export {a};"), frozenset({2}))
UNIT_C = Unit("notes.txt", None, 5, 5, ("plain",), frozenset({5}), whole_file=True)


@pytest.mark.parametrize("unit", [UNIT_A, UNIT_B, UNIT_C], ids=["python", "typescript", "text"])
def test_number_lines_exact_format(unit: Unit) -> None:
    out = number_lines(unit.start, unit.lines, unit.changed).split("\n")
    assert len(out) == len(unit.lines)
    for i, (row, text) in enumerate(zip(out, unit.lines)):
        n = unit.start + i
        assert row == f"{'>' if n in unit.changed else ' '}{n:>5} | {text}"
        m = LINE.match(row)
        assert m is not None
        assert (m.group(1) == ">") is (n in unit.changed)
        assert int(m.group(2)) == n
        assert m.group(3) == text


def test_number_lines_examples() -> None:
    assert number_lines(14, ["    if x:"], {14}) == ">   14 |     if x:"
    assert number_lines(9, ["a", "b"], set()) == "     9 | a\n    10 | b"
    assert number_lines(99999, ["x"], {99999}) == ">99999 | x"


def test_system_prompt_first_and_identical_across_units() -> None:
    conversations = [review_messages(u, g) for u in (UNIT_A, UNIT_B, UNIT_C) for g in ("", "Prefer pathlib.")]
    for messages in conversations:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == SYSTEM_PROMPT
    # Nothing unit-specific leaks into the system prompt (it is the server's reusable prefix).
    for unit in (UNIT_A, UNIT_B):
        assert unit.path not in SYSTEM_PROMPT


def test_user_message_has_file_language_span_and_code() -> None:
    user = review_messages(UNIT_A)[1]["content"]
    assert "src/streak.py" in user and "python" in user and "98-103" in user
    assert user.endswith(number_lines(UNIT_A.start, UNIT_A.lines, UNIT_A.changed))
    assert "changed region" in user
    assert "whole file" in review_messages(UNIT_C)[1]["content"]
    assert "notes.txt (txt)" in review_messages(UNIT_C)[1]["content"]
    assert "(typescript)" in review_messages(UNIT_B)[1]["content"]


def test_guidelines_are_included_before_the_code() -> None:
    guide = "Never use print for logging; use the logger."
    user = review_messages(UNIT_A, guide)[1]["content"]
    assert guide in user
    assert user.index(guide) < user.index("def calculate_streak")
    assert "guidelines" not in review_messages(UNIT_A)[1]["content"].lower()


def test_system_prompt_says_empty_is_fine_and_embeds_the_schema() -> None:
    assert '{"findings": []}' in SYSTEM_PROMPT
    assert json.dumps(REVIEW_SCHEMA, separators=(",", ":")) in SYSTEM_PROMPT
    for field in FINDING_SCHEMA["required"]:
        assert field in SYSTEM_PROMPT


def test_schema_is_the_design_contract() -> None:
    assert REVIEW_SCHEMA["required"] == ["findings"]
    assert REVIEW_SCHEMA["properties"]["findings"]["type"] == "array"
    props = FINDING_SCHEMA["properties"]
    assert list(props) == [
        "line", "end_line", "severity", "category", "title", "explanation",
        "existing_code", "suggested_code", "confidence",
    ]
    assert set(FINDING_SCHEMA["required"]) == set(props)
    assert props["line"]["type"] == props["end_line"]["type"] == "integer"
    assert props["confidence"]["type"] == "number"
    assert set(props["severity"]["enum"]) == {"error", "warning", "info"}
    assert set(props["category"]["enum"]) == {"bug", "security", "performance", "maintainability", "style"}
    for name in ("title", "explanation", "existing_code", "suggested_code"):
        assert props[name]["type"] == "string"
    assert set(REFACTOR_SCHEMA["properties"]) == {"summary", "replacement"}
    assert REFACTOR_SCHEMA["required"] == ["summary", "replacement"]


def test_refactor_messages() -> None:
    messages = refactor_messages("a.py", "python", 10, ["def f():", "    return 1"], "Make it shorter.")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.startswith("Make it shorter.")
    assert "    10 | def f():\n    11 |     return 1" in user  # nothing marked as changed
    assert refactor_messages("a.py", None, 1, ["x"])[1]["content"].startswith("Refactor this code.")


@pytest.mark.parametrize("name", [".gemma-review.md", "REVIEW_GUIDELINES.md", ".github/review-guidelines.md"])
def test_load_guidelines_default_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n  Use type hints.  \n")
    assert load_guidelines(tmp_path, None) == "Use type hints."


def test_load_guidelines_none_and_trimmed(tmp_path: Path) -> None:
    assert load_guidelines(tmp_path, None) == ""
    (tmp_path / ".gemma-review.md").write_text("x" * (MAX_GUIDELINE_CHARS * 2))
    assert len(load_guidelines(tmp_path, None)) == MAX_GUIDELINE_CHARS


def test_load_guidelines_configured(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "review.md").write_text("Rule one.")
    assert load_guidelines(tmp_path, "docs/review.md") == "Rule one."
    assert load_guidelines(Path("/"), str(tmp_path / "docs" / "review.md")) == "Rule one."
    with pytest.raises(ConfigError) as info:
        load_guidelines(tmp_path, "docs/missing.md")
    assert "missing.md" in str(info.value) and "\n" not in str(info.value)
