"""``gemma-review bench``: compare models on the labelled samples, reproducibly.

Every sample file in the samples folder (``labels.toml`` says which have which bugs and
which are clean) is reviewed whole by each model, with the cache off so each model
really runs. One row per model: decode and prefill tokens/s, time to the first finding,
GPU memory (Ollama's ``/api/ps``), bugs found (labelled findings matched by a finding on
overlapping lines with the same category), false positives (findings on clean samples
and findings that match no label), fixes that pass the fix checks, and wall time.

- :mod:`.samples` loads the labelled set (``labels.toml``);
- :mod:`.scoring` matches findings to labels: recall, precision, breakdowns;
- :mod:`.running` runs one model over the samples into a :class:`Row`;
- :mod:`.report` writes the markdown table, the JSON and the chart;
- :mod:`.command` is the command, :func:`run`.
"""

from __future__ import annotations

from .command import run
from .report import (
    COLUMNS,
    MIN_WIDTHS,
    PANELS,
    PLOT_HINT,
    TableWriter,
    cells,
    figure_values,
    markdown_foot,
    markdown_head,
    markdown_row,
    plot,
    quality_lines,
    quality_text,
    render_json,
    render_markdown,
    require_matplotlib,
    widths_for,
)
from .running import (
    Row, duration, gpu_memory, model_settings, preflight, run_model, sample_line, time_left, warm_up,
)
from .samples import Label, Sample, default_samples_dir, default_subset, load_samples
from .scoring import CONFIDENCE_BUCKETS, Score, blocking_score, breakdown, only_category, rounded, score

__all__ = [
    "CONFIDENCE_BUCKETS", "COLUMNS", "MIN_WIDTHS", "PANELS", "PLOT_HINT", "Label", "Row", "Sample", "Score",
    "TableWriter", "blocking_score", "breakdown", "cells", "default_samples_dir", "default_subset", "duration", "figure_values", "gpu_memory",
    "load_samples", "markdown_foot", "markdown_head", "markdown_row", "model_settings", "only_category", "plot",
    "preflight", "quality_lines", "quality_text", "render_json", "render_markdown", "require_matplotlib", "rounded",
    "run", "run_model", "sample_line", "score", "time_left", "warm_up", "widths_for",
]
