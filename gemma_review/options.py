"""Options shared by every front end, as plain data, and the option -> setting mapping.

The CLI turns these specs into argparse arguments (it is the only module that knows
argparse); any front end turns parsed values back into a plain dict of setting overrides
with :func:`overrides_from`. Keeping the table here lets ``review``, ``doctor``, ``bench``
and the hook share one definition without importing the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .config import SPECS


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


_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float}


def setting_option(name: str) -> Option:
    """The option of a setting, from its declaration in gemma_review/config.py."""
    spec = SPECS[name]
    if spec.flag is None:
        raise KeyError(f"setting '{name}' has no command-line flag")
    return Option(
        (spec.flag,), name, spec.flag_help or spec.help,
        type=_TYPES.get(spec.kind),
        choices=spec.choices if spec.kind != "list[str]" else None,  # a list is given comma-separated
        switch=spec.kind == "bool",
        metavar=spec.metavar,
    )


# Every setting that has a flag, as an option (same order as the declarations).
SETTING_OPTIONS: dict[str, Option] = {name: setting_option(name) for name, spec in SPECS.items() if spec.flag}

MODEL = SETTING_OPTIONS["model"]
HOST = SETTING_OPTIONS["host"]
BACKEND = SETTING_OPTIONS["backend"]
MODEL_FILE = SETTING_OPTIONS["model_file"]
ALLOW_REMOTE = SETTING_OPTIONS["allow_remote"]
REQUEST_TIMEOUT = SETTING_OPTIONS["timeout"]
NUM_CTX = SETTING_OPTIONS["num_ctx"]
NUM_PREDICT = SETTING_OPTIONS["num_predict"]
CONFIG = Option(("--config",), "config", "read settings from this TOML file", type=Path)  # a path, not a setting
NO_CACHE = Option(("--no-cache",), "no_cache", "do not read or write the review cache", switch=True)

# The model group of review, doctor, bench and the hook (whose --timeout is its own budget).
MODEL_OPTIONS: tuple[Option, ...] = (
    MODEL, HOST, BACKEND, MODEL_FILE, ALLOW_REMOTE, REQUEST_TIMEOUT, NUM_CTX, NUM_PREDICT, CONFIG, NO_CACHE,
)


def model_options(request_timeout: bool = True) -> tuple[Option, ...]:
    return MODEL_OPTIONS if request_timeout else tuple(o for o in MODEL_OPTIONS if o is not REQUEST_TIMEOUT)


def fail_on_option(what: str) -> Option:
    return replace(SETTING_OPTIONS["fail_on"], help=f"{what} on findings at or above this severity (default error)")


# The finding filters of review and the hook.
FILTER_OPTIONS: tuple[Option, ...] = tuple(
    SETTING_OPTIONS[n] for n in ("min_confidence", "min_severity", "categories", "guidelines")
)

# The verification pass (review and bench).
VERIFY = SETTING_OPTIONS["verify"]
# Fail a review that reviewed nothing (review only; the hook's --strict is its own).
STRICT = SETTING_OPTIONS["strict"]
# Requests in flight at once (review only): for servers that batch.
JOBS = SETTING_OPTIONS["max_parallel"]

# Option values that are settings of the same name.
OVERRIDE_FLAGS: tuple[str, ...] = tuple(SETTING_OPTIONS)


def overrides_from(values: Mapping[str, Any], skip: Sequence[str] = ()) -> dict[str, Any]:
    """Setting overrides from parsed option values; ``skip`` names options that mean something else."""
    out = {n: values[n] for n in OVERRIDE_FLAGS if n not in skip and values.get(n) is not None}
    if values.get("no_cache"):
        out["cache"] = False
    return out
