"""Units: the smallest enclosing definition per change, windows, merging, splitting, budgets."""

from __future__ import annotations

import random

import pytest

from gemma_review.intake import FileChange
from gemma_review.tokens import estimate_tokens
from gemma_review.units import CONTEXT_LINES, Unit, build_units

PY = '''import os

LIMIT = 10


class Account:
    """A bank account."""

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("amount")
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount


@cache
def helper(x):
    return x * 2
'''

JS = '''const LIMIT = 10;

function add(a, b) {
  return a + b;
}

class Cart {
  total() {
    let sum = 0;
    return sum;
  }
}

const double = (a) => {
  return a * 2;
};
'''

TS = '''interface Item {
  price: number;
}

export function total(items: Item[]): number {
  return items.reduce((s, i) => s + i.price, 0);
}

class Shop {
  private open(): void {
    console.log("open");
  }
}
'''

GO = '''package shop

import "fmt"

type Item struct {
	Price int
}

func (i *Item) Double() int {
	return i.Price * 2
}

func Hello() {
	fmt.Println("hi")
}
'''

RS = '''use std::fmt;

struct Item {
    price: i32,
}

impl Item {
    fn double(&self) -> i32 {
        self.price * 2
    }
}

fn main() {
    println!("hi");
}
'''

# (file, changed line, expected unit span): the smallest definition holding the change.
ENCLOSING = [
    ("a.py", PY, 11, (9, 12)),  # method body -> the method
    ("a.py", PY, 15, (14, 15)),  # one-line method body
    ("a.py", PY, 7, (6, 15)),  # class docstring -> the class
    ("a.py", PY, 20, (19, 20)),  # decorated function body -> the function
    ("a.py", PY, 18, (18, 20)),  # the decorator -> the decorated definition
    ("a.js", JS, 4, (3, 5)),
    ("a.js", JS, 10, (8, 11)),  # method -> the method, not the class
    ("a.js", JS, 15, (14, 16)),  # arrow function assigned to a const
    ("a.ts", TS, 2, (1, 3)),  # interface
    ("a.ts", TS, 6, (5, 7)),  # exported function
    ("a.ts", TS, 11, (10, 12)),  # method
    ("a.go", GO, 10, (9, 11)),  # method with receiver
    ("a.go", GO, 14, (13, 15)),
    ("a.go", GO, 6, (5, 7)),  # type declaration
    ("a.rs", RS, 9, (8, 10)),  # fn inside impl -> the fn
    ("a.rs", RS, 14, (13, 15)),
    ("a.rs", RS, 4, (3, 5)),  # struct
]


def units_for(path: str, text: str, changed: list[int] | None, max_lines: int = 200, max_tokens: int = 4000) -> list[Unit]:
    ranges = None if changed is None else [(c, c) for c in changed]
    return build_units(FileChange(path, text, ranges), max_lines, max_tokens, estimate_tokens)


def cost(unit: Unit) -> int:
    # What build_units budgets: the code plus the line-number prefixes.
    return estimate_tokens(unit.text) + 3 * len(unit.lines)


def assert_consistent(units: list[Unit], text: str) -> None:
    lines = text.split("\n")
    for u in units:
        assert u.start <= u.end
        assert u.lines == tuple(lines[u.start - 1 : u.end])
        assert all(u.start <= c <= u.end for c in u.changed)


@pytest.mark.parametrize("path, text, line, span", ENCLOSING, ids=[f"{p}:{n}" for p, _, n, _ in ENCLOSING])
def test_smallest_enclosing_definition(path: str, text: str, line: int, span: tuple[int, int]) -> None:
    (unit,) = units_for(path, text, [line])
    assert (unit.start, unit.end) == span
    assert unit.changed == frozenset({line})
    assert unit.language == {"a.py": "python", "a.js": "javascript", "a.ts": "typescript", "a.go": "go", "a.rs": "rust"}[path]
    assert_consistent([unit], text)


@pytest.mark.parametrize(
    "path, text, line",
    [("a.py", PY, 3), ("a.go", GO, 3), ("a.rs", RS, 1), ("notes.txt", "\n".join(f"line {i}" for i in range(1, 40)), 20)],
)
def test_change_outside_definitions_gets_a_window(path: str, text: str, line: int) -> None:
    (unit,) = units_for(path, text, [line])
    n = len(text.rstrip("\n").split("\n"))
    assert line in unit.changed
    if path == "notes.txt":  # no grammar: a plain window of lines
        assert unit.start == max(1, line - CONTEXT_LINES)
        assert unit.end >= min(n, line + CONTEXT_LINES)
        return
    # With a grammar the window stops at statement boundaries: never more than +-6 lines
    # unless the changed statement itself is longer, and never half a definition.
    assert max(1, line - CONTEXT_LINES) <= unit.start <= line <= unit.end <= min(n, line + CONTEXT_LINES)
    from gemma_review.units import statement_spans

    for a, b in statement_spans({"a.py": "python", "a.go": "go", "a.rs": "rust"}[path], text):
        assert not (a < unit.start <= b) and not (a <= unit.end < b)


def test_changes_in_one_function_make_one_unit() -> None:
    (unit,) = units_for("a.py", PY, [10, 12])
    assert (unit.start, unit.end, unit.changed) == (9, 12, frozenset({10, 12}))


def test_changes_in_two_functions_make_two_units() -> None:
    units = units_for("a.py", PY, [11, 15])
    assert [(u.start, u.end) for u in units] == [(9, 12), (14, 15)]


def test_overlapping_units_merge() -> None:
    # The class docstring (class unit 6-15) and a method inside it (9-12): one unit.
    (unit,) = units_for("a.py", PY, [7, 11])
    assert (unit.start, unit.end, unit.changed) == (6, 15, frozenset({7, 11}))
    # The window around line 3 (+-6: 1-9) stops before the class it would cut into.
    units = units_for("a.py", PY, [3, 10])
    assert [(u.start, u.end) for u in units] == [(1, 5), (9, 12)]


def _big_function(n_lines: int) -> str:
    body = "".join(f"    total = total + {i}  # step {i}\n" for i in range(n_lines))
    return f"def big(total):\n{body}    return total\n"


@pytest.mark.parametrize("max_lines, max_tokens", [(50, 4000), (200, 300), (20, 120)])
def test_oversized_unit_is_split_and_covers_every_change(max_lines: int, max_tokens: int) -> None:
    text = _big_function(400)
    changed = [2, 3, 150, 151, 152, 300, 402]
    units = units_for("big.py", text, changed, max_lines, max_tokens)
    assert len(units) > 1
    covered = set().union(*(u.changed for u in units))
    assert covered == set(changed)
    for u in units:
        assert len(u.lines) <= max_lines and cost(u) <= max_tokens
    assert_consistent(units, text)


@pytest.mark.parametrize("path", ["big.py", "big.txt"])
def test_whole_file_mode_covers_every_line(path: str) -> None:
    text = "".join(f"def f{i}(x):\n    y = x + {i}\n    return y\n\n" for i in range(100))
    units = units_for(path, text, None, max_lines=60, max_tokens=4000)
    assert all(u.whole_file for u in units)
    covered = set().union(*(u.changed for u in units))
    nonblank = {i + 1 for i, ln in enumerate(text.split("\n")) if ln.strip()}
    assert nonblank <= covered
    assert all(len(u.lines) <= 60 for u in units)
    if path == "big.py":  # definitions are kept whole where they fit
        for u in units:
            assert u.lines[0].startswith("def ") or u.lines[0] == ""


def test_small_whole_file_is_one_unit() -> None:
    (unit,) = units_for("a.py", PY, None)
    assert (unit.start, unit.end, unit.whole_file) == (1, 20, True)
    assert unit.changed == frozenset(range(1, 21))


@pytest.mark.parametrize("whole", [True, False], ids=["whole file", "scattered changes"])
@pytest.mark.parametrize("path", ["big.py", "big.js", "big.txt"])
def test_5000_line_file_units_within_budget(path: str, whole: bool) -> None:
    if path.endswith(".py"):
        chunk = "def f{i}(x):\n" + "".join(f"    x = x * {j} + {{i}}  # keep going\n" for j in range(18)) + "    return x\n\n"
    elif path.endswith(".js"):
        chunk = "function f{i}(x) {\n" + "".join(f"  x = x * {j} + {{i}}; // keep going\n" for j in range(18)) + "  return x;\n}\n"
    else:
        chunk = "".join(f"paragraph {{i}} sentence {j} of some prose\n" for j in range(20))
    text = "".join(chunk.replace("{i}", str(i)) for i in range(250))
    n = text.count("\n")
    assert n >= 5000
    rng = random.Random(7)
    changed = None if whole else sorted(rng.sample(range(1, n + 1), 200))
    max_lines, max_tokens = 200, 1500
    units = units_for(path, text, changed, max_lines, max_tokens)
    for u in units:
        assert len(u.lines) <= max_lines
        assert cost(u) <= max_tokens
    covered = set().union(*(u.changed for u in units))
    lines = text.split("\n")
    wanted = set(range(1, n + 1)) if changed is None else set(changed)
    assert {c for c in wanted if lines[c - 1].strip()} <= covered
    assert_consistent(units, text)


@pytest.mark.parametrize("text", ["", "\n", "\n\n   \n"], ids=["empty", "one newline", "blank lines"])
@pytest.mark.parametrize("changed", [None, [1]], ids=["whole", "diff"])
def test_empty_or_blank_file_has_no_units(text: str, changed: list[int] | None) -> None:
    assert units_for("e.py", text, changed) == []


def test_skipped_change_has_no_units() -> None:
    assert build_units(FileChange("x.bin", None, None, skip_reason="binary file"), 200, 4000, estimate_tokens) == []


def test_changed_lines_past_the_end_are_ignored() -> None:
    assert units_for("a.py", "x = 1\n", [5]) == []
    (unit,) = units_for("a.py", "x = 1\n", [1, 5])
    assert unit.changed == frozenset({1})


def test_crlf_file_units_have_no_carriage_returns() -> None:
    text = PY.replace("\n", "\r\n")
    (unit,) = units_for("a.py", text, [11])
    assert (unit.start, unit.end) == (9, 12)
    assert not any("\r" in ln for ln in unit.lines)


def test_broken_syntax_still_gets_units() -> None:
    text = "def f(:\n    return (\n\nx = [1, 2\n"
    units = units_for("a.py", text, [2, 4])
    assert set().union(*(u.changed for u in units)) == {2, 4}


def test_unit_text_and_line() -> None:
    u = Unit("a.py", "python", 10, 12, ("a", "b", "c"), frozenset({11}))
    assert u.text == "a\nb\nc"
    assert u.line(11) == "b"


# --- removed lines -------------------------------------------------------------------

def test_units_carry_the_removed_lines_inside_them() -> None:
    text = "def a():\n    x = 1\n    return x\n\n\ndef b():\n    return 2\n"
    change = FileChange("m.py", text, [(2, 2), (7, 7)], removed={2: ["    check()"], 8: ["    gone()"]})
    units = build_units(change, 200, 4000, estimate_tokens)
    by_start = {u.start: u for u in units}
    assert by_start[1].removed == ((2, ("    check()",), 0),)
    assert by_start[6].removed == ((8, ("    gone()",), 0),)  # end of file: the last unit shows it


def test_removed_lines_are_capped_and_counted_against_the_budget() -> None:
    from gemma_review.units import MAX_REMOVED_LINES

    text = "def a():\n    return 1\n"
    gone = [f"    old_{i}()" for i in range(MAX_REMOVED_LINES + 5)]
    change = FileChange("m.py", text, [(2, 2)], removed={2: gone})
    (unit,) = build_units(change, 200, 4000, estimate_tokens)
    assert unit.removed == ((2, tuple(gone[:MAX_REMOVED_LINES]), 5),)
    plain = FileChange("m.py", text, [(2, 2)])
    # A budget that fits the code alone but not the removed lines too: the unit shrinks.
    small = build_units(plain, 200, 30, estimate_tokens)
    assert small and all(u.removed == () for u in small)
    squeezed = build_units(change, 200, 30, estimate_tokens)
    assert all(sum(len(g) for _, g, _ in u.removed) == 0 or u.end - u.start < 1 for u in squeezed)


def test_whole_file_units_have_no_removed_lines() -> None:
    change = FileChange("m.py", "x = 1\n", None, removed={1: ["y = 2"]})
    (unit,) = build_units(change, 200, 4000, estimate_tokens)
    assert unit.removed == ()
