"""bench's output: the markdown table (streamed a row per model), JSON, and the PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence, TextIO

from ..errors import InputError
from .running import Row
from .samples import Sample

PLOT_HINT = "--plot needs matplotlib: pip install 'gemma-review[plot]'"

COLUMNS = (
    "model", "decode tok/s", "prefill tok/s", "first finding", "GPU memory",
    "bugs found", "precision", "false positives", "clean files flagged", "raw / kept", "valid fixes", "wall time",
)


def _seconds(x: float | None) -> str:
    return "none" if x is None else f"{x:.2f} s"


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.1f} GiB"


def cells(row: Row) -> list[str]:
    sc = row.score
    recall = "n/a" if sc.recall is None else f"{sc.found}/{sc.labelled} ({100 * sc.recall:.0f}%)"
    return [
        row.model,
        f"{row.decode_tps:.1f}",
        f"{row.prefill_tps:.1f}",
        _seconds(row.first_finding),
        _gib(row.gpu_memory),
        recall,
        "n/a" if sc.precision is None else f"{sc.matched}/{sc.findings} ({100 * sc.precision:.0f}%)",
        str(sc.false_positives),
        f"{sc.clean_files_flagged}/{sc.clean_files}",
        f"{row.raw_findings} / {row.findings}",
        f"{sc.fixes_valid}/{sc.fixes_suggested}",
        f"{row.wall_seconds:.1f} s",
    ]


# Column widths wide enough for typical cells, so rows can be printed as each model finishes.
MIN_WIDTHS = (14, 12, 13, 13, 10, 12, 9, 15, 19, 10, 11, 9)
MODEL, BUGS_FOUND, PRECISION, CLEAN_FLAGGED = 0, 5, 6, 8  # columns whose cells can be bounded up front


def widths_for(rows: Sequence[Row], names: Sequence[str] = (), samples: Sequence[Sample] = ()) -> list[int]:
    """Column widths that fit the headers, ``rows``' cells and what is known before any row:
    the models' ``names`` and the counts the ``samples`` bound (``labelled/labelled (100%)``)."""
    table = [list(COLUMNS)] + [cells(r) for r in rows]
    widths = [max([MIN_WIDTHS[i]] + [len(r[i]) for r in table]) for i in range(len(COLUMNS))]
    widths[MODEL] = max([widths[MODEL]] + [len(n) for n in names])
    if samples:
        labelled = sum(len(s.labels) for s in samples)
        clean = sum(1 for s in samples if s.clean)
        for column in (BUGS_FOUND, PRECISION):  # precision: room for as many findings as labels
            widths[column] = max(widths[column], len(f"{labelled}/{labelled} (100%)"))
        widths[CLEAN_FLAGGED] = max(widths[CLEAN_FLAGGED], len(f"{clean}/{clean}"))
    return widths


class TableWriter:
    """The markdown table written a row at a time, as each model finishes.

    The columns are as wide as what is known before the first row is written (see
    :func:`widths_for`) and that row. A later row with a wider cell (more findings than the
    labels, a very slow model) starts a fresh table with wider columns, after a blank line,
    rather than a row out of line with the ones above it.
    """

    def __init__(self, stream: TextIO, names: Sequence[str] = (), samples: Sequence[Sample] = ()) -> None:
        self.stream = stream
        self.names = list(names)
        self.samples = list(samples)
        self.widths: list[int] | None = None  # those of the table being written

    def write(self, row: Row) -> None:
        if self.widths is None or any(len(c) > w for c, w in zip(cells(row), self.widths)):
            if self.widths is not None:
                self.stream.write("\n")
            fitted = widths_for([row], self.names, self.samples)
            self.widths = [max(a, b) for a, b in zip(fitted, self.widths or fitted)]
            self.stream.write(markdown_head(self.widths))
        self.stream.write(markdown_row(row, self.widths))
        self.stream.flush()


def _line(values: list[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"


def markdown_head(widths: Sequence[int]) -> str:
    return _line(list(COLUMNS), widths) + "\n" + "|" + "|".join("-" * (w + 2) for w in widths) + "|\n"


def markdown_row(row: Row, widths: Sequence[int]) -> str:
    return _line(cells(row), widths) + "\n"


def markdown_foot(samples: Sequence[Sample]) -> str:
    labelled = sum(len(s.labels) for s in samples)
    clean = sum(1 for s in samples if s.clean)
    return (
        f"\n{len(samples)} samples ({clean} clean), {labelled} labelled findings; a bug counts as found when a "
        "finding overlaps its lines with the same category; precision is findings matching a label, of all "
        "findings; false positives are findings on clean samples and findings matching no label; raw / kept is "
        "what the model wrote and what was reported; valid fixes are fixes that pass the fix checks, of those suggested.\n"
    )


def render_markdown(rows: Sequence[Row], samples: Sequence[Sample]) -> str:
    widths = widths_for(rows)
    body = markdown_head(widths) + "".join(markdown_row(r, widths) for r in rows) + markdown_foot(samples)
    return body + "".join(quality_text(r) for r in rows)


def quality_text(row: Row) -> str:
    return "\n".join(quality_lines(row)) + "\n"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def quality_lines(row: Row) -> list[str]:
    """The quality breakdown of one model, as short markdown lists."""
    q = row.quality
    out = ["", f"**{row.model}**: dropped {json.dumps(row.dropped)}, loops stopped {row.loops_stopped}"]
    cats = q.get("by_category") or {}
    if cats:
        out.append("- by category: " + "; ".join(
            f"{c} recall {d['found']}/{d['labelled']}, precision {d['matched']}/{d['findings']}" for c, d in cats.items()))
    sev = q.get("by_severity") or {}
    out.append("- by severity: " + "; ".join(f"{s} {d['matched']}/{d['findings']}" for s, d in sev.items()))
    buckets = [b for b in q.get("by_confidence") or [] if b["findings"]]
    if buckets:
        out.append("- precision by confidence: " + "; ".join(
            f"{b['from']:.1f}-{b['to']:.1f} {b['matched']}/{b['findings']}" for b in buckets))
    v = q.get("verify")
    if v:
        out.append(
            f"- verify: {v['asked']} asked, {v['withdrawn']} withdrawn, {v['prompt_tokens']} + {v['output_tokens']} extra tokens; "
            f"blocking findings recall {_pct(v['without']['recall'])} -> {_pct(v['with']['recall'])}, "
            f"precision {_pct(v['without']['precision'])} -> {_pct(v['with']['precision'])}"
        )
    return out


def render_json(rows: Sequence[Row], samples: Sequence[Sample], folder: Path) -> str:
    doc = {
        "samples": str(folder),
        "files": len(samples),
        "clean_files": sum(1 for s in samples if s.clean),
        "labelled_findings": sum(len(s.labels) for s in samples),
        "models": [r.to_dict() for r in rows],
    }
    return json.dumps(doc, indent=2) + "\n"


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(PLOT_HINT) from None


PANELS: tuple[tuple[str, str], ...] = (
    ("decode tokens/s", "decode"),
    ("prefill tokens/s", "prefill"),
    ("time to first finding (s)", "first"),
    ("GPU memory (GiB)", "memory"),
    ("bugs found (% recall)", "recall"),
    ("false positives", "fp"),
    ("valid fixes (%)", "fixes"),
    ("wall time (s)", "wall"),
)


def figure_values(row: Row) -> dict[str, float | None]:
    sc = row.score
    return {
        "decode": row.decode_tps,
        "prefill": row.prefill_tps,
        "first": row.first_finding,
        "memory": None if row.gpu_memory is None else row.gpu_memory / 2**30,
        "recall": None if sc.recall is None else 100 * sc.recall,
        "fp": float(sc.false_positives),
        "fixes": 100 * sc.fixes_valid / sc.fixes_suggested if sc.fixes_suggested else None,
        "wall": row.wall_seconds,
    }


def _bar_label(h: float | None) -> str:
    if h is None:
        return "n/a"
    return f"{h:,.0f}" if abs(h) >= 100 else f"{h:.3g}"


def plot(rows: Sequence[Row], path: Path) -> None:
    """The table's figures as bar charts, one panel per figure (no pyplot global state)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 7.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4)
    names = [r.model for r in rows]
    values = [figure_values(r) for r in rows]
    for ax, (title, key) in zip(axes.flat, PANELS):
        heights = [v[key] for v in values]
        bars = ax.bar(range(len(rows)), [h or 0.0 for h in heights], color=[f"C{i}" for i in range(len(rows))])
        ax.bar_label(bars, labels=[_bar_label(h) for h in heights])
        ax.set_title(title)
        ax.set_xticks(range(len(rows)), names, rotation=15 if len(rows) > 2 else 0)
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)
    fig.suptitle("gemma-review bench")
    try:
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
