"""Findings: normalize what the model said, anchor it in the unit, suppress, dedupe, fingerprint."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gemma_review.config import Settings
from gemma_review.findings import (
    Finding,
    Fix,
    anchor,
    build_finding,
    dedupe,
    fingerprint,
    in_changed,
    normalize,
    suppressed,
)
from gemma_review.units import Unit
from tests.helpers import finding

# The calculate_streak example from the design notes, at its real place in a file.
FILE = [
    "import datetime",  # 1
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "def calculate_streak(dates):",  # 10
    "    streak = 0",  # 11
    "    prev_date = None",  # 12
    "    for current in sorted(dates):",  # 13
    "        if prev_date and (current - prev_date).days == 1:",  # 14
    "            streak += 1",  # 15
    "        prev_date = current",  # 16
    "    return streak",  # 17
    "",
    "",
    "def other():",  # 20
    "    return 1",  # 21
]
UNIT = Unit("streak.py", "python", 10, 17, tuple(FILE[9:17]), frozenset(range(10, 18)))

IF_LINE = "        if prev_date and (current - prev_date).days == 1:"
TWO_LINES = IF_LINE + "\n            streak += 1"


def raw(**kw: object) -> dict:
    base = {
        "line": 14, "end_line": 15, "severity": "error", "category": "bug",
        "title": "Deduplicate dates before counting", "explanation": "Duplicates reset the streak.",
        "existing_code": TWO_LINES, "suggested_code": "", "confidence": 0.9,
    }
    base.update(kw)
    return base


# --- normalize ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "given, key, expected",
    [
        ({"line": "14"}, "line", 14),
        ({"line": 14.0}, "line", 14),
        ({"line": 14, "end_line": 12}, "end_line", 14),  # end before start: one line
        ({"line": 14, "end_line": "x"}, "end_line", 14),
        ({"line": 14, "end_line": None}, "end_line", 14),
        ({"severity": "ERROR"}, "severity", "error"),
        ({"severity": "critical"}, "severity", "error"),
        ({"severity": "high"}, "severity", "error"),
        ({"severity": "medium"}, "severity", "warning"),
        ({"severity": "low"}, "severity", "info"),
        ({"severity": "hint"}, "severity", "info"),
        ({"severity": "whatever"}, "severity", "warning"),
        ({"severity": 3}, "severity", "warning"),
        ({"category": "Correctness"}, "category", "bug"),
        ({"category": "vulnerability"}, "category", "security"),
        ({"category": "perf"}, "category", "performance"),
        ({"category": "readability"}, "category", "maintainability"),
        ({"category": "formatting"}, "category", "style"),
        ({"category": None}, "category", "maintainability"),
        ({"confidence": 85}, "confidence", 0.85),  # percent
        ({"confidence": 100}, "confidence", 1.0),
        ({"confidence": "0.7"}, "confidence", 0.7),
        ({"confidence": "sure"}, "confidence", 0.5),
        ({"confidence": None}, "confidence", 0.5),
        ({"confidence": -1}, "confidence", 0.0),
        ({"confidence": 250}, "confidence", 1.0),
        ({"confidence": math.nan}, "confidence", 0.5),
        ({"confidence": math.inf}, "confidence", 0.5),
        ({"title": "  Fix\n  the   loop "}, "title", "Fix the loop"),
        ({"title": "x" * 500}, "title", "x" * 200),
        ({"explanation": None}, "explanation", ""),
        ({"explanation": ["a", "b"]}, "explanation", "['a', 'b']"),
        ({"suggested_code": None}, "suggested_code", ""),
    ],
)
def test_normalize_coerces(given: dict, key: str, expected: object) -> None:
    data = normalize(raw(**given))
    assert data is not None
    assert data[key] == pytest.approx(expected) if isinstance(expected, float) else data[key] == expected


@pytest.mark.parametrize(
    "given",
    [{"line": None}, {"line": "fourteen"}, {"line": [14]}, {"line": math.inf}, {"title": ""}, {"title": "   "}, {"title": None}],
)
def test_normalize_rejects_unusable(given: dict) -> None:
    assert normalize(raw(**given)) is None


def test_normalize_missing_keys() -> None:
    data = normalize({"line": 3, "title": "t"})
    assert data == {
        "line": 3, "end_line": 3, "severity": "warning", "category": "maintainability", "title": "t",
        "explanation": "", "existing_code": "", "suggested_code": "", "confidence": 0.5,
    }


# --- anchor -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "claimed, quote, expected",
    [
        (14, IF_LINE, (14, 14)),  # exact
        (14, TWO_LINES, (14, 15)),
        (17, TWO_LINES, (14, 15)),  # claimed line a few off
        (11, IF_LINE, (14, 14)),
        (14, "if prev_date and (current - prev_date).days == 1:\nstreak += 1", (14, 15)),  # indentation lost
        (14, "  if prev_date and (current - prev_date).days == 1:\n      streak += 1", (14, 15)),  # indentation changed
        (14, "   14 |" + IF_LINE[0:] + "\n   15 |             streak += 1", (14, 15)),  # no space after bar
        (14, "   14 | " + IF_LINE + "\n   15 | " + "            streak += 1", (14, 15)),  # prefixes copied
        (14, ">   14 | " + IF_LINE, (14, 14)),  # changed-line marker copied too
        (14, IF_LINE + "\r\n            streak += 1\r\n", (14, 15)),  # CRLF in the quote
        (14, "\n\n" + TWO_LINES + "\n\n", (14, 15)),  # blank lines around the quote
        (14, "        if prev_date and (current - prev_date).day == 1:\n            streak += 1", (14, 15)),  # fuzzy
        (14, "prev_date = current", (16, 16)),  # a fragment of one line
        (12, "prev_date", (12, 12)),  # fragment on several lines: the nearest to the claim
        (16, "prev_date", (16, 16)),
        (14, "print('hello world')", None),  # not in the unit
        (14, "def other():\n    return 1", None),  # in the file but outside the unit
        (14, "", (14, 14)),  # no quote: the claimed line if inside the unit
        (12, "   ", (12, 12)),
        (19, "", None),  # no quote and the claim is outside the unit
        (3, "", None),
    ],
)
def test_anchor(claimed: int, quote: str, expected: tuple[int, int] | None) -> None:
    quote = normalize(raw(line=claimed, existing_code=quote))["existing_code"]
    assert anchor(UNIT, claimed, quote) == expected


def test_anchor_picks_the_occurrence_nearest_the_claim() -> None:
    lines = ("def f(a):", "    x = a + 1", "    return x", "", "def g(a):", "    x = a + 1", "    return x")
    unit = Unit("d.py", "python", 30, 36, lines, frozenset(range(30, 37)))
    assert anchor(unit, 31, "x = a + 1") == (31, 31)
    assert anchor(unit, 35, "    x = a + 1\n    return x") == (35, 36)
    assert anchor(unit, 60, "    x = a + 1\n    return x") == (35, 36)


def test_build_finding_positions_and_code() -> None:
    f = build_finding(UNIT, raw(line=20, end_line=21), FILE)
    assert f is not None
    assert (f.path, f.line, f.end_line) == ("streak.py", 14, 15)
    assert f.column == 9  # first non-blank character, 1-based
    assert f.end_column == len("            streak += 1") + 1
    assert f.existing_code == "\n".join(FILE[13:15])  # the file's text, not the model's copy
    assert f.fingerprint == fingerprint("streak.py", "bug", FILE[13:15])


def test_build_finding_drops_what_cannot_be_anchored() -> None:
    assert build_finding(UNIT, raw(existing_code="totally unrelated = 1"), FILE) is None
    assert build_finding(UNIT, raw(line="?"), FILE) is None


# --- suppression ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "lines, category, expected",
    [
        (["a", "b", "x = eval(s)  # gemma-review: ignore"], "security", True),
        (["a", "# gemma-review: ignore", "x = eval(s)"], "security", True),  # the line above
        (["# gemma-review: ignore", "b", "x = eval(s)"], "security", False),  # two lines above
        (["a", "b", "x = eval(s)", "# gemma-review: ignore"], "security", False),  # the line below
        (["a", "b", "x = eval(s)  # gemma-review: ignore[security]"], "security", True),
        (["a", "b", "x = eval(s)  # gemma-review: ignore[bug]"], "security", False),  # other category
        (["a", "b", "x = eval(s)  # gemma-review: ignore[bug, security]"], "security", True),
        (["a", "b", "x = eval(s)  # gemma-review:ignore[Security]"], "security", True),
        (["a", "b", "x = eval(s)  # GEMMA-REVIEW: IGNORE"], "security", True),
        (["a", "b", "const x = eval(s); // gemma-review: ignore[bug]"], "bug", True),
        (["a", "// gemma-review: ignore[bug]", "const x = eval(s);"], "bug", True),
        (["a", "b", "x := f() // gemma-review: ignore[style]"], "bug", False),
        (["a", "b", "x = eval(s)  # review: ignore"], "security", False),
        # A trailing comment on the statement above silences that statement only.
        (["a", "y = eval(t)  # gemma-review: ignore", "x = eval(s)"], "security", False),
        (["a", "    /* gemma-review: ignore[security] */", "x = eval(s)"], "security", True),
        (["a", "-- gemma-review: ignore", "SELECT * FROM t"], "security", True),
    ],
)
def test_suppressed(lines: list[str], category: str, expected: bool) -> None:
    assert suppressed(lines, finding(3, category=category)) is expected


def test_suppressed_inside_a_multi_line_finding() -> None:
    lines = ["def f():", "    a = 1", "    b = 2  # gemma-review: ignore", "    return a"]
    assert suppressed(lines, finding(2, 4))
    assert suppressed(lines, finding(3, 4))
    assert not suppressed(lines, finding(4, 4))


def test_suppressed_at_line_one() -> None:
    assert suppressed(["x = 1  # gemma-review: ignore"], finding(1))
    assert not suppressed(["x = 1"], finding(1))


# --- thresholds, changed lines ---------------------------------------------------------

@pytest.mark.parametrize(
    "settings, kw, expected",
    [
        (Settings(), {}, None),
        (Settings(min_confidence=0.95), {}, ("below confidence", "")),
        (Settings(min_severity="error"), {"severity": "warning"}, ("severity filter", "min_severity")),
        (Settings(min_severity="warning"), {"severity": "error"}, None),
        (Settings(categories=["security"]), {"category": "bug"}, ("severity filter", "categories")),
    ],
)
def test_policy_names_the_filter(settings: Settings, kw: dict, expected: tuple[str, str] | None) -> None:
    from gemma_review.policy import why_hidden

    assert why_hidden(finding(**kw), settings, None, ["x"] * 20) == expected


def test_policy_shows_one_finding_per_problem_and_counts_hidden_copies_once() -> None:
    from gemma_review.findings import Dropped
    from gemma_review.policy import ShowPolicy

    policy = ShowPolicy(Settings(min_confidence=0.6))
    lines = ["x"] * 20
    first = finding(3, 4)
    assert policy.decide(first, None, lines) is not None and policy.shown == [first]
    again = finding(4, 5)  # overlapping lines, same category: the same problem
    dropped = policy.decide(again, None, lines)
    assert isinstance(dropped, Dropped) and dropped.reason == "duplicate"
    low = finding(10, 10, confidence=0.1)
    for _ in range(2):  # a cached copy of the same finding is counted once
        assert policy.decide(low, None, lines).reason == "below confidence"
    assert policy.notes() == ["1 finding below min_confidence 0.6 hidden; --min-confidence 0 shows it"]


# --- one problem, one finding (issue 21 item 7) ---------------------------------------------

WHITESPACE = "Remove unnecessary whitespace"


def test_the_same_problem_on_other_lines_is_one_finding_with_locations() -> None:
    from gemma_review.policy import Folded, ShowPolicy

    policy = ShowPolicy(Settings())
    lines = ["x"] * 20
    first = finding(1, category="style", severity="info", title=WHITESPACE)
    assert policy.decide(first, None, lines) is first
    for n, title in zip((3, 6, 7, 8, 9), (WHITESPACE, "remove  unnecessary WHITESPACE", WHITESPACE, WHITESPACE, WHITESPACE)):
        folded = policy.decide(finding(n, category="style", severity="info", title=title, existing_code=f"line {n} "), None, lines)
        assert isinstance(folded, Folded)
        assert (folded.dropped.reason, folded.dropped.detail) == ("duplicate", f"folded into {first.fingerprint}")
    (shown,) = policy.shown
    assert shown.fingerprint == first.fingerprint and shown.line == 1
    assert [(loc.line, loc.existing_code) for loc in shown.also] == [(n, f"line {n} ") for n in (3, 6, 7, 8, 9)]
    assert shown.also_lines() == "3, 6, 7, 8, 9"
    # One of its places reported again is a plain duplicate, not a sixth location.
    again = policy.decide(finding(7, category="style", severity="info", title=WHITESPACE), None, lines)
    assert again.reason == "duplicate" and len(policy.shown[0].also) == 5


def test_another_title_on_other_lines_stays_separate_and_overlaps_still_dedupe() -> None:
    from gemma_review.findings import Dropped
    from gemma_review.policy import ShowPolicy

    policy = ShowPolicy(Settings())
    lines = ["x"] * 20
    policy.decide(finding(1, category="style", severity="info", title=WHITESPACE), None, lines)
    other = finding(5, category="style", severity="info", title="Use a constant")
    assert policy.decide(other, None, lines) is other  # another problem
    other_category = finding(8, category="bug", title=WHITESPACE)
    assert policy.decide(other_category, None, lines) is other_category  # another category
    overlapping = policy.decide(finding(5, category="style", severity="info", title=WHITESPACE), None, lines)
    assert isinstance(overlapping, Dropped) and (overlapping.reason, overlapping.detail) == ("duplicate", "")
    assert [(f.line, f.also) for f in policy.shown] == [(1, ()), (5, ()), (8, ())]


def test_a_fold_keeps_the_first_locations_fix_and_invents_none() -> None:
    from gemma_review.findings import Fix
    from gemma_review.policy import Folded, ShowPolicy

    policy = ShowPolicy(Settings())
    lines = ["x"] * 20
    first = policy.decide(finding(1, category="style", severity="info", title=WHITESPACE), None, lines)
    first.fix = Fix(1, 1, "x", "h")  # as the run sets it on the shown finding
    folded = policy.decide(finding(4, category="style", severity="info", title=WHITESPACE, suggested_code="y"), None, lines)
    assert isinstance(folded, Folded) and folded.into.fix == Fix(1, 1, "x", "h")
    assert folded.into.suggested_code == "" and policy.shown == [folded.into]


def test_moved_shifts_the_other_locations() -> None:
    from gemma_review.findings import Location

    f = finding(3, also=(Location(6, 7, 1, 2, "a"),))
    assert f.moved(10).also == (Location(16, 17, 1, 2, "a"),)


def test_in_changed() -> None:
    assert in_changed(finding(3, 5), {5})
    assert not in_changed(finding(3, 5), {2, 6})


# --- dedupe and fingerprints ------------------------------------------------------------

def test_dedupe_keeps_the_surest_of_the_same_code() -> None:
    a = finding(10, confidence=0.6, fingerprint="same", title="Loop resets streak")
    b = finding(12, confidence=0.9, fingerprint="same", title="Duplicate dates break the streak")
    assert dedupe([a, b]) == [b]


def test_dedupe_overlapping_same_category() -> None:
    a = finding(10, 12, confidence=0.6)
    b = finding(11, 11, confidence=0.8)
    assert dedupe([a, b]) == [b]


def test_dedupe_overlapping_same_title_other_category() -> None:
    a = finding(10, category="bug", title="Close the file", confidence=0.7)
    b = finding(10, category="maintainability", title="close  the FILE", confidence=0.8)
    assert dedupe([a, b]) == [b]


def test_dedupe_keeps_distinct_findings_sorted() -> None:
    a = finding(20, category="bug")
    b = finding(10, category="security")
    c = finding(10, category="performance", title="Other", severity="error")
    d = replace(finding(5), path="b.py", fingerprint="other-file")
    assert dedupe([a, b, c, d]) == [c, b, a, d]


def test_fingerprint_stable_across_moves_and_wording() -> None:
    code = ["    if prev_date and (current - prev_date).days == 1:", "        streak += 1"]
    moved = build_finding(
        Unit("streak.py", "python", 110, 117, UNIT.lines, frozenset(range(110, 118))),
        raw(line=114, title="Completely different words"),
        [""] * 109 + FILE[9:17],
    )
    here = build_finding(UNIT, raw(), FILE)
    assert here is not None and moved is not None
    assert moved.line == 114
    assert here.fingerprint == moved.fingerprint
    # Re-indenting the code does not change it either; the path, category and code do.
    reindented = ["\t" + ln.strip() for ln in code]
    assert fingerprint("p.py", "bug", code) == fingerprint("p.py", "bug", reindented)
    assert fingerprint("p.py", "bug", code) != fingerprint("q.py", "bug", code)
    assert fingerprint("p.py", "bug", code) != fingerprint("p.py", "security", code)
    assert fingerprint("p.py", "bug", code) != fingerprint("p.py", "bug", code[:1])


def test_moved_shifts_lines_and_fix() -> None:
    f = finding(10, 12, fix=Fix(10, 12, "x", "hash"))
    g = f.moved(5)
    assert (g.line, g.end_line, g.fix.start_line, g.fix.end_line) == (15, 17, 15, 17)
    assert (f.line, f.fix.start_line) == (10, 10)  # the original is untouched


def test_at_least() -> None:
    assert finding(severity="error").at_least("warning")
    assert not finding(severity="info").at_least("warning")


# --- strict anchoring policy ------------------------------------------------------------

from gemma_review.findings import FUZZY_RATIO, Dropped, about_prompt_format, cap_severity, elided, judge  # noqa: E402


@pytest.mark.parametrize(
    "quote",
    [
        "for current in sorted(dates): ...",
        "    for current in sorted(dates):\n        ...\n    return streak",
        "if prev_date and (current - prev_date).days == 1: …",
        "def calculate_streak(dates):\n    # rest of the code",
        "def calculate_streak(dates): { ... }",
        "streak = 0 [...]",
    ],
)
def test_an_elided_quote_is_not_an_anchor(quote: str) -> None:
    assert anchor(UNIT, 13, quote) is None
    dropped = judge(UNIT, raw(existing_code=quote), FILE)
    assert isinstance(dropped, Dropped) and dropped.reason == "elided quote"


def test_an_elision_that_is_real_code_still_anchors() -> None:
    lines = ("function f(...args) {", "  return g(...args);", "}")
    unit = Unit("f.js", "javascript", 1, 3, lines, frozenset({2}))
    assert anchor(unit, 2, "  return g(...args);") == (2, 2)  # exact
    assert anchor(unit, 2, "return g(...args)") == (2, 2)  # a fragment, literally in the code
    assert anchor(unit, 1, "function f(...args) { ... }") is None  # the same marker as an elision
    assert anchor(unit, 2, "  return g(...argz);") is None  # close, but elided quotes never match by similarity
    assert elided("return g(...)") and not elided("return g(args)")


def test_fuzzy_matching_has_a_floor_and_never_squeezes_lines() -> None:
    assert FUZZY_RATIO == 0.85
    # Two lines quoted: a window of two lines or nothing, never the one line that is similar.
    unit = Unit("s.py", "python", 1, 3, ("a = compute_total(items)", "", "return a"), frozenset({1}))
    assert anchor(unit, 1, "a = compute_total(items)\nprint(a, file=sys.stderr)") is None
    assert anchor(unit, 1, "a = compute_totals(items)") == (1, 1)  # close enough (ratio above the floor)
    assert anchor(unit, 1, "b = summarise(things)") is None  # below the floor


def test_tiny_fragments_do_not_anchor() -> None:
    assert anchor(UNIT, 14, "(") is None
    assert anchor(UNIT, 14, "if") is None
    assert anchor(UNIT, 15, "streak += 1") == (15, 15)


@pytest.mark.parametrize(
    "quote, title, expected",
    [
        ("   14 | " + IF_LINE, "Remove unnecessary line numbers", True),
        ("", "Remove the line number prefixes", True),
        ("", "Line numbers should be removed from the code", True),
        ("", "Delete the redundant line numbers", True),
        ("", "Drop the '>' marker", True),
        ("", "The > prefix is not valid Python", False),
        ("  12 |", "Anything", True),  # the quote is nothing but the prompt's prefix
        (IF_LINE, "Off-by-one in the line number calculation", False),  # about the code's own line numbers
        (IF_LINE, "Deduplicate dates before counting", False),
    ],
)
def test_findings_about_the_prompt_format(quote: str, title: str, expected: bool) -> None:
    assert about_prompt_format(quote, title, "") is expected


def test_prompt_format_findings_are_dropped_with_their_reason() -> None:
    dropped = judge(UNIT, raw(existing_code="   14 | " + IF_LINE, title="Remove unnecessary line numbers"), FILE)
    assert isinstance(dropped, Dropped) and dropped.reason == "prompt format" and dropped.line == 14


def test_judge_reasons() -> None:
    assert judge(UNIT, raw(line="?"), FILE).reason == "unusable"  # type: ignore[union-attr]
    assert judge(UNIT, raw(existing_code="totally unrelated = 1"), FILE).reason == "no anchor"  # type: ignore[union-attr]
    assert isinstance(judge(UNIT, raw(), FILE), Finding)


@pytest.mark.parametrize(
    "category, severity, limits, expected",
    [
        ("style", "error", {"style": "info"}, "info"),
        ("style", "info", {"style": "info"}, "info"),
        ("maintainability", "error", {"maintainability": "warning"}, "warning"),
        ("maintainability", "info", {"maintainability": "warning"}, "info"),  # never raised
        ("bug", "error", {"style": "info", "maintainability": "warning"}, "error"),
        ("style", "error", {}, "error"),
    ],
)
def test_cap_severity(category: str, severity: str, limits: dict, expected: str) -> None:
    f = finding(category=category, severity=severity)
    capped = cap_severity(f, limits)
    assert capped.severity == expected
    assert capped.extra.get("severity_capped_from") == (severity if expected != severity else None)
