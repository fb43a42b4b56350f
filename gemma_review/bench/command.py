"""``gemma-review bench`` itself: load the samples, run each model, print as rows come in."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from ..config import Settings
from ..errors import ConfigError, InputError
from .report import (
    TableWriter, markdown_foot, plot, quality_text, render_json, require_matplotlib,
)
from .running import Row, model_settings, preflight, run_model
from .samples import default_samples_dir, default_subset, load_samples


def run(
    settings: Settings,
    models: Sequence[str] = (),
    samples: Path | None = None,
    fmt: str = "markdown",
    plot_to: Path | None = None,
    only: Sequence[str] = (),
    all_samples: bool = False,
) -> int:
    """Review the labelled ``samples`` with each of ``models`` (default: the settings' model).

    ``fmt`` is ``markdown`` or ``json``; ``plot_to`` names a PNG for the figures; ``only``
    names a subset of the sample files. Without ``only`` or ``all_samples``, the bundled
    samples are cut to :func:`default_subset` (a folder passed as ``samples`` is reviewed whole).
    """
    from ..engine import ReviewEngine
    from ..errors import EXIT_OK

    if plot_to is not None:
        require_matplotlib()  # before minutes of reviewing, not after
    folder = (samples or default_samples_dir()).resolve()
    loaded_samples = load_samples(folder)
    if only:
        wanted = {w.strip() for w in only if w.strip()}
        unknown = sorted(wanted - {s.file for s in loaded_samples})
        if unknown:
            raise InputError(f"--only names {', '.join(unknown)}, not in {folder / 'labels.toml'}")
        loaded_samples = [s for s in loaded_samples if s.file in wanted]
    subset_line = ""
    if not only and not all_samples and samples is None:
        subset = default_subset(loaded_samples)
        if len(subset) < len(loaded_samples):
            subset_line = (
                f"bench: {len(subset)} of {len(loaded_samples)} samples ({', '.join(s.file for s in subset)}; "
                "the smallest of each kind, not the easiest); --all for every sample\n"
            )
            loaded_samples = subset
    entries = [m.strip() for m in (models or [settings.model]) if m.strip()]
    entries = list(dict.fromkeys(entries))  # a model named twice runs once
    if not entries:
        raise ConfigError("--models names no model")
    # No confidence floor while reviewing: the floor is applied when scoring, and the
    # findings under it fill the precision-by-confidence table.
    unfloored = dataclasses.replace(settings, min_confidence=0.0)
    engines = [ReviewEngine(model_settings(unfloored, e), root=folder, use_cache=False, allow_demo=True) for e in entries]
    for engine in engines:
        engine.counts_verdicts = False  # the samples' findings are not anyone's verdicts
    rows: list[Row] = []
    markdown = fmt != "json"
    try:
        preflight(engines)
        sys.stderr.write(subset_line)  # after the checks: an error stays the only line
        table = TableWriter(sys.stdout, [e.model_name for e in engines], loaded_samples)
        for engine in engines:
            if engine.backend_notice:
                sys.stderr.write(f"gemma-review: {engine.backend_notice}\n")
            sys.stderr.write(f"bench: {engine.model_name}: loading, then reviewing {len(loaded_samples)} samples\n")
            sys.stderr.flush()
            row = run_model(engine, loaded_samples, folder, settings.min_confidence)
            rows.append(row)
            sys.stderr.write(
                f"bench: {row.model}: {len(loaded_samples)} samples, {row.requests} requests in {row.wall_seconds:.1f} s\n"
            )
            for note in row.notes:
                sys.stderr.write(f"bench: {row.model}: {note}\n")
            if markdown:  # each model's row as soon as it is known, not after every model ran
                table.write(row)
    finally:
        for engine in engines:
            engine.close()
    sys.stdout.write(render_json(rows, loaded_samples, folder) if not markdown
                     else markdown_foot(loaded_samples) + "".join(quality_text(r) for r in rows))
    if plot_to is not None:
        plot(rows, plot_to)
        sys.stderr.write(f"bench: chart written to {plot_to}\n")
    return EXIT_OK
