"""Packing: which units share one model request, and how a packed request reads.

A review is a list of units; a request carries as many of them as the token budget
allows, so the fixed instructions are paid once per request rather than once per
function. All regions of a file go together (in file order, an elision line between
non-contiguous regions, every line keeps its real number, so anchoring is unchanged);
what room is left takes the next file's regions, so small files of one change share a
request. When a file's regions would cost at least as much as the whole file, the whole
file is sent instead: a diff-scoped prompt is never larger than the whole-file one.

Findings of a packed request are attributed to the unit whose lines hold the quoted
code (the one holding the claimed line first), so the cache stays per unit: editing one
function re-sends that function only, whatever it was packed with before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .languages import display_language
from .units import Unit

Estimate = Callable[[str], int]
# Regions covering this share of a file's lines: the few lines left are worth their context.
COVER_WHOLE = 0.8


@dataclass(frozen=True)
class Request:
    """Units of one model request, in file order; a file's units are contiguous."""

    units: tuple[Unit, ...]

    @property
    def paths(self) -> list[str]:
        seen: dict[str, None] = {}
        for u in self.units:
            seen.setdefault(u.path, None)
        return list(seen)

    @property
    def where(self) -> str:
        """For notes: ``a.py:3-9,40-52`` or several files joined by ``; ``."""
        parts = []
        for path in self.paths:
            spans = ",".join(f"{r.start}-{r.end}" for r in regions([u for u in self.units if u.path == path]))
            parts.append(f"{path}:{spans}")
        return "; ".join(parts)


def regions(units: Sequence[Unit]) -> list[Unit]:
    """Overlapping or adjacent units of one file joined, so no line is printed twice."""
    out: list[Unit] = []
    for u in sorted(units, key=lambda u: (u.start, u.end)):
        if out and u.start <= out[-1].end + 1:
            prev = out[-1]
            if u.end > prev.end:
                lines = prev.lines + u.lines[prev.end + 1 - u.start :]
            else:
                lines = prev.lines
            out[-1] = Unit(prev.path, prev.language, prev.start, max(prev.end, u.end), lines,
                           prev.changed | u.changed, prev.whole_file and u.whole_file,
                           _all_removed((prev, u)))
        else:
            out.append(u)
    return out


def _all_removed(units: Sequence[Unit]) -> tuple[tuple[int, tuple[str, ...], int], ...]:
    gone = {at: (g, cut) for u in units for at, g, cut in u.removed}
    return tuple((at, g, cut) for at, (g, cut) in sorted(gone.items()))


def number_region(unit: Unit) -> str:
    """One region with its real line numbers, change marks and deleted lines (the prompt's own rendering)."""
    from .prompt import unit_prompt_lines

    return "\n".join(unit_prompt_lines(unit))


def elision(after: int, before: int) -> str:
    return f"      ... (lines {after + 1}-{before - 1} not shown)"


def file_header(path: str, language: str | None, spans: list[Unit], n_lines: int | None) -> str:
    lang = display_language(language, path)
    if len(spans) == 1 and spans[0].start == 1 and n_lines is not None and spans[0].end >= n_lines:
        return f"File: {path} ({lang}), lines 1-{spans[0].end}, the whole file:"
    where = ", ".join(f"{r.start}-{r.end}" for r in spans)
    what = "a changed region" if len(spans) == 1 else "changed regions, the lines between them not shown"
    return f"File: {path} ({lang}), lines {where}, {what}:"


def render(units: Sequence[Unit], file_sizes: dict[str, int] | None = None) -> str:
    """The code part of a packed request: per file, a header and its numbered regions."""
    blocks: list[str] = []
    for path in Request(tuple(units)).paths:
        spans = regions([u for u in units if u.path == path])
        body: list[str] = [file_header(path, spans[0].language, spans, (file_sizes or {}).get(path))]
        for i, r in enumerate(spans):
            if i:
                body.append(elision(spans[i - 1].end, r.start))
            body.append(number_region(r))
        blocks.append("\n".join(body))
    return "\n\n".join(blocks)


def request_messages(request: Request, guidelines: str = "", file_sizes: dict[str, int] | None = None,
                     learned: str = "") -> list[dict[str, str]]:
    """Chat messages for a request; a single unit reads exactly as ``prompt.review_messages`` makes it.

    ``learned``: the examples block of ``learn = true``, after the guidelines."""
    from .prompt import SYSTEM_PROMPT, review_messages

    if len(request.units) == 1:
        return review_messages(request.units[0], guidelines, learned)
    parts = []
    if guidelines:
        parts.append(f"Project review guidelines (follow them):\n{guidelines}\n")
    if learned:
        parts.append(learned)
    parts.append(render(request.units, file_sizes))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]


def _cost(units: Sequence[Unit], estimate: Estimate, file_sizes: dict[str, int] | None = None) -> int:
    return estimate(render(units, file_sizes))


def prefer_whole(units: list[Unit], file_lines: list[str], budget: int, estimate: Estimate) -> list[Unit]:
    """The file's units, or one unit of the whole file when the regions cover most of it
    or would cost at least as much (never more than one request's budget).

    Changed lines stay what they were: the rest of the file is context, and findings
    outside the change are dropped as before. The whole file is shown as it is now,
    without the deleted lines the regions would show: a diff-scoped prompt must never
    cost more than reviewing the whole file would.
    """
    if not units or units[0].whole_file:
        return units
    n = len(file_lines)
    whole = Unit(units[0].path, units[0].language, 1, n, tuple(file_lines),
                 frozenset().union(*(u.changed for u in units)), whole_file=True)
    sizes = {whole.path: n}
    whole_cost = _cost([whole], estimate, sizes)
    if whole_cost > budget:
        return units  # the whole file would take several requests: keep to the regions
    covered = sum(r.end - r.start + 1 for r in regions(units))
    if covered >= COVER_WHOLE * n or _cost(units, estimate, sizes) >= whole_cost:
        return [whole]
    return units


def pack(
    units: Sequence[Unit],
    budget: int,
    estimate: Estimate,
    file_sizes: dict[str, int] | None = None,
    across_files: bool = True,
) -> list[Request]:
    """Greedy, in order: add the next region while the rendered code stays within ``budget`` tokens.

    ``across_files=False`` keeps every file in requests of its own (the benchmark scores
    models per file). Items are regions (overlapping units of one file travel together); a region that is
    too large alone still gets its own request (the engine then reports it as too large).
    Cost is re-estimated on the rendered text, so headers and elision lines are counted.
    """
    items: list[list[Unit]] = []
    by_path: dict[str, list[Unit]] = {}
    for u in units:
        by_path.setdefault(u.path, []).append(u)
    for path, file_units in by_path.items():
        # Overlapping units (windows of one long definition) travel together, unless together
        # they exceed the budget: then each goes alone and the shared lines are sent twice.
        group: list[Unit] = []
        end = -1
        for u in sorted(file_units, key=lambda u: (u.start, u.end)):
            if group and u.start > end:
                items.extend(_fit(group, budget, estimate, file_sizes))
                group = []
            group.append(u)
            end = max(end, u.end)
        if group:
            items.extend(_fit(group, budget, estimate, file_sizes))
    requests: list[Request] = []
    current: list[Unit] = []
    # Running total of the pieces' estimates: an upper bound of the joined text's estimate
    # (each join adds one newline), so the check stays linear in the request's size.
    used = 0
    for item in items:
        piece = _cost(item, estimate, file_sizes) + 2  # its own header, an elision line, the joins
        new_file = bool(current) and current[-1].path != item[0].path
        if current and (used + piece > budget or (new_file and not across_files)):
            requests.append(Request(tuple(current)))
            current, used = [], 0
        current.extend(item)
        used += piece
    if current:
        requests.append(Request(tuple(current)))
    return requests


def _fit(group: list[Unit], budget: int, estimate: Estimate, file_sizes: dict[str, int] | None) -> list[list[Unit]]:
    if len(group) == 1 or _cost(group, estimate, file_sizes) <= budget:
        return [group]
    return [[u] for u in group]


def attribute(request: Request, raw: dict[str, Any], build: Callable[[Unit, dict[str, Any]], Any]) -> tuple[Unit, Any] | None:
    """The unit a raw model finding belongs to and the anchored finding, or None.

    Units holding the claimed line are tried first (the model's line numbers are file
    lines), then the rest in order; the first unit where the quoted code anchors wins.
    A ``path``/``file`` field, if a model adds one, narrows the choice to that file.
    """
    units = list(request.units)
    named = raw.get("path") or raw.get("file")
    if isinstance(named, str) and named:
        same = [u for u in units if u.path == named or u.path.endswith("/" + named)]
        if same:
            units = same
    try:
        line = int(raw.get("line"))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        line = None
    first = [u for u in units if line is not None and u.start <= line <= u.end]
    rest = [u for u in units if u not in first]
    for unit in first + rest:
        found = build(unit, raw)
        if found is not None:
            return unit, found
    return None
