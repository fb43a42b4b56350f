"""``gemma-review bench``: compare models on the labelled samples, reproducibly.

Every sample file in the samples folder (``labels.toml`` says which have which bugs and
which are clean) is reviewed whole by each model, with the cache off so each model
really runs. One row per model: decode and prefill tokens/s, time to the first finding,
GPU memory (Ollama's ``/api/ps``), bugs found (labelled findings matched by a finding on
overlapping lines with the same category), false positives (findings on clean samples
and findings that match no label), fixes that pass the fix checks, and wall time.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .config import Settings
from .errors import ConfigError, InputError
from .findings import Finding

PLOT_HINT = "--plot needs matplotlib: pip install 'gemma-review[plot]'"


# ---------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Label:
    line: int
    end_line: int
    category: str
    title: str


@dataclass
class Sample:
    file: str  # as labels.toml names it, relative to the samples folder, "/" separated
    path: Path
    clean: bool
    labels: list[Label] = field(default_factory=list)


def default_samples_dir() -> Path:
    """The labelled samples: inside the installed package (the wheel maps the repository's
    ``samples/`` to ``gemma_review/samples``), or beside the package in a source checkout."""
    import gemma_review

    package = Path(gemma_review.__file__).resolve().parent
    for folder in (package / "samples", package.parent / "samples"):
        if (folder / "labels.toml").is_file():
            return folder
    return package / "samples"  # load_samples says it is missing and what to pass


def load_samples(folder: Path) -> list[Sample]:
    """The samples ``folder/labels.toml`` describes; one clear error for a broken folder."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    labels_file = folder / "labels.toml"
    if not folder.is_dir():
        raise InputError(f"no samples folder at {folder}; pass --samples DIR (a folder with labels.toml)")
    if not labels_file.is_file():
        raise InputError(f"{folder} has no labels.toml; bench needs labelled samples")
    try:
        data = tomllib.loads(labels_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {labels_file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{labels_file}: invalid TOML: {exc}") from None
    samples: list[Sample] = []
    for i, entry in enumerate(data.get("samples") or []):
        where = f"{labels_file}: sample {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise InputError(f"{where} has no file name")
        path = folder / entry["file"]
        if not path.is_file():
            raise InputError(f"{where}: {path} does not exist")
        labels = []
        for raw in entry.get("findings") or []:
            try:
                line = int(raw["line"])
                labels.append(Label(line, int(raw.get("end_line", line)), str(raw["category"]), str(raw.get("title", ""))))
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{where} ({entry['file']}): a finding needs line and category") from None
        clean = bool(entry.get("clean", not labels))
        if clean and labels:
            raise InputError(f"{where} ({entry['file']}) is marked clean but has labelled findings")
        samples.append(Sample(Path(entry["file"]).as_posix(), path, clean, labels))
    if not samples:
        raise InputError(f"{labels_file} lists no [[samples]]")
    return samples


# ---------------------------------------------------------------------------- scoring


@dataclass
class Score:
    labelled: int = 0
    found: int = 0  # labelled findings matched by some finding
    fp_clean: int = 0  # findings on clean samples
    fp_unlabelled: int = 0  # findings on labelled samples that match no label
    fixes_valid: int = 0  # findings with a fix that passes the fix checks
    fixes_suggested: int = 0  # findings with non-empty suggested_code

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def false_positives(self) -> int:
        return self.fp_clean + self.fp_unlabelled


def _matches(f: Finding, label: Label) -> bool:
    return f.line <= label.end_line and label.line <= f.end_line and f.category == label.category


def score(samples: Sequence[Sample], findings: Sequence[Finding]) -> Score:
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path.replace("\\", "/"), []).append(f)
    s = Score()
    for sample in samples:
        found = by_file.get(sample.file, [])
        s.labelled += len(sample.labels)
        s.found += sum(1 for label in sample.labels if any(_matches(f, label) for f in found))
        unmatched = sum(1 for f in found if not any(_matches(f, label) for label in sample.labels))
        if sample.clean:
            s.fp_clean += unmatched
        else:
            s.fp_unlabelled += unmatched
    for f in findings:
        if f.suggested_code.strip():
            s.fixes_suggested += 1
            s.fixes_valid += f.fix is not None
    return s


# ---------------------------------------------------------------------------- running


@dataclass
class Row:
    model: str
    backend: str
    score: Score
    decode_tps: float
    prefill_tps: float
    first_finding: float | None  # seconds from the start of the review
    first_token: float | None
    gpu_memory: int | None  # bytes; None where the server does not say
    wall_seconds: float
    model_seconds: float
    load_seconds: float | None
    prompt_tokens: int
    output_tokens: int
    requests: int
    findings: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        sc = self.score
        return {
            "model": self.model,
            "backend": self.backend,
            "decode_tokens_per_second": round(self.decode_tps, 2),
            "prefill_tokens_per_second": round(self.prefill_tps, 2),
            "time_to_first_finding": _round(self.first_finding),
            "time_to_first_token": _round(self.first_token),
            "gpu_memory_bytes": self.gpu_memory,
            "labelled": sc.labelled,
            "bugs_found": sc.found,
            "recall": _round(sc.recall),
            "false_positives": sc.false_positives,
            "false_positives_clean": sc.fp_clean,
            "false_positives_unlabelled": sc.fp_unlabelled,
            "fixes_valid": sc.fixes_valid,
            "fixes_suggested": sc.fixes_suggested,
            "findings": self.findings,
            "wall_seconds": round(self.wall_seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "load_seconds": _round(self.load_seconds),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "requests": self.requests,
            "notes": self.notes,
        }


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def model_settings(settings: Settings, entry: str) -> Settings:
    """Settings for one ``--models`` entry: a model name, or a GGUF file for llama.cpp."""
    if entry.lower().endswith(".gguf"):
        backend = "embedded" if settings.backend == "auto" else settings.backend
        if backend != "embedded":
            raise ConfigError(f"{entry} is a GGUF file: it runs only with --backend embedded (or auto)")
        return dataclasses.replace(settings, model_file=entry, backend=backend, cache=False)
    return dataclasses.replace(settings, model=entry, cache=False)


def preflight(engines: list[Any]) -> None:
    """Fail before any model runs when one of them cannot (e.g. not pulled)."""
    from .backends.ollama_admin import ollama_client, ollama_show

    for engine in engines:
        backend = engine.backend  # selects (and checks) the backend
        if backend.name == "ollama":
            client = ollama_client(engine.settings)
            try:
                ollama_show(client, backend.model)
            finally:
                client.close()


def warm_up(engine: Any) -> float | None:
    """Load the model before timing, so the first model does not pay for loading alone."""
    from .backends.ollama_admin import load_ollama_model, ollama_client

    backend = engine.backend
    start = time.monotonic()
    if backend.name == "ollama":
        import ollama  # noqa: F401 - its import takes about a second; not the first model's time

        client = ollama_client(engine.settings)
        try:
            return load_ollama_model(client, engine.settings, backend.model)
        finally:
            client.close()
    if backend.name == "embedded":
        backend.load(engine.settings.num_ctx)
        return time.monotonic() - start
    return None


def gpu_memory(engine: Any) -> int | None:
    from .backends.ollama_admin import ollama_client, ollama_ps_entry

    backend = engine.backend
    if backend.name != "ollama":
        return None
    client = ollama_client(engine.settings)
    try:
        entry = ollama_ps_entry(client, backend.model)
    finally:
        client.close()
    return int(entry.get("size_vram") or 0) if entry is not None else None


def run_model(engine: Any, samples: Sequence[Sample], root: Path, log: Any = None) -> Row:
    """Review every sample with ``engine``, one at a time, saying on ``log`` as each finishes."""
    from .engine import ReviewResult
    from .intake import from_files
    from .progress import ProgressBar

    log = sys.stderr if log is None else log
    load_seconds = warm_up(engine)
    first: list[float] = []
    start = time.monotonic()
    result = ReviewResult()

    def on_finding(_: Finding) -> None:
        if not first:
            first.append(time.monotonic() - start)

    for i, sample in enumerate(samples, 1):
        bar = ProgressBar(stream=log, label=f"bench: {engine.model_name}: [{i}/{len(samples)}] {sample.file}")
        engine.on_text = bar.on_text
        try:
            one = engine.review(from_files([sample.path], root), on_finding=on_finding, on_progress=bar.update)
        finally:
            bar.finish()
            engine.on_text = None
        result.findings += one.findings
        result.skipped += one.skipped
        result.notes += one.notes
        result.metrics.add(one.metrics)
        n = len(one.findings)
        log.write(
            f"bench: {engine.model_name}: [{i}/{len(samples)}] {sample.file}: "
            f"{n} finding{'s' if n != 1 else ''}, {one.wall_seconds:.1f} s\n"
        )
        log.flush()
    result.wall_seconds = time.monotonic() - start
    m = result.metrics
    backend = engine.backend
    notes = [f"{path}: {reason}" for path, reason in result.skipped] + list(result.notes)
    return Row(
        model=backend.model,
        backend=backend.name,
        score=score(samples, result.findings),
        decode_tps=m.decode_tps,
        prefill_tps=m.prefill_tps,
        first_finding=first[0] if first else None,
        first_token=m.time_to_first_token,
        gpu_memory=gpu_memory(engine),
        wall_seconds=result.wall_seconds,
        model_seconds=m.total_seconds,
        load_seconds=load_seconds,
        prompt_tokens=m.prompt_tokens,
        output_tokens=m.output_tokens,
        requests=m.requests,
        findings=len(result.findings),
        notes=notes,
    )


# ---------------------------------------------------------------------------- output

COLUMNS = (
    "model", "decode tok/s", "prefill tok/s", "first finding", "GPU memory",
    "bugs found", "false positives", "valid fixes", "wall time",
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
        str(sc.false_positives),
        f"{sc.fixes_valid}/{sc.fixes_suggested}",
        f"{row.wall_seconds:.1f} s",
    ]


# Column widths wide enough for typical cells, so rows can be printed as each model finishes.
MIN_WIDTHS = (14, 12, 13, 13, 10, 12, 15, 11, 9)


def _widths(rows: Sequence[Row]) -> list[int]:
    table = [list(COLUMNS)] + [cells(r) for r in rows]
    return [max([MIN_WIDTHS[i]] + [len(r[i]) for r in table]) for i in range(len(COLUMNS))]


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
        "finding overlaps its lines with the same category; false positives are findings on clean samples "
        "and findings matching no label; valid fixes are fixes that pass the fix checks, of those suggested.\n"
    )


def render_markdown(rows: Sequence[Row], samples: Sequence[Sample]) -> str:
    widths = _widths(rows)
    return markdown_head(widths) + "".join(markdown_row(r, widths) for r in rows) + markdown_foot(samples)


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


# ---------------------------------------------------------------------------- command


def run(
    settings: Settings,
    models: Sequence[str] = (),
    samples: Path | None = None,
    fmt: str = "markdown",
    plot_to: Path | None = None,
) -> int:
    """Review the labelled ``samples`` with each of ``models`` (default: the settings' model).

    ``fmt`` is ``markdown`` or ``json``; ``plot_to`` names a PNG for the figures.
    """
    from .engine import ReviewEngine
    from .errors import EXIT_OK

    if plot_to is not None:
        require_matplotlib()  # before minutes of reviewing, not after
    folder = (samples or default_samples_dir()).resolve()
    loaded_samples = load_samples(folder)
    entries = [m.strip() for m in (models or [settings.model]) if m.strip()]
    entries = list(dict.fromkeys(entries))  # a model named twice runs once
    if not entries:
        raise ConfigError("--models names no model")
    engines = [ReviewEngine(model_settings(settings, e), root=folder, use_cache=False, allow_demo=True) for e in entries]
    rows: list[Row] = []
    markdown = fmt != "json"
    widths = _widths([])
    try:
        preflight(engines)
        for engine in engines:
            if engine.backend_notice:
                sys.stderr.write(f"gemma-review: {engine.backend_notice}\n")
            sys.stderr.write(f"bench: {engine.model_name}: loading, then reviewing {len(loaded_samples)} samples\n")
            sys.stderr.flush()
            row = run_model(engine, loaded_samples, folder)
            rows.append(row)
            sys.stderr.write(
                f"bench: {row.model}: {len(loaded_samples)} samples, {row.requests} requests in {row.wall_seconds:.1f} s\n"
            )
            for note in row.notes:
                sys.stderr.write(f"bench: {row.model}: {note}\n")
            if markdown:  # each model's row as soon as it is known, not after every model ran
                sys.stdout.write((markdown_head(widths) if len(rows) == 1 else "") + markdown_row(row, widths))
                sys.stdout.flush()
    finally:
        for engine in engines:
            engine.close()
    sys.stdout.write(render_json(rows, loaded_samples, folder) if not markdown else markdown_foot(loaded_samples))
    if plot_to is not None:
        plot(rows, plot_to)
        sys.stderr.write(f"bench: chart written to {plot_to}\n")
    return EXIT_OK
