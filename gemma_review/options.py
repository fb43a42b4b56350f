"""Options shared by every front end, as plain data, and the option -> setting mapping.

The CLI turns these specs into argparse arguments (it is the only module that knows
argparse); any front end turns parsed values back into a plain dict of setting overrides
with :func:`overrides_from`. Keeping the table here lets ``review``, ``doctor``, ``bench``
and the hook share one definition without importing the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .config import BACKENDS, CATEGORIES, FAIL_ON, SEVERITIES, setting_names


@dataclass(frozen=True)
class Option:
    """One command-line option; ``dest`` is its value's name (a setting name where it is one)."""

    flags: tuple[str, ...]
    dest: str
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag without a value (store_true)
    metavar: str | None = None


MODEL = Option(("--model",), "model", "model name (default gemma4:e4b)")
HOST = Option(("--host",), "host", "model server URL (default http://127.0.0.1:11434, env OLLAMA_HOST)")
BACKEND = Option(("--backend",), "backend", "model backend (default auto)", choices=BACKENDS)
MODEL_FILE = Option(("--model-file",), "model_file", "GGUF file for the embedded backend")
ALLOW_REMOTE = Option(("--allow-remote",), "allow_remote", "allow a model host that is not on this machine", switch=True)
REQUEST_TIMEOUT = Option(("--timeout",), "timeout", "seconds to wait for the model per request", type=float)
NUM_CTX = Option(("--num-ctx",), "num_ctx", "context window sent to the model", type=int)
NUM_PREDICT = Option(("--num-predict",), "num_predict", "cap on tokens the model may write per unit", type=int)
CONFIG = Option(("--config",), "config", "read settings from this TOML file", type=Path)  # a path, not a setting
NO_CACHE = Option(("--no-cache",), "no_cache", "do not read or write the review cache", switch=True)

# The model group of review, doctor, bench and the hook (whose --timeout is its own budget).
MODEL_OPTIONS: tuple[Option, ...] = (
    MODEL, HOST, BACKEND, MODEL_FILE, ALLOW_REMOTE, REQUEST_TIMEOUT, NUM_CTX, NUM_PREDICT, CONFIG, NO_CACHE,
)


def model_options(request_timeout: bool = True) -> tuple[Option, ...]:
    return MODEL_OPTIONS if request_timeout else tuple(o for o in MODEL_OPTIONS if o is not REQUEST_TIMEOUT)


def fail_on_option(what: str) -> Option:
    return Option(("--fail-on",), "fail_on", f"{what} on findings at or above this severity (default error)", choices=FAIL_ON)


# The finding filters of review and the hook.
FILTER_OPTIONS: tuple[Option, ...] = (
    Option(("--min-confidence",), "min_confidence", "drop findings below this confidence (0-1)", type=float),
    Option(("--min-severity",), "min_severity", "drop findings below this severity", choices=SEVERITIES),
    Option(("--categories",), "categories", f"comma-separated subset of: {','.join(CATEGORIES)}"),
    Option(("--guidelines",), "guidelines", "the repository's review guidelines file"),
)

# Option values that are settings of the same name.
OVERRIDE_FLAGS: tuple[str, ...] = (
    "model", "host", "backend", "model_file", "allow_remote", "timeout", "num_ctx", "num_predict",
    "fail_on", "min_confidence", "min_severity", "categories", "guidelines",
)
assert set(OVERRIDE_FLAGS) <= set(setting_names())


def overrides_from(values: Mapping[str, Any], skip: Sequence[str] = ()) -> dict[str, Any]:
    """Setting overrides from parsed option values; ``skip`` names options that mean something else."""
    out = {n: values[n] for n in OVERRIDE_FLAGS if n not in skip and values.get(n) is not None}
    if values.get("no_cache"):
        out["cache"] = False
    return out
