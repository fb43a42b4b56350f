"""Keep samples/labels.toml honest: it must describe the sample files exactly."""

from __future__ import annotations

import ast
import sys
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest
import tree_sitter_go
import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
LABELS_FILE = SAMPLES_DIR / "labels.toml"
# Files in samples/ that are documentation, not samples.
NOT_SAMPLES = {"labels.toml", "README.md"}

EXTENSIONS = {"python": ".py", "javascript": ".js", "typescript": ".ts", "go": ".go"}
SEVERITIES = {"error", "warning", "info"}
CATEGORIES = {"bug", "security", "performance", "maintainability", "style"}
# Exactly the fields of the model reply contract (DESIGN.md), so a typo in a key fails.
FINDING_KEYS = {
    "line", "end_line", "severity", "category", "title",
    "explanation", "existing_code", "suggested_code", "confidence",
}
SAMPLE_KEYS = {"file", "language", "clean", "findings", "behaviour"}

LABELS: list[dict[str, Any]] = tomllib.loads(LABELS_FILE.read_text(encoding="utf-8"))["samples"]
FINDINGS = [
    pytest.param(sample, finding, id=f"{sample['file']}#{index}")
    for sample in LABELS
    for index, finding in enumerate(sample.get("findings", []))
]
SAMPLES = [pytest.param(sample, id=sample["file"]) for sample in LABELS]
BEHAVIOUR_CASES = [
    pytest.param(sample, case, id=f"{sample['file']}:{index}")
    for sample in LABELS
    if "behaviour" in sample
    for index, case in enumerate(sample["behaviour"]["cases"])
]
WITH_BEHAVIOUR = [pytest.param(sample, id=sample["file"]) for sample in LABELS if "behaviour" in sample]

_GRAMMARS: dict[str, Callable[[], object]] = {
    "javascript": tree_sitter_javascript.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "go": tree_sitter_go.language,
}


@cache
def _parser(language: str) -> Parser:
    return Parser(Language(_GRAMMARS[language]()))


def _first_error(node: Node) -> Node | None:
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing:
            found = _first_error(child)
            if found is not None:
                return found
    return None


def assert_parses(source: str, language: str, what: str) -> None:
    if language == "python":
        ast.parse(source, filename=what)  # raises SyntaxError with the location
        return
    root = _parser(language).parse(source.encode("utf-8")).root_node
    if root.has_error:
        bad = _first_error(root)
        where = f" near line {bad.start_point[0] + 1}" if bad is not None else ""
        pytest.fail(f"{what} does not parse as {language}{where}")


def read_sample(sample: dict[str, Any]) -> str:
    return (SAMPLES_DIR / sample["file"]).read_text(encoding="utf-8")


def quoted_lines(text: str, line: int, end_line: int) -> str:
    return "\n".join(text.split("\n")[line - 1 : end_line])


def apply_findings(text: str, findings: list[dict[str, Any]]) -> str:
    """Replace each finding's lines with its suggestion, bottom-up so line numbers stay valid."""
    lines = text.split("\n")
    for finding in sorted(findings, key=lambda f: f["line"], reverse=True):
        lines[finding["line"] - 1 : finding["end_line"]] = finding["suggested_code"].split("\n")
    return "\n".join(lines)


def load_function(source: str, name: str, filename: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"__name__": "sample_under_test"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def run_case(function: Callable[..., Any], case: dict[str, Any]) -> Any:
    return function([{"date": date.fromisoformat(text)} for text in case["dates"]])


def indentation(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def test_every_sample_file_is_labelled_and_every_label_has_a_file() -> None:
    on_disk = {
        path.relative_to(SAMPLES_DIR).as_posix()
        for path in SAMPLES_DIR.rglob("*")
        if path.is_file()
        and path.name not in NOT_SAMPLES
        # Byte-code caches and editor/OS dotfiles are not samples.
        and "__pycache__" not in path.parts
        and not path.name.startswith(".")
    }
    labelled = [sample["file"] for sample in LABELS]
    assert len(labelled) == len(set(labelled)), "a file is labelled twice"
    assert set(labelled) == on_disk


def test_samples_cover_languages_and_include_clean_files() -> None:
    buggy = [sample for sample in LABELS if not sample["clean"]]
    clean = [sample for sample in LABELS if sample["clean"]]
    assert len(buggy) >= 9
    assert {sample["language"] for sample in buggy} == set(EXTENSIONS)
    assert {sample["language"] for sample in clean} >= {"python", "go"}
    assert {sample["language"] for sample in clean} & {"javascript", "typescript"}


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_label_matches_file(sample: dict[str, Any]) -> None:
    assert set(sample) <= SAMPLE_KEYS
    assert sample["language"] in EXTENSIONS
    assert Path(sample["file"]).suffix == EXTENSIONS[sample["language"]]
    assert isinstance(sample["clean"], bool)
    findings = sample.get("findings", [])
    if sample["clean"]:
        assert findings == [], "a clean sample must have no findings"
        assert "behaviour" not in sample
    else:
        assert len(findings) >= 1, "a sample with a bug needs at least one finding"
    text = read_sample(sample)
    assert text.endswith("\n")
    assert 10 <= text.count("\n") <= 40, "samples are kept small: 10-40 lines"
    assert_parses(text, sample["language"], sample["file"])


@pytest.mark.parametrize(("sample", "finding"), FINDINGS)
def test_finding_is_well_formed_and_quotes_the_file(sample: dict[str, Any], finding: dict[str, Any]) -> None:
    assert set(finding) == FINDING_KEYS
    assert finding["severity"] in SEVERITIES
    assert finding["category"] in CATEGORIES
    assert 0 < len(finding["title"]) <= 80
    assert finding["explanation"].strip()
    assert 0.0 <= finding["confidence"] <= 1.0
    text = read_sample(sample)
    assert 1 <= finding["line"] <= finding["end_line"] <= text.count("\n")
    assert finding["existing_code"] == quoted_lines(text, finding["line"], finding["end_line"])


@pytest.mark.parametrize(("sample", "finding"), FINDINGS)
def test_suggested_code_is_a_parseable_fix(sample: dict[str, Any], finding: dict[str, Any]) -> None:
    suggested = finding["suggested_code"]
    assert suggested.strip(), "every labelled finding carries a concrete fix"
    assert suggested != finding["existing_code"]
    assert not suggested.endswith("\n")
    assert indentation(suggested) == indentation(finding["existing_code"])
    fixed = apply_findings(read_sample(sample), [finding])
    assert_parses(fixed, sample["language"], f"{sample['file']} after fix {finding['title']!r}")


@pytest.mark.parametrize("sample", SAMPLES)
def test_all_fixes_together_still_parse(sample: dict[str, Any]) -> None:
    findings = sorted(sample.get("findings", []), key=lambda f: f["line"])
    for before, after in zip(findings, findings[1:]):
        assert before["end_line"] < after["line"], "findings of one sample must not overlap"
    fixed = apply_findings(read_sample(sample), findings)
    assert_parses(fixed, sample["language"], f"{sample['file']} after all fixes")


@pytest.mark.parametrize("sample", WITH_BEHAVIOUR)
def test_original_function_fails_a_case(sample: dict[str, Any]) -> None:
    behaviour = sample["behaviour"]
    original = load_function(read_sample(sample), behaviour["function"], sample["file"])
    failing = [case for case in behaviour["cases"] if run_case(original, case) != case["expected"]]
    assert failing, "the labelled bug must make at least one behaviour case fail"


@pytest.mark.parametrize("sample", WITH_BEHAVIOUR)
def test_original_function_is_right_without_duplicate_dates(sample: dict[str, Any]) -> None:
    # The duplicate-date bug is meant to be the only bug: distinct dates must already work.
    behaviour = sample["behaviour"]
    original = load_function(read_sample(sample), behaviour["function"], sample["file"])
    distinct = [case for case in behaviour["cases"] if len(set(case["dates"])) == len(case["dates"])]
    assert distinct
    for case in distinct:
        assert run_case(original, case) == case["expected"], case


@pytest.mark.parametrize(("sample", "case"), BEHAVIOUR_CASES)
def test_fixed_function_passes_case(sample: dict[str, Any], case: dict[str, Any]) -> None:
    fixed_source = apply_findings(read_sample(sample), sample["findings"])
    fixed = load_function(fixed_source, sample["behaviour"]["function"], f"{sample['file']} (fixed)")
    assert run_case(fixed, case) == case["expected"]
