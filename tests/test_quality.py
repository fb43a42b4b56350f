"""Review quality end to end: drops you can see, loops stopped, severity limits, <think>
drafts, removed lines in the prompt, the verification pass. Real CLI, real ``ollama``
client, the fake Ollama server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import finding_json, git, reply, run

LOOP_LINE = '    for event in sorted(events, key=lambda e: e["date"]):'


def review_json(capsys, server: FakeOllama, *argv: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, server, "review", "streak.py", "--format", "json", *argv)
    return code, json.loads(out), err


# --- drops you can see --------------------------------------------------------------


def test_every_drop_is_counted_in_json_and_listed_by_explain(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    findings = [
        finding_json(),  # kept
        finding_json(title="Guard against an empty list", confidence=0.2, existing_code="    longest = 0"),
        finding_json(title="Rename the helper", existing_code="def helper_that_is_not_here():"),
        finding_json(title="Simplify the loop", existing_code="    for event in sorted(events) { ... }"),
        finding_json(title="Remove unnecessary line numbers", existing_code="  11 |     streak = 0"),
        finding_json(title="Reset the streak on a gap", line=14, existing_code='        current = event["date"]'),
    ]
    text = reply(*findings)
    fake_ollama.set_reply(Reply(text=text[:-2] + ', {"line": 18, "title": "Half a finding', done_reason="length"))
    code, doc, err = review_json(capsys, fake_ollama, "--explain")
    assert [f["title"] for f in doc["findings"]] == [finding_json()["title"]]
    assert doc["dropped"] == {
        "below confidence": 1, "cut off": 1, "duplicate": 1, "elided quote": 1, "no anchor": 1, "prompt format": 1,
    }
    assert doc["summary"]["raw_findings"] == 7
    assert "explain: 7 raw findings from the model, 1 reported, 6 dropped" in err
    assert "dropped: streak.py:10: 'Guard against an empty list': below confidence" in err
    assert "'Simplify the loop': elided quote" in err
    assert "'Remove unnecessary line numbers': prompt format" in err
    assert "'Rename the helper': no anchor" in err
    assert "'Reset the streak on a gap': duplicate" in err
    assert "dropped: streak.py: (no title): cut off" in err
    assert code == 1


def test_without_explain_nothing_is_listed(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(reply(finding_json(confidence=0.1)))
    code, doc, err = review_json(capsys, fake_ollama)
    assert doc["dropped"] == {"below confidence": 1} and doc["findings"] == []
    assert "explain:" not in err and code == 0


def test_outside_changed_lines_and_severity_filter_are_reasons(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    other = finding_json(title="Name the constant", line=10, end_line=10, existing_code="    longest = 0",
                         severity="info", category="maintainability")
    fake_ollama.set_reply(reply(finding_json(), other))
    code, doc, err = review_json(capsys, fake_ollama, "--min-severity", "warning", "--explain")
    assert doc["dropped"] == {"severity filter": 1}
    assert "'Name the constant': severity filter" in err


# --- loops -----------------------------------------------------------------------------


def test_a_template_counting_up_is_a_loop_and_stops_generation(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    lines = (work / "streak.py").read_text().splitlines()
    template = [
        finding_json(line=n, end_line=n, title=f"Missing import statement {n}", existing_code=lines[n - 1],
                     explanation=f"Line {n} needs an import.", severity="error", category="style")
        for n in range(10, 21)
    ]
    text = reply(*template) + " " * 20000  # a long tail: the stream is stopped before it
    fake_ollama.set_reply(Reply(text=text, chunk_chars=20, tokens_per_second=3000))
    code, doc, err = review_json(capsys, fake_ollama, "--explain")
    assert [f["range"]["start"]["line"] for f in doc["findings"]] == [10]  # the copies are never shown
    assert doc["dropped"] == {"loop": 2}
    assert doc["summary"]["loops_stopped"] == 1
    note = next(n for n in doc["notes"] if "only its numbers changed" in n)
    assert "stopped reading after 1 distinct finding (2 repeated copies dropped)" in note
    assert fake_ollama.wait(lambda s: s.cancelled >= 1, timeout=5)  # generation stopped too


def test_an_exact_repeat_is_a_loop(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    same = finding_json()
    fake_ollama.set_reply(Reply(text=reply(same, same, same, same), chunk_chars=9))
    code, doc, _ = review_json(capsys, fake_ollama)
    assert len(doc["findings"]) == 1 and doc["dropped"] == {"loop": 1}
    assert any("repeated a finding;" in n for n in doc["notes"])


def test_findings_differing_in_numbers_but_not_in_a_run_are_all_kept(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    a = finding_json(line=10, end_line=10, title="Check value 1", existing_code="    longest = 0", category="bug")
    b = finding_json(line=11, end_line=11, title="Check value 2", existing_code="    streak = 0", category="bug")
    fake_ollama.set_reply(reply(a, b))
    _, doc, _ = review_json(capsys, fake_ollama)
    assert [f["title"] for f in doc["findings"]] == ["Check value 1", "Check value 2"]
    assert doc["dropped"] == {} and doc["summary"]["loops_stopped"] == 0


# --- severity limits ----------------------------------------------------------------------


def test_style_and_maintainability_are_capped_so_they_never_block(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    style = finding_json(title="Sort the imports", line=5, end_line=5, existing_code="from datetime import date, timedelta",
                         severity="error", category="style")
    maint = finding_json(title="Split the function", line=10, end_line=10, existing_code="    longest = 0",
                         severity="error", category="maintainability")
    fake_ollama.set_reply(reply(style, maint))
    code, doc, err = review_json(capsys, fake_ollama, "--explain")
    assert {f["category"]: f["severity"] for f in doc["findings"]} == {"style": "info", "maintainability": "warning"}
    assert code == 0  # fail_on = error: nothing here is a bug
    assert "lowered: streak.py:5: 'Sort the imports': error -> info (severity_limits: style is at most info)" in err


def test_severity_limits_are_configurable(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    (work / ".gemma-review.toml").write_text('severity_limits = []\n')
    style = finding_json(title="Sort the imports", line=5, end_line=5, existing_code="from datetime import date, timedelta",
                         severity="error", category="style")
    fake_ollama.set_reply(reply(style))
    code, doc, _ = review_json(capsys, fake_ollama)
    assert doc["findings"][0]["severity"] == "error" and code == 1


def test_a_bad_severity_limit_is_one_clear_line(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    (work / ".gemma-review.toml").write_text('severity_limits = ["style=info"]\n')
    code, out, err = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 2 and "'severity_limits' entry 'style=info' must be CATEGORY:SEVERITY" in err
    assert err.count("\n") == 1 and "Traceback" not in err


# --- <think> drafts -------------------------------------------------------------------------


def test_the_final_answer_after_a_think_draft_is_parsed_not_the_draft(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    draft = reply(finding_json(title="Draft idea", line=10, end_line=10, existing_code="    longest = 0"))
    fake_ollama.set_reply(Reply(text=f"<think>Maybe {draft}? No.</think>\n{reply(finding_json())}", chunk_chars=5))
    _, doc, _ = review_json(capsys, fake_ollama)
    assert [f["title"] for f in doc["findings"]] == [finding_json()["title"]]
    assert doc["summary"]["raw_findings"] == 1


def test_a_reply_that_never_leaves_its_draft_keeps_nothing(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(Reply(text="<think>" + reply(finding_json()), done_reason="length"))
    _, doc, _ = review_json(capsys, fake_ollama)
    assert doc["findings"] == [] and any("<think>" in n for n in doc["notes"])


# --- removed lines in view --------------------------------------------------------------------


def test_deleted_lines_reach_the_prompt_marked_and_unnumbered(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "t")
    git(work, "add", ".")
    git(work, "commit", "-qm", "init")
    text = (work / "streak.py").read_text()
    (work / "streak.py").write_text(text.replace("        longest = max(longest, streak)\n", ""))
    fake_ollama.set_reply(reply())
    code, _, err = run(capsys, fake_ollama, "review", "--base", "HEAD")
    assert code == 0, err
    prompt = fake_ollama.requests[-1]["messages"][-1]["content"]
    lines = prompt.splitlines()
    at = lines.index("-      |         longest = max(longest, streak)")
    assert lines[at - 1].endswith("|             streak = 1") and lines[at + 1] == ">   19 |         prev_date = current"
    system = fake_ollama.requests[-1]["messages"][0]["content"]
    assert '"-" and no number were deleted by the change' in system


# --- verification pass -----------------------------------------------------------------------


def verifier(confirmed: bool | None):
    def respond(body: dict) -> Reply | str:
        system = body["messages"][0]["content"]
        if system.startswith("You check one finding"):
            if confirmed is None:
                return "no idea"
            return json.dumps({"confirmed": confirmed, "reason": "checked"})
        return reply(finding_json())
    return respond


@pytest.mark.parametrize("confirmed, severity, exit_code", [(True, "error", 1), (False, "info", 0), (None, "error", 1)])
def test_verify_confirms_or_lowers_to_info(work: Path, fake_ollama: FakeOllama, capsys, confirmed, severity, exit_code) -> None:
    fake_ollama.set_reply(verifier(confirmed))
    code, doc, _ = review_json(capsys, fake_ollama, "--verify")
    assert doc["findings"][0]["severity"] == severity and code == exit_code
    v = doc["verify"]
    assert v["asked"] == 1
    assert (v["confirmed"], v["withdrawn"], v["failed"]) == (int(confirmed is True), int(confirmed is False), int(confirmed is None))
    assert v["output_tokens"] > 0 and v["prompt_tokens"] > 0
    verify_request = fake_ollama.requests[-1]
    assert verify_request["format"]["required"] == ["confirmed", "reason"]
    assert finding_json()["title"] in verify_request["messages"][1]["content"]


def test_verify_is_off_by_default_and_skips_findings_below_fail_on(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(verifier(False))
    _, doc, _ = review_json(capsys, fake_ollama)
    assert "verify" not in doc and len(fake_ollama.requests) == 1
    _, doc, _ = review_json(capsys, fake_ollama, "--verify", "--fail-on", "never", "--no-cache")
    assert "verify" not in doc and doc["findings"][0]["severity"] == "error"


def test_cut_off_note_counts_distinct_findings(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    text = reply(finding_json(), finding_json(title="Dates repeat"), finding_json(title="Same days twice"))
    fake_ollama.set_reply(Reply(text=text[:-2] + ', {"line": 3', done_reason="length"))
    _, doc, _ = review_json(capsys, fake_ollama)
    assert any("1 distinct complete finding before the cut was read" in n for n in doc["notes"]), doc["notes"]
    assert doc["dropped"] == {"cut off": 1, "duplicate": 2}
