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
    findings: int = 0
    matched: int = 0  # findings that match a label
    clean_files: int = 0
    clean_files_flagged: int = 0  # clean samples with at least one finding

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.findings if self.findings else None

    @property
    def false_positives(self) -> int:
        return self.fp_clean + self.fp_unlabelled

    @property
    def clean_flagged_rate(self) -> float | None:
        return self.clean_files_flagged / self.clean_files if self.clean_files else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled, "found": self.found, "recall": _round(self.recall),
            "findings": self.findings, "matched": self.matched, "precision": _round(self.precision),
            "false_positives": self.false_positives, "clean_files_flagged": self.clean_files_flagged,
            "clean_files": self.clean_files,
        }


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
        s.findings += len(found)
        s.matched += len(found) - unmatched
        if sample.clean:
            s.fp_clean += unmatched
            s.clean_files += 1
            s.clean_files_flagged += bool(found)
        else:
            s.fp_unlabelled += unmatched
    for f in findings:
        if f.suggested_code.strip():
            s.fixes_suggested += 1
            s.fixes_valid += f.fix is not None
    return s


CONFIDENCE_BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def only_category(samples: Sequence[Sample], category: str) -> list[Sample]:
    """The samples with only ``category``'s labels (clean samples stay clean)."""
    return [dataclasses.replace(s, labels=[lb for lb in s.labels if lb.category == category]) for s in samples]


def breakdown(samples: Sequence[Sample], findings: Sequence[Finding], min_confidence: float) -> dict[str, Any]:
    """Precision and recall per category and severity, and precision by confidence bucket.

    ``findings`` are all the anchored findings (the bench reviews with no confidence floor);
    the per-category and per-severity figures count only those at or above ``min_confidence``,
    the buckets count all of them, so a user can pick ``min_confidence`` from data.
    """
    from .config import CATEGORIES, SEVERITIES

    kept = [f for f in findings if f.confidence >= min_confidence]
    out: dict[str, Any] = {"by_category": {}, "by_severity": {}, "by_confidence": []}
    for category in CATEGORIES:
        sc = score(only_category(samples, category), [f for f in kept if f.category == category])
        if sc.labelled or sc.findings:
            out["by_category"][category] = sc.to_dict()
    for severity in SEVERITIES:
        chosen = [f for f in kept if f.severity == severity]
        sc = score(samples, chosen)
        out["by_severity"][severity] = {"findings": sc.findings, "matched": sc.matched, "precision": _round(sc.precision)}
    edges = list(CONFIDENCE_BUCKETS) + [1.0000001]
    for lo, hi in zip(edges, edges[1:]):
        chosen = [f for f in findings if lo <= f.confidence < hi]
        sc = score(samples, chosen)
        out["by_confidence"].append(
            {"from": lo, "to": min(hi, 1.0), "findings": sc.findings, "matched": sc.matched, "precision": _round(sc.precision)}
        )
    return out


def blocking_score(samples: Sequence[Sample], findings: Sequence[Finding], fail_on: str, before_verify: bool) -> Score:
    """Score of the findings that would fail the run (at or above ``fail_on``)."""
    from .findings import SEVERITY_RANK

    if fail_on == "never":
        return score(samples, [])

    def severity(f: Finding) -> str:
        return str(f.extra.get("severity_before_verify", f.severity)) if before_verify else f.severity

    return score(samples, [f for f in findings if SEVERITY_RANK[severity(f)] >= SEVERITY_RANK[fail_on]])


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
    raw_findings: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    loops_stopped: int = 0
    quality: dict[str, Any] = field(default_factory=dict)  # breakdown(), verify figures

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
            "precision": _round(sc.precision),
            "clean_files_flagged": sc.clean_files_flagged,
            "raw_findings": self.raw_findings,
            "kept_findings": self.findings,
            "dropped": self.dropped,
            "loops_stopped": self.loops_stopped,
            **self.quality,
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


def run_model(engine: Any, samples: Sequence[Sample], root: Path, min_confidence: float | None = None, log: Any = None) -> Row:
    """Review every sample with ``engine``, one at a time, saying on ``log`` as each finishes."""
    from .result import ReviewResult, VerifyStats
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
            one = engine.review(from_files([sample.path], root), on_finding=on_finding, on_progress=bar.update,
                                share_requests=False)
        finally:
            bar.finish()
            engine.on_text = None
        result.findings += one.findings
        result.skipped += one.skipped
        result.notes += one.notes
        result.metrics.add(one.metrics)
        result.raw_findings += one.raw_findings
        result.dropped += one.dropped
        result.loops_stopped += one.loops_stopped
        if one.verify is not None:
            result.verify = result.verify or VerifyStats()
            result.verify.add(one.verify)
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
    threshold = engine.settings.min_confidence if min_confidence is None else min_confidence
    kept = [f for f in result.findings if f.confidence >= threshold]
    dropped = result.dropped_counts()
    below = len(result.findings) - len(kept)
    if below:  # the bench reviews with no floor, then applies the user's: same count as a review
        dropped["below confidence"] = dropped.get("below confidence", 0) + below
    quality: dict[str, Any] = breakdown(samples, result.findings, threshold)
    if result.verify is not None:
        fail_on = engine.settings.fail_on
        quality["verify"] = {
            **result.verify.to_dict(),
            "without": blocking_score(samples, kept, fail_on, before_verify=True).to_dict(),
            "with": blocking_score(samples, kept, fail_on, before_verify=False).to_dict(),
        }
    return Row(
        model=backend.model,
        backend=backend.name,
        score=score(samples, kept),
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
        findings=len(kept),
        notes=notes,
        raw_findings=result.raw_findings,
        dropped=dict(sorted(dropped.items())),
        loops_stopped=result.loops_stopped,
        quality=quality,
    )


# ---------------------------------------------------------------------------- output

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
        "finding overlaps its lines with the same category; precision is findings matching a label, of all "
        "findings; false positives are findings on clean samples and findings matching no label; raw / kept is "
        "what the model wrote and what was reported; valid fixes are fixes that pass the fix checks, of those suggested.\n"
    )


def render_markdown(rows: Sequence[Row], samples: Sequence[Sample]) -> str:
    widths = _widths(rows)
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


# ---------------------------------------------------------------------------- command


def run(
    settings: Settings,
    models: Sequence[str] = (),
    samples: Path | None = None,
    fmt: str = "markdown",
    plot_to: Path | None = None,
    only: Sequence[str] = (),
) -> int:
    """Review the labelled ``samples`` with each of ``models`` (default: the settings' model).

    ``fmt`` is ``markdown`` or ``json``; ``plot_to`` names a PNG for the figures; ``only``
    names a subset of the sample files.
    """
    from .engine import ReviewEngine
    from .errors import EXIT_OK

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
    entries = [m.strip() for m in (models or [settings.model]) if m.strip()]
    entries = list(dict.fromkeys(entries))  # a model named twice runs once
    if not entries:
        raise ConfigError("--models names no model")
    # No confidence floor while reviewing: the floor is applied when scoring, and the
    # findings under it fill the precision-by-confidence table.
    unfloored = dataclasses.replace(settings, min_confidence=0.0)
    engines = [ReviewEngine(model_settings(unfloored, e), root=folder, use_cache=False, allow_demo=True) for e in entries]
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
            row = run_model(engine, loaded_samples, folder, settings.min_confidence)
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
    sys.stdout.write(render_json(rows, loaded_samples, folder) if not markdown
                     else markdown_foot(loaded_samples) + "".join(quality_text(r) for r in rows))
    if plot_to is not None:
        plot(rows, plot_to)
        sys.stderr.write(f"bench: chart written to {plot_to}\n")
    return EXIT_OK
