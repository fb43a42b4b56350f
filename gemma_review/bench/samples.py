"""The labelled samples bench reviews: ``labels.toml`` and the files it names.

``labels.toml`` says which files have which bugs (line range, category, title) and which are
clean; nothing else about a sample is known to the bench.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


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


# `bench` by default: a few samples, so a first run on the demo model ends in about a minute.
DEFAULT_SUBSET_SIZE = 3


def default_subset(samples: list[Sample], size: int = DEFAULT_SUBSET_SIZE) -> list[Sample]:
    """The samples ``bench`` reviews without ``--all``: chosen by size and variety only, never by
    how any model does on them. The smallest clean sample, then the smallest labelled sample of
    each language not yet chosen (by file suffix), smallest first, until ``size``; in
    labels.toml order."""
    by_size = sorted(samples, key=lambda s: (s.path.stat().st_size, s.file))
    chosen: list[Sample] = []
    clean = next((s for s in by_size if s.clean), None)
    if clean is not None:
        chosen.append(clean)
    languages = {Path(s.file).suffix for s in chosen}
    for s in by_size:
        if len(chosen) >= size:
            break
        suffix = Path(s.file).suffix
        if s.clean or suffix in languages:
            continue
        chosen.append(s)
        languages.add(suffix)
    return [s for s in samples if any(s is c for c in chosen)]
