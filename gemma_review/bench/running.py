"""Running models over the samples: one :class:`Row` of figures per model.

Each sample is reviewed whole, one at a time, with the cache off; the model is loaded (and
checked) before the timing starts, and a line on stderr says as each sample finishes, with
an estimate of the time this model still needs.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import Settings
from ..errors import ConfigError
from ..findings import Finding
from .samples import Sample
from .scoring import Score, blocking_score, breakdown, rounded, score


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
            "time_to_first_finding": rounded(self.first_finding),
            "time_to_first_token": rounded(self.first_token),
            "gpu_memory_bytes": self.gpu_memory,
            "labelled": sc.labelled,
            "bugs_found": sc.found,
            "recall": rounded(sc.recall),
            "false_positives": sc.false_positives,
            "false_positives_clean": sc.fp_clean,
            "false_positives_unlabelled": sc.fp_unlabelled,
            "fixes_valid": sc.fixes_valid,
            "fixes_suggested": sc.fixes_suggested,
            "findings": self.findings,
            "wall_seconds": round(self.wall_seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "load_seconds": rounded(self.load_seconds),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "requests": self.requests,
            "precision": rounded(sc.precision),
            "clean_files_flagged": sc.clean_files_flagged,
            "raw_findings": self.raw_findings,
            "kept_findings": self.findings,
            "dropped": self.dropped,
            "loops_stopped": self.loops_stopped,
            **self.quality,
            "notes": self.notes,
        }



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
    from ..backends.ollama_admin import ollama_client, ollama_show

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
    from ..backends.ollama_admin import load_ollama_model, ollama_client

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
    from ..backends.ollama_admin import ollama_client, ollama_ps_entry

    backend = engine.backend
    if backend.name != "ollama":
        return None
    client = ollama_client(engine.settings)
    try:
        entry = ollama_ps_entry(client, backend.model)
    finally:
        client.close()
    return int(entry.get("size_vram") or 0) if entry is not None else None


def time_left(elapsed: float, done: int, total: int) -> float | None:
    """Seconds the remaining samples should take at the pace so far (elapsed / done x left);
    ``None`` before the first sample finishes and after the last."""
    if done < 1 or done >= total:
        return None
    return elapsed / done * (total - done)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 07 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def sample_line(model: str, done: int, total: int, file: str, findings: int, seconds: float, left: float | None) -> str:
    """The progress line for a finished sample, with the estimated time left for this model."""
    eta = "" if left is None else f", about {duration(left)} left"
    return f"bench: {model}: [{done}/{total}] {file}: {findings} finding{'s' if findings != 1 else ''}, {seconds:.1f} s{eta}\n"


def run_model(engine: Any, samples: Sequence[Sample], root: Path, min_confidence: float | None = None, log: Any = None) -> Row:
    """Review every sample with ``engine``, one at a time, saying on ``log`` as each finishes."""
    from ..result import ReviewResult, VerifyStats
    from ..intake import from_files
    from ..progress import ProgressBar

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
        left = time_left(time.monotonic() - start, i, len(samples))
        log.write(sample_line(engine.model_name, i, len(samples), sample.file, len(one.findings), one.wall_seconds, left))
        log.flush()
    result.wall_seconds = time.monotonic() - start
    m = result.metrics
    backend = engine.backend
    notes = [f"{s.path}: {s.reason}" for s in result.skipped] + list(result.notes)
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
