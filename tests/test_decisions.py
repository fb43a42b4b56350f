"""The decisions store: untrusted-file handling, atomic sorted writes, look-alike matching,
and the show policy / reports honouring it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemma_review import decisions as dec
from gemma_review.config import Settings
from gemma_review.findings import DROP_REASONS, fingerprint
from gemma_review.policy import ShowPolicy
from gemma_review.report import render
from gemma_review.report.text import explain_lines
from gemma_review.result import ReviewResult
from tests.helpers import finding

PAIRS = json.loads((Path(__file__).parent / "decisions_pairs.json").read_text(encoding="utf-8"))["pairs"]
CODE = '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]'
TITLE = "Deduplicate dates before counting the streak"


def record(path: str = "streak.py", category: str = "bug", title: str = TITLE, code: str = CODE, **kw: str) -> dec.Decision:
    fp = fingerprint(path, category, code.split("\n"))
    return dec.Decision(fp, path, category, title, code, kw.pop("verdict", "dismissed"), kw.pop("reason", "known"), **kw)


def found(path: str = "streak.py", category: str = "bug", title: str = TITLE, code: str = CODE, line: int = 13):
    return finding(line, line + code.count("\n"), path=path, category=category, title=title, existing_code=code,
                   fingerprint=fingerprint(path, category, code.split("\n")))


# --- the file --------------------------------------------------------------------------------


def test_write_is_sorted_one_record_per_line_and_round_trips(tmp_path: Path) -> None:
    b = record("b.py", title="B")
    a = record("a.py", title="A")
    path = dec.write(tmp_path, [b, a, b])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path == tmp_path / ".gemma-review" / "decisions.jsonl"
    assert [json.loads(ln)["path"] for ln in lines] == ["a.py", "b.py"]  # sorted, one per fingerprint
    assert list(json.loads(lines[0])) == list(dec.FIELDS)  # keys in a fixed order: clean diffs
    loaded = dec.load(tmp_path)
    assert loaded.warning is None and loaded.records == [a, b]
    assert not list(path.parent.glob(".decisions-*"))  # no temporary file left behind


def test_absent_store_is_empty(tmp_path: Path) -> None:
    loaded = dec.load(tmp_path)
    assert loaded.records == [] and loaded.warning is None


@pytest.mark.parametrize(
    "data, why",
    [
        (b"{not json\n", "line 1 is not JSON"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfe\n", "not UTF-8"),
        (b"[1, 2]\n", "not a JSON object"),
        (json.dumps({"fingerprint": "0" * 16, "path": "a", "category": "bug", "code": "x", "verdict": "ignored"}).encode(), "verdict"),
        (json.dumps({"fingerprint": "0" * 16, "path": "a", "category": "bug", "code": "x", "verdict": "dismissed",
                     "title": "evil \x1b[2J"}).encode(), "control character"),
        (json.dumps({"fingerprint": "zz", "path": "a", "category": "bug", "code": "x", "verdict": "dismissed"}).encode(), "fingerprint"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_untrusted_file_is_ignored_with_one_warning(tmp_path: Path, data: bytes, why: str) -> None:
    path = dec.store_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(data)
    loaded = dec.load(tmp_path)
    assert loaded.records == []
    assert loaded.warning is not None and why in loaded.warning and "\n" not in loaded.warning
    assert path.read_bytes() == data  # never rewritten by reading


def test_huge_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dec, "MAX_BYTES", 100)
    path = dec.store_path(tmp_path)
    path.parent.mkdir()
    path.write_text(record().line() + "\n")
    loaded = dec.load(tmp_path)
    assert loaded.records == [] and "larger than" in (loaded.warning or "")


def test_store_reads_again_when_the_file_changes(tmp_path: Path) -> None:
    store = dec.Store(tmp_path)
    assert len(store.current()) == 0
    dec.write(tmp_path, [record()])
    assert len(store.current()) == 1
    dec.store_path(tmp_path).unlink()
    assert len(store.current()) == 0


# --- matching ----------------------------------------------------------------------------------


def test_exact_moved_and_renamed(tmp_path: Path) -> None:
    (tmp_path / "streak.py").write_text(CODE)
    store = dec.Decisions([record()], root=tmp_path)
    assert store.match(found(line=40)) is not None  # moved lines: same fingerprint
    assert store.match(found(code=CODE.replace("    ", "\t"), title="Duplicate dates reset the streak")) is not None
    # The same code in another file while the decided file still exists: a copy, not a rename.
    assert store.match(found(path="other.py")) is None
    (tmp_path / "streak.py").unlink()
    assert dec.Decisions([record()], root=tmp_path).match(found(path="src/streak_v2.py")) is not None


def test_reworded_edited_matches_but_a_different_problem_in_the_function_does_not() -> None:
    store = dec.Decisions([record()])
    edited = CODE.replace("event", "ev")
    assert store.match(found(code=edited, title="Dates are not deduplicated before counting")) is not None
    other = "        if prev_date is not None and current - prev_date == timedelta(days=1):"
    assert store.match(found(code=other, title="Streak resets when the dates are not consecutive")) is None
    assert store.match(found(code=edited, title="Rename the loop variable")) is None  # alike code, other problem
    assert store.match(found(category="style")) is None


def test_labelled_pairs_meet_the_goal(tmp_path: Path) -> None:
    """The figures benchmarks/decisions.py prints: >= 95 % of look-alikes, no wrong hide."""
    hits = {True: 0, False: 0}
    totals = {True: 0, False: 0}
    for i, p in enumerate(PAIRS):
        root = tmp_path / str(i)
        root.mkdir()
        d, f = p["decision"], p["finding"]
        if p["old_path_exists"]:
            (root / d["path"]).write_text(d["code"])
        store = dec.Decisions([record(d["path"], d["category"], d["title"], d["code"])], root=root)
        totals[p["same"]] += 1
        hits[p["same"]] += store.match(found(f["path"], f["category"], f["title"], f["code"])) is not None
    assert totals[True] >= 50 and totals[False] >= 50
    assert hits[True] / totals[True] >= 0.95
    assert hits[False] == 0


# --- the policy and the reports ------------------------------------------------------------------


def test_policy_drops_a_dismissed_finding_with_the_reason() -> None:
    policy = ShowPolicy(Settings(), decisions=dec.Decisions([record(reason="dates are unique upstream", who="Ann", when="2026-01-02")]))
    f = found(title="Duplicate dates reset the streak")
    out = policy.decide(f, None, [])
    assert not isinstance(out, type(f))
    assert out.reason == "dismissed" and "dismissed" in DROP_REASONS
    assert out.detail == "dismissed: dates are unique upstream (Ann 2026-01-02)"
    assert policy.shown == [] and policy.dismissed[0].extra["decision"]["reason"] == "dates are unique upstream"
    assert policy.decide(f, None, []).reason == "dismissed"  # a cached copy: counted once
    assert len(policy.dismissed) == 1
    assert policy.notes() == ["1 finding the team decided about (.gemma-review/decisions.jsonl) hidden; --explain lists it"]
    other = found(code="    longest = max(longest, streak)", title="Update the longest streak only when the run ends")
    assert policy.decide(other, None, []) is other


def test_sarif_keeps_dismissed_results_suppressed_and_explain_gives_the_reason() -> None:
    policy = ShowPolicy(Settings(), decisions=dec.Decisions([record(reason="fine here")]))
    dropped = policy.decide(found(), None, [])
    shown = found(code="x = 1", title="Other")
    result = ReviewResult(findings=[shown], dismissed=policy.dismissed, dropped=[dropped], model="m")
    doc = json.loads(render("sarif", result))
    results = doc["runs"][0]["results"]
    assert len(results) == 2
    assert "suppressions" not in results[0]
    assert results[1]["suppressions"] == [{"kind": "external", "justification": "fine here"}]
    assert json.loads(render("json", result))["dropped"] == {"dismissed": 1}
    assert any(ln.endswith(": dismissed: fine here") and "dropped: streak.py:13:" in ln for ln in explain_lines(result))
    assert f"fingerprint {shown.fingerprint}" in render("text", result)
