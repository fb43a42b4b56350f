"""Fixes end to end: the CLI against the fake Ollama server, on real files.

Rejected fixes keep their finding (with the reason in JSON and the suggestion as text),
--fix never writes a read-only file or into a read-only folder, overlapping fixes let the
more severe finding win, and every finding left unfixed counts for the exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from gemma_review.cli import main
from tests.fake_ollama import FakeOllama

from tests.helpers import STREAK_FINDING as LABELLED
from tests.helpers import finding_json as finding
from tests.helpers import reply

# The fix from the issue that parses but leaves `current` undefined in the loop body.
DROPS_CURRENT = '    for date in sorted({event["date"] for event in events}):'


def run(capsys: pytest.CaptureFixture[str], server: FakeOllama, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--backend", "ollama", "--host", server.url, "--no-cache"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_rejected_fix_keeps_the_finding_with_its_reason(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(reply(finding(suggested_code=DROPS_CURRENT)))
    before = (work / "streak.py").read_bytes()

    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    assert code == 1
    (item,) = json.loads(out)["findings"]
    assert item["fix"] is None
    assert item["fix_rejected"] == "introduces undefined name 'current'"
    assert item["suggested_code"].strip() == DROPS_CURRENT.strip()

    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")
    assert code == 1
    assert "suggested (not offered as a fix: introduces undefined name 'current'):" in out
    assert "fixable" not in out

    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "sarif")
    assert "fixes" not in json.loads(out)["runs"][0]["results"][0]

    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--fix")
    assert code == 1  # the finding is still there
    assert "fixed" not in err
    assert (work / "streak.py").read_bytes() == before


def test_accepted_fix_is_the_same_edit_everywhere(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    fake_ollama.set_reply(reply(finding()))
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    (item,) = json.loads(out)["findings"]
    assert item["fix_rejected"] is None
    edit = item["fix"]["edits"][0]
    assert edit["content"] == LABELLED["suggested_code"].strip("\n")
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "sarif")
    (sarif_fix,) = json.loads(out)["runs"][0]["results"][0]["fixes"]
    replaced = sarif_fix["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"]
    assert edit["content"] in replaced
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--show-fixes")
    assert f"+{edit['content']}" in out


def test_quote_only_suggestion_is_not_fixable(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    line = '        current = event["date"]'
    fake_ollama.set_reply(reply(finding(line=14, end_line=14, existing_code=line, suggested_code=line.replace('"', "'"))))
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py", "--format", "json")
    (item,) = json.loads(out)["findings"]
    assert item["fix"] is None and item["fix_rejected"] == "changes only quotes or whitespace"
    code, out, _ = run(capsys, fake_ollama, "review", "streak.py")
    assert "fixable" not in out


def test_fix_refuses_a_read_only_file(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    path = work / "streak.py"
    os.chmod(path, 0o444)
    before = path.read_bytes()
    fake_ollama.set_reply(reply(finding()))
    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--fix")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "gemma-review: streak.py is read-only; fixes not applied (make it writable to let --fix change it)"
    )
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # --fix is not chmod


def test_fix_in_an_unwritable_folder(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    folder = work / "pkg"
    folder.mkdir()
    shutil.move(str(work / "streak.py"), folder / "streak.py")
    before = (folder / "streak.py").read_bytes()
    os.chmod(folder, 0o555)
    try:
        fake_ollama.set_reply(reply(finding()))
        code, _, err = run(capsys, fake_ollama, "review", "pkg/streak.py", "--fix")
    finally:
        os.chmod(folder, 0o755)
    assert code == 1
    assert "its folder is not writable" in err and "fixes not applied" in err
    assert (folder / "streak.py").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["streak.py"]


def test_fix_refused_because_the_file_changed_counts_as_unfixed(work: Path, fake_ollama: FakeOllama, capsys) -> None:
    path = work / "streak.py"

    def edit_while_reviewing(_body: dict) -> str:
        path.write_text(path.read_text() + "\n# edited during the review\n")
        return reply(finding())

    fake_ollama.set_reply(edit_while_reviewing)
    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--fix")
    assert code == 1
    assert "changed since it was reviewed" in err
    assert path.read_text().endswith("# edited during the review\n")


OVERLAP_WARNING = finding(
    line=14, end_line=14, severity="warning", category="maintainability", title="Name the date",
    existing_code='        current = event["date"]', suggested_code='        current = event.get("date")',
)


@pytest.mark.parametrize("fail_on, expected", [("warning", 1), ("error", 0)])
def test_overlapping_fixes_the_more_severe_wins(work: Path, fake_ollama: FakeOllama, capsys, fail_on: str, expected: int) -> None:
    fake_ollama.set_reply(reply(OVERLAP_WARNING, finding()))
    code, _, err = run(capsys, fake_ollama, "review", "streak.py", "--fix", "--fail-on", fail_on)
    text = (work / "streak.py").read_text()
    assert 'for current in sorted({event["date"] for event in events}):' in text  # the error's fix
    assert 'event.get("date")' not in text
    assert "fixed 1 finding in streak.py" in err
    assert code == expected  # the warning was left unfixed
