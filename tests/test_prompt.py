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
    PROMPT_VERSION,
    REFACTOR_SCHEMA,
    REFACTOR_SYSTEM_PROMPT,
    REVIEW_SCHEMA,
    SYSTEM_PROMPT,
    VERIFY_SCHEMA,
    VERIFY_SYSTEM_PROMPT,
    field_rules,
    load_guidelines,
    number_lines,
    prompt_version,
    refactor_messages,
    removed_line,
    review_messages,
    unit_prompt_lines,
    verify_messages,
    without_descriptions,
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
    # The shape once (no descriptions: those are the field rules below it).
    assert json.dumps(without_descriptions(REVIEW_SCHEMA), separators=(",", ":")) in SYSTEM_PROMPT
    assert '"description"' not in SYSTEM_PROMPT
    for field in FINDING_SCHEMA["required"]:
        assert field in SYSTEM_PROMPT


def test_every_property_describes_itself_and_the_rules_are_the_descriptions() -> None:
    for schema in (FINDING_SCHEMA, REFACTOR_SCHEMA, VERIFY_SCHEMA):
        for name, spec in schema["properties"].items():
            assert spec["description"].strip(), name
    rules = SYSTEM_PROMPT.split("Field rules:\n", 1)[1]
    assert rules == field_rules(FINDING_SCHEMA)
    assert rules.splitlines() == [f"- {n}: {p['description']}." for n, p in FINDING_SCHEMA["properties"].items()]
    assert field_rules(REFACTOR_SCHEMA) in REFACTOR_SYSTEM_PROMPT
    # The schema the server constrains the reply with carries the same descriptions.
    assert REVIEW_SCHEMA["properties"]["findings"]["items"] is FINDING_SCHEMA


def test_severity_enum_is_mildest_first_and_each_level_says_when() -> None:
    sev = FINDING_SCHEMA["properties"]["severity"]
    assert sev["enum"] == ["info", "warning", "error"]
    text = sev["description"]
    assert text.index('"info"') < text.index('"warning"') < text.index('"error"')
    assert "style" in text and "bug or security" in text


def _sample_texts() -> list[str]:
    """Every title, explanation and code text in samples/labels.toml."""
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parent.parent / "samples" / "labels.toml").read_text())
    out = []
    for sample in data["samples"]:
        for f in sample.get("findings", []):
            out += [f.get("title", ""), f.get("explanation", ""), f.get("existing_code", ""), f.get("suggested_code", "")]
    return [t for t in out if t.strip()]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9_]+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@pytest.mark.parametrize("prompt", ["review", "refactor", "verify"])
def test_no_sample_text_in_any_prompt(prompt: str) -> None:
    text = {"review": SYSTEM_PROMPT, "refactor": REFACTOR_SYSTEM_PROMPT, "verify": VERIFY_SYSTEM_PROMPT}[prompt]
    text += json.dumps([REVIEW_SCHEMA, REFACTOR_SCHEMA, VERIFY_SCHEMA])
    assert "Deduplicate dates" not in text
    mine = _ngrams(text, 4)
    for sample_text in _sample_texts():
        shared = mine & _ngrams(sample_text, 4)
        assert not shared, (sample_text, shared)


def test_prompt_version_is_a_hash_of_the_prompt_and_schema() -> None:
    import copy

    assert re.fullmatch(r"[0-9a-f]{16}", PROMPT_VERSION)
    parts = [SYSTEM_PROMPT, REVIEW_SCHEMA, VERIFY_SYSTEM_PROMPT, VERIFY_SCHEMA,
             number_lines(7, ["x"], {7}), removed_line("x")]
    assert prompt_version(*parts) == PROMPT_VERSION
    # A changed description (the schema the server sees) or instruction is a new version.
    changed = copy.deepcopy(REVIEW_SCHEMA)
    changed["properties"]["findings"]["items"]["properties"]["title"]["description"] = "another rule"
    assert prompt_version(parts[0], changed, *parts[2:]) != PROMPT_VERSION
    assert prompt_version(parts[0] + " ", *parts[1:]) != PROMPT_VERSION


def test_cache_key_follows_the_prompt_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import gemma_review.engine as engine_module
    from gemma_review.config import Settings

    engine = engine_module.ReviewEngine(Settings(), backend=_NamedBackend(), use_cache=False)
    before = engine._cache_key(REMOVED_UNIT)
    monkeypatch.setattr(engine_module, "PROMPT_VERSION", "0" * 16)
    assert engine._cache_key(REMOVED_UNIT) != before


class _NamedBackend:
    name, model = "fake", "m"

    def close(self) -> None:
        pass


REMOVED_UNIT = Unit(
    "src/lock.py", "python", 10, 13,
    ("def put(self, item):", "    self.lock.acquire()", "    self.items.append(item)", "    return True"),
    frozenset({13}),
    removed=((13, ("    self.lock.release()",), 0), (14, ("    # end",), 3)),
)


def test_removed_lines_are_shown_at_their_place_marked_and_unnumbered() -> None:
    lines = unit_prompt_lines(REMOVED_UNIT)
    assert lines == [
        "    10 | def put(self, item):",
        "    11 |     self.lock.acquire()",
        "    12 |     self.items.append(item)",
        "-      |     self.lock.release()",
        ">   13 |     return True",
        "-      |     # end",
        "-      | (3 more removed lines not shown)",
    ]
    assert all(LINE.match(ln) is None for ln in lines if ln.startswith("-"))  # no number to anchor to
    user = review_messages(REMOVED_UNIT)[1]["content"]
    assert user.endswith("\n".join(lines))
    # The instructions explain both marks.
    assert '">"' in SYSTEM_PROMPT and '"-" and no number' in SYSTEM_PROMPT


def test_without_removed_lines_the_code_is_plainly_numbered() -> None:
    assert unit_prompt_lines(UNIT_A) == number_lines(UNIT_A.start, UNIT_A.lines, UNIT_A.changed).split("\n")


def test_verify_messages_show_the_finding_and_the_code() -> None:
    messages = verify_messages(REMOVED_UNIT, 13, 13, "error", "bug", "Release the lock", "It stays held.")
    assert messages[0]["content"] == VERIFY_SYSTEM_PROMPT
    user = messages[1]["content"]
    assert "lines 13-13 (error, bug): Release the lock" in user and "It stays held." in user
    assert user.endswith("\n".join(unit_prompt_lines(REMOVED_UNIT)))


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
