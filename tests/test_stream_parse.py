"""Incremental parsing of streamed replies, and the loop detector."""

from __future__ import annotations

import json
import random

import pytest

from gemma_review.stream_parse import FindingStream, LoopDetector

F1 = {
    "line": 14, "end_line": 15, "severity": "error", "category": "bug",
    "title": "Use {braces} and [brackets] and \"quotes\" and \\ backslashes",
    "explanation": "A string with }]} closing [{ chars and an escaped quote \\\" inside.",
    "existing_code": "data = {'k': [1, 2]}\nif x: print(\"}\")",
    "suggested_code": "data = {\"k\": [1, 2]}",
    "confidence": 0.9,
}
F2 = {**F1, "line": 30, "end_line": 30, "title": "Second finding", "existing_code": "return ]"}
F3 = {**F1, "line": 40, "title": "Unicode: naïve café ✓ \u2028 done", "explanation": "tab\there\nnewline"}


def chunks(text: str, mode: str, seed: int = 0) -> list[str]:
    if mode == "whole":
        return [text]
    if mode == "chars":
        return list(text)
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 23)
        out.append(text[i : i + n])
        i += n
    return out


def parse(text: str, mode: str, seed: int = 0) -> tuple[list[dict], FindingStream]:
    stream = FindingStream()
    found: list[dict] = []
    for piece in chunks(text, mode, seed):
        found.extend(stream.feed(piece))
    return found, stream


OBJ = json.dumps({"findings": [F1, F2, F3]})
REPLIES = {
    "compact": (OBJ, [F1, F2, F3], True),
    "pretty": (json.dumps({"findings": [F1, F2]}, indent=2), [F1, F2], True),
    "fenced": ("```json\n" + OBJ + "\n```", [F1, F2, F3], True),
    "fenced without language": ("```\n" + OBJ + "\n```\n", [F1, F2, F3], True),
    "prose before": ("Here is my review of the code:\n\n" + OBJ, [F1, F2, F3], True),
    "trailing text": (OBJ + "\n\nLet me know if {you} want [more]!", [F1, F2, F3], True),
    "trailing second object": (OBJ + '\n{"findings": [' + json.dumps(F1) + "]}", [F1, F2, F3], True),
    "bare array": (json.dumps([F1, F2]), [F1, F2], True),
    "fenced bare array": ("```json\n" + json.dumps([F2]) + "\n```", [F2], True),
    "empty": ('{"findings": []}', [], True),
    "empty with spaces": ('{ "findings" : [ ] }', [], True),
    "other keys first": (json.dumps({"summary": "the \"findings\" are [listed]", "findings": [F2]}), [F2], True),
    "nested arrays in a finding": (json.dumps({"findings": [{**F1, "tags": [[1], {"a": [2]}]}]}), [{**F1, "tags": [[1], {"a": [2]}]}], True),
    "non-ASCII escapes": (json.dumps({"findings": [F3]}, ensure_ascii=True), [F3], True),
}


@pytest.mark.parametrize("mode", ["whole", "chars", "random"])
@pytest.mark.parametrize("name", list(REPLIES), ids=list(REPLIES))
def test_findings_whatever_the_chunking(name: str, mode: str) -> None:
    text, expected, closed = REPLIES[name]
    found, stream = parse(text, mode)
    assert found == expected
    assert stream.closed is closed


@pytest.mark.parametrize("seed", range(5))
def test_random_chunkings_agree(seed: int) -> None:
    text = "```json\n" + json.dumps({"findings": [F1, F2, F3, F1]}, indent=1) + "\n```\nThanks!"
    assert parse(text, "random", seed)[0] == parse(text, "whole")[0] == [F1, F2, F3, F1]


def test_each_finding_arrives_when_its_brace_closes() -> None:
    text = json.dumps({"findings": [F1, F2]})
    end_of_first = text.index(json.dumps(F1)) + len(json.dumps(F1))
    stream = FindingStream()
    assert stream.feed(text[: end_of_first - 1]) == []
    assert stream.feed(text[end_of_first - 1 : end_of_first]) == [F1]
    assert stream.feed(text[end_of_first:]) == [F2]


@pytest.mark.parametrize("mode", ["whole", "chars", "random"])
@pytest.mark.parametrize(
    "cut",
    ["mid-string", "mid-key", "after-comma", "inside-second-brace"],
)
def test_reply_cut_mid_object_keeps_complete_findings(cut: str, mode: str) -> None:
    text = json.dumps({"findings": [F1, F2]})
    second = text.index(json.dumps(F2))
    at = {
        "mid-string": text.index("Second finding") + 3,
        "mid-key": second + 5,
        "after-comma": second - 1,
        "inside-second-brace": second + len(json.dumps(F2)) - 1,
    }[cut]
    found, stream = parse(text[:at], mode)
    assert found == [F1]
    assert stream.closed is False


def test_no_findings_array_yields_nothing() -> None:
    found, stream = parse("I could not review this code, sorry. {maybe} [later]", "chars")
    assert found == [] and stream.closed is False


def test_invalid_object_is_counted_not_raised() -> None:
    text = '{"findings": [{"line": 1, "title": bad}, ' + json.dumps(F2) + "]}"
    found, stream = parse(text, "chars")
    assert found == [F2]
    assert stream.bad_objects == 1 and stream.closed


def test_nothing_after_close_is_parsed() -> None:
    stream = FindingStream()
    assert stream.feed('{"findings": []}') == []
    assert stream.closed
    assert stream.feed(json.dumps(F1)) == []


# --- loop detection ---------------------------------------------------------------------

def detect(text: str, size: int = 7) -> bool:
    detector = LoopDetector()
    return any(detector.feed(text[i : i + size]) for i in range(0, len(text), size))


PREFIX = '{"findings": [{"line": 3, "title": "'
CODE = "\n".join(f"    value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 40))


@pytest.mark.parametrize(
    "text",
    [
        PREFIX + "the " * 300,
        PREFIX + "a" * 1000,
        PREFIX + "\\n" * 500,
        PREFIX + "I think this is wrong. " * 60,
        PREFIX + "}" * 800,
        '{"findings": [' + " " * 1000,
        '{"findings": [' + "\n" * 1000,
        '{"findings": [' + "\n \t" * 400,
    ],
    ids=["word", "char", "escaped newlines", "sentence", "braces", "spaces", "newlines", "mixed whitespace"],
)
def test_loop_detected(text: str) -> None:
    assert detect(text)
    assert detect(text, size=1)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"findings": [{**F1, "line": i, "title": f"Finding {i}"} for i in range(10)]}, indent=2),
        json.dumps({"findings": [F1] * 10}, indent=4),
        json.dumps({"findings": [{**F1, "existing_code": CODE, "suggested_code": CODE}]}),
        # Real code quotes separator comments and zero tables: short runs, not loops.
        json.dumps({"findings": [{**F1, "existing_code": CODE[:500] + "\n# " + "-" * 76 + "\n" + CODE[:500]}]}),
        json.dumps({"findings": [{**F1, "existing_code": CODE[:500] + "\nTABLE = [" + ", ".join(["0"] * 40) + "]"}]}),
        json.dumps({"findings": [{**F1, "existing_code": CODE[:500] + "\n" + "    " * 12 + "return x"}]}),
        json.dumps({"findings": []}) + " " * 50,
    ],
    ids=["many findings", "indented json", "long code", "separator comment", "zero table", "deep indent", "trailing spaces"],
)
def test_normal_json_is_not_a_loop(text: str) -> None:
    assert not detect(text)
    assert not detect(text, size=1)


# --- <think> drafts ---------------------------------------------------------------------

THINK_CASES = {
    "draft then answer": ("<think>I could say " + json.dumps({"findings": [F2]}) + "</think>\n" + OBJ, [F1, F2, F3]),
    "leading blank": ("\n  <think>x</think>" + json.dumps({"findings": [F2]}), [F2]),
    "empty draft": ("<think></think>" + json.dumps([F1]), [F1]),
    "no draft": (OBJ, [F1, F2, F3]),
    "a later think tag is just text": (json.dumps({"findings": [F1]}) + "<think>" + json.dumps({"findings": [F2]}), [F1]),
}


@pytest.mark.parametrize("name", list(THINK_CASES))
@pytest.mark.parametrize("mode", ["whole", "chars", "random"])
def test_think_draft_is_skipped(name: str, mode: str) -> None:
    text, expected = THINK_CASES[name]
    found, stream = parse(text, mode)
    assert found == expected
    assert not stream.thinking


def test_unclosed_think_yields_nothing_and_says_so() -> None:
    found, stream = parse("<think>" + OBJ, "random")
    assert found == [] and stream.thinking


def test_open_object_marks_a_cut_finding() -> None:
    _, stream = parse(OBJ[:-30], "chars")
    assert stream.open_object
    _, stream = parse(OBJ, "chars")
    assert not stream.open_object


# --- structural loops --------------------------------------------------------------------

from gemma_review.stream_parse import FindingLoop  # noqa: E402


def counting(n: int, **over: object) -> dict:
    base = {"line": n, "title": "Missing import statement", "explanation": "Add the import.",
            "existing_code": f"x{n} = {n}", "category": "style"}
    base.update(over)
    return base


def run_loop(items: list[dict], run: int = 3) -> tuple[list[dict], list[dict], str | None, FindingLoop]:
    guard = FindingLoop(run=run)
    shown: list[dict] = []
    dropped: list[dict] = []
    for item in items:
        verdict = guard.feed(item)
        shown += verdict.emit
        dropped += verdict.dropped
        if verdict.stop:
            return shown, dropped, verdict.stop, guard
    return shown + guard.finish(), dropped, None, guard


def test_exact_repeat_stops_at_once() -> None:
    a, b = counting(1, title="A"), counting(5, title="B", existing_code="y = 2")
    shown, dropped, stop, guard = run_loop([a, b, dict(a, line=9), counting(7, title="C")])
    assert shown == [a, b] and dropped == [dict(a, line=9)] and stop == "repeated a finding"
    assert guard.repeats == 1


def test_counting_template_is_held_then_dropped() -> None:
    shown, dropped, stop, guard = run_loop([counting(n) for n in range(1, 10)])
    assert shown == [counting(1)] and dropped == [counting(2), counting(3)]
    assert stop == "repeated a finding with only its numbers changed" and guard.repeats == 2


def test_two_alike_then_something_else_are_all_shown() -> None:
    items = [counting(1), counting(2), counting(7, title="Other", explanation="Different.")]
    shown, dropped, stop, _ = run_loop(items)
    assert shown == items and dropped == [] and stop is None


def test_a_held_finding_is_released_when_the_reply_ends() -> None:
    shown, dropped, stop, _ = run_loop([counting(1), counting(2)])
    assert shown == [counting(1), counting(2)] and stop is None


def test_same_words_far_apart_are_not_a_run() -> None:
    # One real problem in three places: same title, different code, lines not consecutive.
    items = [counting(n, existing_code=f"query{n}(sql % user)") for n in (3, 10, 20)]
    items = [dict(i, existing_code=c) for i, c in zip(items, ["run(a % b)", "cursor.go(q + x)", "db.exec(f'{v}')"])]
    shown, dropped, stop, _ = run_loop(items)
    assert shown == items and stop is None


def test_numbers_only_difference_anywhere_is_a_run() -> None:
    items = [counting(n * 10, existing_code=f"timeout = {n}", suggested_code=f"timeout = {n + 1}") for n in range(1, 5)]
    shown, dropped, stop, _ = run_loop(items)
    assert shown == items[:1] and dropped == items[1:3] and stop is not None
