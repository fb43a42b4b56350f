"""The language server's plain modules, without a client: positions, diagnostics, options,
actions and the review scheduler."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from lsprotocol import types

from gemma_review.events import Note
from gemma_review.findings import Finding, Fix
from gemma_review.lsp import actions, diagnostics, options, positions
from gemma_review.lsp.reviewer import Job, Reviewer
from tests.helpers import finding


def pos(line: int, character: int) -> types.Position:
    return types.Position(line, character)


def rng(a: tuple[int, int], b: tuple[int, int]) -> types.Range:
    return types.Range(pos(*a), pos(*b))


def as_tuple(r: types.Range | None) -> Any:
    return None if r is None else ((r.start.line, r.start.character), (r.end.line, r.end.character))


# --- positions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "index", "units"),
    [
        ("plain ascii", 5, 5),
        ("héllo wörld", 7, 7),  # BMP accents: one unit each
        ("世界 hello", 3, 3),  # CJK: one unit each
        ("👋 hi", 1, 2),  # an emoji outside the BMP: a surrogate pair
        ("a👋b🌍c", 5, 7),
        ("a👋b", 99, 4),  # clamped to the end
    ],
)
def test_utf16_columns_round_trip(line: str, index: int, units: int) -> None:
    assert positions.to_utf16(line, index) == units
    assert positions.from_utf16(line, units) == min(index, len(line))
    assert positions.utf16_len(line) == len(line.encode("utf-16-le")) // 2


def test_a_column_inside_a_surrogate_pair_rounds_down() -> None:
    assert positions.from_utf16("a👋b", 2) == 1


@pytest.mark.parametrize(
    ("start", "text", "end"),
    [((3, 4), "abc", (3, 7)), ((3, 4), "🎉", (3, 6)), ((3, 4), "x\ny", (4, 1)), ((3, 4), "x\r\n世界🎉", (4, 4)), ((0, 0), "", (0, 0))],
)
def test_where_inserted_text_ends(start: tuple[int, int], text: str, end: tuple[int, int]) -> None:
    got = positions.text_end(pos(*start), text)
    assert (got.line, got.character) == end


# --- moving diagnostics ------------------------------------------------------------------

DIAG = rng((12, 4), (13, 31))


@pytest.mark.parametrize(
    ("edit", "text", "expected"),
    [
        (rng((0, 0), (0, 0)), "\n\n", ((14, 4), (15, 31))),  # lines added above
        (rng((0, 0), (2, 0)), "", ((10, 4), (11, 31))),  # lines removed above
        (rng((12, 0), (12, 0)), "🎉", ((12, 6), (13, 31))),  # typed before it on its first line
        (rng((12, 4), (12, 4)), "x", ((12, 5), (13, 31))),  # typed where it starts
        (rng((13, 10), (13, 10)), "abc", ((12, 4), (13, 34))),  # typed inside: it grows
        (rng((13, 31), (13, 31)), "  # note", ((12, 4), (13, 39))),  # typed at its end: it grows
        (rng((14, 0), (14, 0)), "\n", ((12, 4), (13, 31))),  # below: unchanged
        (rng((12, 8), (13, 10)), "in", ((12, 4), (12, 31))),  # a replacement across its lines
        (rng((12, 0), (13, 31)), "    pass", None),  # replaced whole: gone
        (rng((11, 0), (14, 0)), "", None),  # deleted with its surroundings: gone
    ],
)
def test_shift_range(edit: types.Range, text: str, expected: Any) -> None:
    assert as_tuple(diagnostics.shift_range(DIAG, edit.start, edit.end, text)) == expected


def flagged(line: int, end_line: int, code: list[str], fix: list[str] | None = None, category: str = "bug") -> Finding:
    """A finding on ``code`` (lines ``line``..``end_line``), with ``fix`` as its whole-line fix."""
    f = finding(
        line, end_line, path="x.py", column=1 + len(code[0]) - len(code[0].lstrip()), end_column=len(code[-1]) + 1,
        severity="error", category=category, title="t", explanation="e", existing_code="\n".join(code),
        suggested_code="\n".join(fix or []), fingerprint="fp",
    )
    if fix is not None:
        f.fix = Fix(line, end_line, "\n".join(fix), "hash")
    return f


LINES = ["def f(xs):", "    total = 0", "    for x in xs:", "        total += x", "    return total"]


def test_a_full_document_change_keeps_only_findings_whose_lines_survived() -> None:
    keep = diagnostics.live(flagged(3, 4, LINES[2:4]), LINES)
    lose = diagnostics.live(flagged(2, 2, LINES[1:2]), LINES)
    new = ["# header", LINES[0], "    total = 1", *LINES[2:]]
    kept = diagnostics.remap_lines([keep, lose], LINES, new)
    assert kept == [keep] and as_tuple(keep.range) == ((3, 4), (4, 18))


def test_resolved_by_the_fix_or_a_suppression_comment() -> None:
    fixed = ["    for x in sorted(xs):", "        total += x"]
    item = diagnostics.live(flagged(3, 4, LINES[2:4], fixed), LINES)
    assert not diagnostics.resolved(item, LINES)
    assert diagnostics.fix_span(item, LINES) == (2, 3)
    assert diagnostics.resolved(item, LINES[:2] + fixed + LINES[4:])
    silenced = LINES[:2] + ["    # gemma-review: ignore[bug]"] + LINES[2:]
    item.range = rng((3, 4), (4, 18))
    assert diagnostics.resolved(item, silenced)
    assert diagnostics.fix_span(item, silenced) == (3, 4)
    other = diagnostics.live(flagged(3, 4, LINES[2:4], category="style"), LINES)
    other.range = rng((3, 4), (4, 18))
    assert not diagnostics.resolved(other, silenced)  # ignore[bug] does not silence style


def test_a_stale_fix_is_not_offered() -> None:
    item = diagnostics.live(flagged(3, 4, LINES[2:4], ["    for x in sorted(xs):", "        total += x"]), LINES)
    edited = LINES[:2] + ["    for x in xs:  # changed"] + LINES[3:]
    assert diagnostics.fix_span(item, edited) is None
    diag = diagnostics.to_diagnostic(item, edited, "h")
    assert diag.data["fix"] is None and diag.data["fingerprint"] == "fp" and diag.code == "bug"


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "values", "warnings"),
    [
        ({"minConfidence": 0.7, "num_ctx": 4096, "debounceMs": 300}, {"min_confidence": 0.7, "num_ctx": 4096, "debounce_ms": 300}, 0),
        ({"gemma-review": {"model": "gemma4:e2b"}}, {"model": "gemma4:e2b"}, 0),  # nested under the section
        ({"model": None, "trigger": "type"}, {"trigger": "type"}, 0),  # null = not set
        ({"colour": "blue", "scope": "file"}, {"scope": "file"}, 1),  # unknown key
        ({"trigger": "sometimes", "minSeverity": "warning"}, {"min_severity": "warning"}, 1),  # bad value
        ({"numPredict": 9000}, {"num_predict": 9000}, 0),  # checked with num_ctx when a review loads it
        ([1, 2], {}, 1),
        (None, {}, 0),
    ],
)
def test_editor_options(raw: Any, values: dict[str, Any], warnings: int) -> None:
    parsed, said = options.parse(raw, "initializationOptions")
    assert parsed.values == values
    assert len(said) == warnings and all("initializationOptions" in w for w in said)


def test_editor_options_suggest_the_setting_a_typo_meant() -> None:
    # The same wording and spelling rule as configuration files (gemma_review.config).
    _, said = options.parse({"numCtxx": 4096}, "workspace/configuration")
    assert said == ["workspace/configuration: unknown setting 'numCtxx' ignored (did you mean 'num_ctx'?)"]


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ({"gemma-review": {"model": "m"}}, {"model": "m"}),
        ({"gemma-review": {}}, {}),  # every setting unset: replaces what was there
        ({"minConfidence": 0.7}, {"minConfidence": 0.7}),  # Helix pushes the flat object
        ({"python": {"analysis": {}}}, None),  # someone else's settings: ask instead
        (None, None),
        ({}, None),
    ],
)
def test_pushed_settings(raw: Any, ours: Any) -> None:
    assert options.pushed_settings(raw) == ours


# --- actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "prefix"),
    [("a.py", "#"), ("a.ts", "//"), ("a.go", "//"), ("a.rs", "//"), ("a.js", "//"), ("a.rb", "#"), ("q.sql", "--"), ("Makefile", "#")],
)
def test_comment_prefix(path: str, prefix: str) -> None:
    assert actions.comment_prefix(path) == prefix


@pytest.mark.parametrize(
    ("kind", "only", "wanted"),
    [
        ("source.fixAll.gemma-review", ["source.fixAll"], True),
        ("source.fixAll.gemma-review", ["source"], True),
        ("source.fixAll.gemma-review", ["quickfix"], False),
        ("refactor.rewrite", ["refactor"], True),
        ("refactor.rewrite", ["refactor.extract"], False),
        ("quickfix", None, True),
    ],
)
def test_kind_filter(kind: str, only: list[str] | None, wanted: bool) -> None:
    assert actions.kind_wanted(kind, only) is wanted


def doc(lines: list[str], path: str = "x.go", versioned: bool = True) -> actions.Doc:
    return actions.Doc("file:///x", 3, lines, "\n", path, versioned)


def test_ignore_comment_matches_the_language_and_indentation() -> None:
    lines = ["func f() {", "\tx := 1", "}"]
    item = diagnostics.live(flagged(2, 2, ["\tx := 1"]), lines)
    action = actions.ignore_action(item, doc(lines), types.Diagnostic(range=item.range, message="m"))
    (edit,) = action.edit.document_changes[0].edits
    assert edit.new_text == "\t// gemma-review: ignore[bug]\n" and as_tuple(edit.range) == ((1, 0), (1, 0))
    assert action.edit.document_changes[0].text_document.version == 3


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [(1, 2, ((1, 0), (3, 0))), (3, 4, ((2, 16), (4, 16))), (0, 4, ((0, 0), (4, 16)))],
)
def test_deleting_lines_takes_a_line_break(first: int, last: int, expected: Any) -> None:
    assert as_tuple(actions.replace_lines(LINES, first, last, [], "\n").range) == expected


def test_fix_all_skips_overlapping_fixes() -> None:
    a = diagnostics.live(flagged(2, 3, LINES[1:3], ["    total = 1", "    for x in xs:"]), LINES)
    b = diagnostics.live(flagged(3, 4, LINES[2:4], ["    for x in sorted(xs):", "        total += x"]), LINES)
    c = diagnostics.live(flagged(5, 5, LINES[4:5], ["    return int(total)"]), LINES)
    action = actions.fix_all_action([c, b, a], doc(LINES, "x.py", versioned=False))
    edits = action.edit.changes["file:///x"]
    assert [e.range.start.line for e in edits] == [1, 4] and action.kind == "source.fixAll.gemma-review"


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (rng((1, 0), (3, 0)), (1, 2)),  # a selection ending at column 0 stops on the line before
        (rng((1, 2), (3, 5)), (1, 3)),
        (rng((2, 6), (2, 6)), (0, 4)),  # the cursor: the definition around it
        (rng((6, 0), (6, 0)), None),  # outside any definition
    ],
)
def test_refactor_span(selection: types.Range, expected: Any) -> None:
    lines = [*LINES, "", "x = 1"]
    assert actions.refactor_span(doc(lines, "x.py"), selection, [(1, 5)]) == expected


@pytest.mark.parametrize(
    "bad",
    ["file:///x", {"uri": 1, "range": {}}, {"uri": "file:///x"}, {"uri": "file:///x", "range": {"start": {"line": 3}, "end": {"line": 1, "character": 2}}}],
)
def test_malformed_refactor_requests(bad: Any) -> None:
    with pytest.raises(ValueError):
        actions.parse_refactor_request(bad)


# --- the scheduler -------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[int, str, bool]] = []
        self.done = asyncio.Event()

    def job_started(self, job: Job) -> None:
        pass

    def job_event(self, job: Job, event: Any, current: bool) -> None:
        kind = type(event).__name__
        self.events.append((job.id, kind, current))
        if kind in ("Done", "Failed"):
            self.done.set()


async def test_debounce_starts_one_review_and_a_newer_one_cancels_the_older() -> None:
    loop = asyncio.get_running_loop()
    started: list[Job] = []
    release = threading.Event()

    def runner(job: Job, emit: Any) -> str:
        started.append(job)
        emit(Note(job.text))
        release.wait(5)
        return "result"

    sink = Recorder()
    reviewer = Reviewer(loop, runner, sink)

    def make(text: str) -> Any:
        return lambda: Job(uri="u", version=len(text), text=text, scope="", reason="type")

    for text in ("a", "ab", "abc"):
        reviewer.schedule("u", 0.05, make(text))
    assert reviewer.pending("u")
    await asyncio.wait_for(_until(lambda: started), 5)
    assert [j.text for j in started] == ["abc"]

    first = started[0]
    reviewer.schedule("u", 0, make("abcd"))  # a newer version: the running review is cancelled
    assert first.cancel.is_set()
    release.set()
    await asyncio.wait_for(_until(lambda: sum(1 for e in sink.events if e[1] == "Done") == 2), 5)
    done = {job_id: current for job_id, kind, current in sink.events if kind == "Done"}
    assert done == {first.id: False, first.id + 1: True}
    assert not reviewer.busy()


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


def test_a_client_without_related_information_reads_the_other_lines_in_the_message() -> None:
    """Issue 21 item 7: relatedInformation only for a client that declares it."""
    from lsprotocol import types as t

    from gemma_review.findings import Location
    from gemma_review.lsp.diagnostics import live, to_diagnostic
    from gemma_review.lsp.state import ClientFeatures
    from tests.helpers import finding

    assert not ClientFeatures.of(t.ClientCapabilities()).related_information
    caps = t.ClientCapabilities(text_document=t.TextDocumentClientCapabilities(
        publish_diagnostics=t.PublishDiagnosticsClientCapabilities(related_information=True)))
    assert ClientFeatures.of(caps).related_information
    lines = ["x = 1 "] * 10
    f = finding(1, title="Remove unnecessary whitespace", also=(Location(3, 3, 1, 6, "x = 1 "), Location(6, 7, 1, 6, "x")))
    item = live(f, lines)
    plain = to_diagnostic(item, lines, "h")
    assert plain.related_information is None and plain.message.endswith("\nAlso on lines 3, 6-7.")
    rich = to_diagnostic(item, lines, "h", "file:///a.py")
    assert [(r.location.range.start.line, r.location.range.end.line) for r in rich.related_information] == [(2, 2), (5, 6)]
    assert rich.message == "Remove unnecessary whitespace"
