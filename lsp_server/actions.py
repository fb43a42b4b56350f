"""Code actions: apply a fix, ignore a finding, fix the whole file, refactor with Gemma.

Plain functions from the document (its lines, version, live findings) to lsprotocol
objects; the server decides which to offer and does the model call for refactors.
Edits replace whole lines and carry the document version when the client accepts
versioned edits (``documentChanges``), so a client refuses an edit made for older text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Iterable, Sequence

from lsprotocol import types

from gemma_review.findings import SEVERITY_RANK
from gemma_review.languages import language_of

from .diagnostics import LiveFinding, fix_span
from .positions import utf16_len

FIX_ALL_KIND = "source.fixAll.gemma-review"
REFACTOR_KIND = types.CodeActionKind.RefactorRewrite
QUICKFIX_KIND = types.CodeActionKind.QuickFix
KINDS = [QUICKFIX_KIND, REFACTOR_KIND, FIX_ALL_KIND]
REFACTOR_TITLE = "Refactor with Gemma"
REFACTOR_COMMAND = "gemma-review.refactor"
IGNORE_TITLE = "Ignore this finding"
DATA_TAG = "gemma-review.refactor"  # marks a refactor action waiting for codeAction/resolve
# Carried by the fix, fix-all and ignore actions: a client runs it after applying the edit,
# and the server counts the verdict on this machine (gemma_review.verdicts).
VERDICT_COMMAND = "gemma-review.verdict"


def verdict_command(doc_uri: str, verdict: str, items: Iterable[LiveFinding]) -> types.Command:
    found = [{"fingerprint": i.fingerprint, "category": i.finding.category, "severity": i.finding.severity} for i in items]
    return types.Command(title=verdict, command=VERDICT_COMMAND,
                         arguments=[{"uri": doc_uri, "verdict": verdict, "findings": found}])

_HASH_COMMENTS = {
    ".py", ".pyi", ".rb", ".sh", ".bash", ".zsh", ".yaml", ".yml", ".toml", ".pl", ".r",
    ".jl", ".ex", ".exs", ".nim", ".cr", ".tf", ".mk", ".cmake", ".ps1", ".coffee",
}
_DASH_COMMENTS = {".lua", ".sql", ".hs", ".elm", ".ada", ".vhd"}


def comment_prefix(path: str) -> str:
    """The line-comment marker of the file's language (``//`` for C-like languages)."""
    name = PurePath(path).name
    suffix = PurePath(path).suffix.lower()
    if suffix in _HASH_COMMENTS or name in ("Makefile", "Dockerfile", "Rakefile", "Gemfile"):
        return "#"
    if suffix in _DASH_COMMENTS:
        return "--"
    return "//"


@dataclass(frozen=True)
class Doc:
    """What actions need to know about the document."""

    uri: str
    version: int | None
    lines: list[str]
    newline: str
    path: str  # for the comment syntax and the language
    versioned: bool  # the client accepts documentChanges


def kind_wanted(kind: str, only: Sequence[str] | None) -> bool:
    """``context.only`` filtering: a requested kind matches itself and its sub-kinds."""
    if not only:
        return True
    return any(kind == o or kind.startswith(f"{o}.") for o in only)


def workspace_edit(doc: Doc, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    if doc.versioned:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                    edits=edits,
                )
            ]
        )
    return types.WorkspaceEdit(changes={doc.uri: edits})


def replace_lines(lines: list[str], first: int, last: int, new_lines: list[str], newline: str) -> types.TextEdit:
    """Replace 0-based lines ``first``..``last`` (their text, not the line break after ``last``)."""
    if new_lines:
        return types.TextEdit(
            range=types.Range(types.Position(first, 0), types.Position(last, utf16_len(lines[last]))),
            new_text=newline.join(new_lines),
        )
    # Deleting the lines: take a line break with them.
    if last + 1 < len(lines):
        rng = types.Range(types.Position(first, 0), types.Position(last + 1, 0))
    elif first > 0:
        rng = types.Range(types.Position(first - 1, utf16_len(lines[first - 1])), types.Position(last, utf16_len(lines[last])))
    else:
        rng = types.Range(types.Position(first, 0), types.Position(last, utf16_len(lines[last])))
    return types.TextEdit(range=rng, new_text="")


def fix_edit(item: LiveFinding, doc: Doc) -> types.TextEdit | None:
    span = fix_span(item, doc.lines)
    if span is None or item.fix_lines is None:
        return None
    return replace_lines(doc.lines, span[0], span[1], item.fix_lines, doc.newline)


def fix_action(item: LiveFinding, doc: Doc, diagnostic: types.Diagnostic) -> types.CodeAction | None:
    edit = fix_edit(item, doc)
    if edit is None:
        return None
    return types.CodeAction(
        title=f"Apply Gemma fix: {item.finding.title}",
        kind=QUICKFIX_KIND,
        diagnostics=[diagnostic],
        is_preferred=True,
        edit=workspace_edit(doc, [edit]),
        command=verdict_command(doc.uri, "fixed", [item]),
    )


def ignore_action(item: LiveFinding, doc: Doc, diagnostic: types.Diagnostic, title: str = IGNORE_TITLE) -> types.CodeAction:
    """``# gemma-review: ignore[category]`` on its own line above the finding, at its indentation."""
    line = item.first_line
    text = doc.lines[line] if 0 <= line < len(doc.lines) else ""
    indent = text[: len(text) - len(text.lstrip())]
    comment = f"{indent}{comment_prefix(doc.path)} gemma-review: ignore[{item.finding.category}]{doc.newline}"
    edit = types.TextEdit(range=types.Range(types.Position(line, 0), types.Position(line, 0)), new_text=comment)
    return types.CodeAction(title=title, kind=QUICKFIX_KIND, diagnostics=[diagnostic], edit=workspace_edit(doc, [edit]),
                            command=verdict_command(doc.uri, "ignored", [item]))


def fix_all_action(items: Iterable[LiveFinding], doc: Doc) -> types.CodeAction | None:
    """Every fix that still applies; of two that overlap the more severe finding's wins."""
    edits: list[types.TextEdit] = []
    taken: list[tuple[int, int]] = []
    fixed: list[LiveFinding] = []
    ranked = sorted(items, key=lambda i: (-SEVERITY_RANK[i.finding.severity], -i.finding.confidence, i.first_line))
    for item in ranked:
        span = fix_span(item, doc.lines)
        if span is None or item.fix_lines is None:
            continue
        if any(span[0] <= b and a <= span[1] for a, b in taken):
            continue
        taken.append(span)
        fixed.append(item)
        edits.append(replace_lines(doc.lines, span[0], span[1], item.fix_lines, doc.newline))
    if not edits:
        return None
    edits.sort(key=lambda e: (e.range.start.line, e.range.start.character))
    return types.CodeAction(
        title="Apply all Gemma fixes" if len(edits) > 1 else "Apply the Gemma fix in this file",
        kind=FIX_ALL_KIND,
        edit=workspace_edit(doc, edits),
        command=verdict_command(doc.uri, "fixed", fixed),
    )


# --- refactor ----------------------------------------------------------------------------


def refactor_span(doc: Doc, rng: types.Range, spans: list[tuple[int, int]] | None) -> tuple[int, int] | None:
    """0-based lines to refactor: the selected lines, or the innermost definition under the cursor.

    ``spans`` are the file's definitions (1-based line spans, from tree-sitter), or None
    when its language has no grammar.
    """
    start, end = rng.start, rng.end
    if not doc.lines:
        return None
    if (start.line, start.character) != (end.line, end.character):
        last = end.line - 1 if end.character == 0 and end.line > start.line else end.line
        last = min(last, len(doc.lines) - 1)
        if last < start.line or not any(doc.lines[n].strip() for n in range(start.line, last + 1)):
            return None
        return start.line, last
    if not spans:
        return None
    cursor = start.line + 1
    inside = [(a, b) for a, b in spans if a <= cursor <= b]
    if not inside:
        return None
    a, b = min(inside, key=lambda s: s[1] - s[0])
    return a - 1, min(b, len(doc.lines)) - 1


def refactor_range(doc: Doc, first: int, last: int) -> types.Range:
    return types.Range(types.Position(first, 0), types.Position(last, utf16_len(doc.lines[last])))


def refactor_action(doc: Doc, first: int, last: int, resolvable: bool) -> types.CodeAction:
    """The offer; the model is only called when the user picks it (resolve or the command)."""
    rng = refactor_range(doc, first, last)
    action = types.CodeAction(title=REFACTOR_TITLE, kind=REFACTOR_KIND)
    ref = {"uri": doc.uri, "range": {"start": {"line": first, "character": 0}, "end": {"line": last, "character": rng.end.character}}}
    if resolvable:
        action.data = {"type": DATA_TAG, "version": doc.version, **ref}
    else:
        action.command = types.Command(title=REFACTOR_TITLE, command=REFACTOR_COMMAND, arguments=[ref])
    return action


@dataclass(frozen=True)
class RefactorRequest:
    uri: str
    first: int  # 0-based lines
    last: int
    version: int | None


def parse_refactor_request(obj: Any) -> RefactorRequest:
    """``{uri, range, version?}`` from resolve data or command arguments; ValueError when malformed."""
    if not isinstance(obj, dict):
        raise ValueError("expected {uri, range}")
    uri = obj.get("uri")
    rng = obj.get("range")
    if not isinstance(uri, str) or not isinstance(rng, dict):
        raise ValueError("expected {uri: string, range: {start, end}}")
    try:
        first = int(rng["start"]["line"])
        end_line = int(rng["end"]["line"])
        end_char = int(rng["end"].get("character", 1))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("range must be {start: {line, character}, end: {line, character}}") from None
    last = end_line - 1 if end_char == 0 and end_line > first else end_line
    if first < 0 or last < first:
        raise ValueError("the range is empty")
    version = obj.get("version")
    return RefactorRequest(uri, first, last, version if isinstance(version, int) else None)


def hover_markdown(items: Sequence[LiveFinding], path: str) -> str:
    lang = language_of(path) or ""
    parts: list[str] = []
    for item in items:
        f = item.finding
        # The editor already shows the diagnostic (title and explanation) in the same hover:
        # add only what it lacks, or the user reads everything twice.
        parts.append(f"gemma-review {f.category}, {f.severity}, confidence {f.confidence:.0%}")
        if f.suggested_code.strip():
            why = f" (not offered as a fix: {f.fix_rejected})" if f.fix is None and f.fix_rejected else ""
            parts.append(f"Suggested{why}:\n```{lang}\n{f.suggested_code.strip(chr(10))}\n```")
    return "\n\n".join(parts)
