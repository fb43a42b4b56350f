"""Property: a fix changes its own lines and nothing else.

For 1,000 random Python files (any mix of LF/CRLF endings, with or without a BOM and a
final newline) and random model-style suggestions, every fix that is offered leaves every
byte outside its lines as it was, gives its own lines the ending of the lines it replaced,
keeps the BOM, and never turns a file that parsed into one that does not.
"""

from __future__ import annotations

import ast
import re
from typing import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemma_review.fixes import apply_to_text, validate_fix

SIMPLE = [
    "x = 1", "y = x + 1", "print(x, y)", "items = [i * 2 for i in range(3)]", 'label = "a-b"',
    "total = sum(items)", "assert x is not None", "os.getcwd()", "pass", "y = {'k': (x, 2)}",
]
HEADERS = ["if x:", "for i in range(3):", "while x < 0:", "with open('f') as fh:", "def helper(a, b=2):", "class Thing:"]
BROKEN = ["if x", "print((x)", "def (:", "return return", "x = = 1", "\telse:"]
PREAMBLE = ["import os", "x = 0", "y = 0", "items = []"]


def block(codes: Iterator[int], unit: str, depth: int) -> list[str]:
    lines: list[str] = []
    for _ in range(1 + next(codes, 0) % 3):
        c = next(codes, 1)
        if depth < 3 and c % 4 == 0:
            lines.append(unit * depth + HEADERS[(c // 4) % len(HEADERS)])
            lines.extend(block(codes, unit, depth + 1))
        elif c % 11 == 5:
            lines.append("")
        elif c % 13 == 7:
            lines.append(unit * depth + "# a comment")
        else:
            lines.append(unit * depth + SIMPLE[c % len(SIMPLE)])
    return lines


def parts(text: str) -> list[str]:
    """Lines with their endings (the last one may have none)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def parses(text: str) -> bool:
    try:
        ast.parse(text.encode("utf-8"))  # bytes: the BOM is allowed, as in a real file
    except SyntaxError:
        return False
    return True


@st.composite
def files_and_edits(draw: st.DrawFn) -> tuple[str, int, int, str]:
    unit = draw(st.sampled_from(["    ", "  ", "\t"]))
    codes = iter(draw(st.lists(st.integers(0, 200), min_size=4, max_size=40)))
    lines = PREAMBLE + block(codes, unit, 0) + block(codes, unit, 0)
    mode = draw(st.sampled_from(["lf", "crlf", "mixed"]))
    if mode == "mixed":
        endings = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    else:
        endings = ["\n" if mode == "lf" else "\r\n"] * len(lines)
    text = "".join(ln + e for ln, e in zip(lines, endings))
    if draw(st.booleans()):
        text = text[: -len(endings[-1])]  # no newline at end of file
    if draw(st.booleans()):
        text = "\ufeff" + text
    start = draw(st.integers(1, len(lines)))
    end = draw(st.integers(start, min(len(lines), start + 3)))
    new = block(iter(draw(st.lists(st.integers(0, 200), min_size=1, max_size=8))), draw(st.sampled_from(["    ", "  ", "\t"])), 0)
    shift = draw(st.sampled_from(["", "    ", "        ", "\t", "  "]))
    new = [shift + ln if ln else ln for ln in new]
    if draw(st.integers(0, 4)) == 0:
        new.insert(draw(st.integers(0, len(new))), shift + draw(st.sampled_from(BROKEN)))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    return text, start, end, sep.join(new)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files_and_edits())
def test_a_fix_changes_only_its_own_lines(case: tuple[str, int, int, str]) -> None:
    text, start, end, suggested = case
    decision = validate_fix("random.py", text, start, end, suggested)
    if decision.fix is None:
        return
    after, applied = apply_to_text(text, [decision.fix])
    assert applied == 1
    before_parts = parts(text.removeprefix("\ufeff"))
    after_parts = parts(after.removeprefix("\ufeff"))
    assert text.startswith("\ufeff") == after.startswith("\ufeff")
    assert after.count("\ufeff") == text.count("\ufeff")
    n_new = len(decision.fix.replacement.split("\n"))
    assert after_parts[: start - 1] == before_parts[: start - 1]
    assert after_parts[start - 1 + n_new :] == before_parts[end:]
    replaced = before_parts[start - 1 : end]
    inserted = after_parts[start - 1 : start - 1 + n_new]
    assert [p.rstrip("\r\n") for p in inserted] == decision.fix.replacement.split("\n")
    inner = "\r\n" if replaced[0].endswith("\r\n") else "\n" if replaced[0].endswith("\n") else None
    if inner is not None:
        assert all(p.endswith(inner) and not p[: -len(inner)].endswith("\r") for p in inserted[:-1])
    last_ending = replaced[-1][len(replaced[-1].rstrip("\r\n")) :]
    assert inserted[-1][len(inserted[-1].rstrip("\r\n")) :] == last_ending
    if parses(text):
        assert parses(after)
