"""Settings: defaults < config file < environment < flags (and LSP options).

One dataclass carries every setting; the CLI, the hook and the language server all
build it through :func:`load_settings` so a name means the same thing everywhere.

Each setting is declared once, as a field of :class:`Settings` made with :func:`setting`:
its type (the annotation), default, allowed values or bounds, one-line description,
whether it changes the review (and so the cache key), its command-line flag, its
environment variables and whether it is an editor setting. Validation, the cache key,
the CLI options (gemma_review/options.py), the environment table, the settings table in
docs/configuration.md (gemma_review/settings_doc.py) and the check of the VS Code
manifest (tests/test_settings_declaration.py) are all derived from that declaration.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError
from .excludes import DEFAULT_EXCLUDE_PATTERNS
from .hosts import BAD_NAME_CHARS as _BAD_NAME_CHARS
from .hosts import DEFAULT_HOST, check_privacy, is_loopback_host, normalize_host
from .setting_spec import SPEC_KEY as _SPEC
from .setting_spec import SettingSpec, camel_case, setting

__all__ = ["DEFAULT_HOST", "SettingSpec", "Settings", "camel_case", "check_privacy", "is_loopback_host", "load_settings", "normalize_host", "setting"]

SEVERITIES = ("info", "warning", "error")
CATEGORIES = ("bug", "security", "performance", "maintainability", "style")
DEFAULT_SEVERITY_LIMITS = ("style:info", "maintainability:warning", "performance:warning")
BACKENDS = ("auto", "ollama", "openai", "embedded", "demo")
FAIL_ON = ("info", "warning", "error", "never")
SCOPES = ("changes", "file")
TRIGGERS = ("save", "type", "manual")

DEFAULT_MODEL = "gemma4:e4b"

# Upper bounds: far above any real use; a typo (or 1e400) must not reach a server as a
# number its 32-bit fields overflow on, nor a socket as a timeout that overflows.
INT32_MAX = 2**31 - 1
MAX_TIMEOUT = 7 * 24 * 3600.0
MAX_DEBOUNCE_MS = 600_000
MAX_PARALLEL = 64

@dataclass(frozen=True)
class Settings:
    """Every setting, declared once. Names are those of the config file.

    Frozen: a run that needs other values makes a copy with :func:`dataclasses.replace`.
    """

    model: str = setting(DEFAULT_MODEL, "Model name (`gemma4:e2b` for small machines).", review=True,
                         flag="--model", flag_help=f"model name (default {DEFAULT_MODEL})", env=("GEMMA_REVIEW_MODEL",))
    host: str = setting(DEFAULT_HOST, "Model server URL; `host:port` is accepted.",
                        flag="--host", flag_help=f"model server URL (default {DEFAULT_HOST}, env OLLAMA_HOST)",
                        env=("GEMMA_REVIEW_HOST", "OLLAMA_HOST"))
    backend: str = setting("auto", "`auto`, `ollama`, `openai` (any OpenAI-compatible server), `embedded` (llama.cpp "
                           "in process) or `demo` (the bundled Gemma 3 270M; `auto` falls back to it only in `review`, "
                           "`bench` and `doctor`).", choices=BACKENDS, flag="--backend",
                           flag_help="model backend (default auto)", env=("GEMMA_REVIEW_BACKEND",))
    model_file: str | None = setting(None, "GGUF file for the `embedded` backend.", flag="--model-file",
                                     flag_help="GGUF file for the embedded backend", env=("GEMMA_REVIEW_MODEL_FILE",),
                                     doc_default="none")
    # Trusted only: a cloned repository must not choose which of your secrets is sent as the key.
    api_key_env: str = setting("OPENAI_API_KEY", "Environment variable holding the key for the `openai` backend "
                               "(never taken from a repository's config file).", trusted_only=True)
    allow_remote: bool = setting(False, "Allow a model host that is not this machine (code leaves it). Never taken from "
                                 "a repository's config file, so a cloned repository cannot send your code elsewhere.",
                                 flag="--allow-remote", flag_help="allow a model host that is not on this machine",
                                 env=("GEMMA_REVIEW_ALLOW_REMOTE",), trusted_only=True)
    fail_on: str = setting("error", "The severity that fails a run of the CLI or the hook; `never` never fails.",
                           choices=FAIL_ON, review=True, review_if="verify", flag="--fail-on",
                           flag_help="exit 1 on findings at or above this severity (default error)")
    min_confidence: float = setting(0.5, "Drop findings the model is less sure of (0–1).", low=0.0, high=1.0,
                                    flag="--min-confidence", flag_help="drop findings below this confidence (0-1)")
    min_severity: str = setting("info", "Drop findings below this severity.", choices=SEVERITIES,
                                flag="--min-severity", flag_help="drop findings below this severity")
    categories: list[str] = setting(list(CATEGORIES), "Which kinds of findings to report.", choices=CATEGORIES,
                                    review=True, flag="--categories",
                                    flag_help=f"comma-separated subset of: {','.join(CATEGORIES)}", doc_default="all five")
    include: list[str] = setting([], "Only review files matching these globs (empty: all).")
    exclude: list[str] = setting([], "Never review files matching these globs.")
    num_ctx: int = setting(8192, "Context window sent to the model with every request.", low=0, low_open=True,
                           high=INT32_MAX, flag="--num-ctx", flag_help="context window sent to the model")
    num_predict: int = setting(1024, "Cap on tokens the model may write per request; below `num_ctx`.", review=True,
                               low=0, low_open=True, high=INT32_MAX, flag="--num-predict",
                               flag_help="cap on tokens the model may write per unit")
    timeout: float = setting(120.0, "Seconds a model request may take, start to last token.", low=0, low_open=True,
                             high=MAX_TIMEOUT, must=f"a positive number of seconds up to {MAX_TIMEOUT:g}",
                             flag="--timeout", flag_help="seconds to wait for the model per request",
                             env=("GEMMA_REVIEW_TIMEOUT",))
    keep_alive: str = setting("10m", "How long Ollama keeps the model loaded (`10m`, `1h`, `0`).")
    seed: int = setting(42, "Sampling seed (temperature is always 0).", review=True)
    guidelines: str | None = setting(None, "The repository's review guidelines file (by default `.gemma-review.md`, "
                                     "`REVIEW_GUIDELINES.md` or `.github/review-guidelines.md`).", review=True,
                                     flag="--guidelines", flag_help="the repository's review guidelines file",
                                     doc_default="auto")
    cache: bool = setting(True, "Reuse reviews of unchanged code (shared by the CLI, the hook and the editor).")
    cache_dir: str | None = setting(None, "Where the review cache lives.", env=("GEMMA_REVIEW_CACHE_DIR",),
                                    doc_default="user cache dir")
    max_unit_lines: int = setting(200, "Largest piece of code, in lines, sent in one request; longer ones are split.",
                                  low=0, low_open=True, high=1_000_000)
    # Only bugs and security holes may block a commit (docs/how-it-works.md, "Severity").
    severity_limits: list[str] = setting(list(DEFAULT_SEVERITY_LIMITS), "The most severe a finding of each category "
                                         "may be, as `category:severity`; `[]` for no limits.", review=True)
    verify: bool = setting(False, "Ask the model to confirm each finding at or above `fail_on`; unconfirmed ones drop "
                           "to `info`.", review=True, flag="--verify",
                           flag_help="ask the model to confirm findings at or above --fail-on")
    strict: bool = setting(False, "`review` exits 2 when it reviewed no file because every file it was given was "
                           "skipped (binary, too large, excluded, unreadable): for CI, which must not pass having "
                           "reviewed nothing.", flag="--strict", editor=False,
                           flag_help="exit 2 when nothing was reviewed because every file was skipped (for CI)")
    # Off by default, and never from a repository's config file: a team's and CI's results stay
    # reproducible; each developer may opt in (their config, the editor). Not `review=True`: the
    # learned examples themselves are in the cache key, so learn with nothing learned costs no re-review.
    learn: bool = setting(False, "Adapt to this machine's verdicts on this repository's findings: categories "
                          "mostly dismissed or ignored need more confidence, and the prompt carries a few of "
                          "the team's dismissals (see [Learning](learning.md)). Never taken from a "
                          "repository's config file.", trusted_only=True)
    # A repository's own list (config files); not an editor setting, so a team shares one answer.
    default_exclude: list[str] = setting(list(DEFAULT_EXCLUDE_PATTERNS), "Globs never reviewed unless an `include` "
                                         "pattern names the file (keys, lock files, minified bundles, vendored "
                                         "folders); `[]` turns them off.", editor=False,
                                         doc_default="see [What is never sent](privacy.md#what-is-never-sent)")
    skip_generated: bool = setting(True, "Skip files with an `@generated` or `DO NOT EDIT` marker near the top.")
    max_file_bytes: int = setting(262144, "Skip larger files (256 KiB) with that reason; `0` = no limit.", low=0,
                                  high=INT32_MAX, must="0 (no limit) or a positive number of bytes")
    max_parallel: int = setting(1, "Requests in flight to one model server; raise it only for a server that batches "
                                "(`OLLAMA_NUM_PARALLEL`, vLLM). Unset, a llama-server's slot count (`-np`) is used.",
                                low=1, high=MAX_PARALLEL,
                                flag="--jobs", metavar="N",
                                flag_help="model requests in flight at once, for servers that batch "
                                "(llama-server -np, vLLM, OLLAMA_NUM_PARALLEL); default the server's "
                                "slot count where it reports one, else 1")
    # language server
    scope: str = setting("changes", "Language server: review the lines that differ from `HEAD`, or the whole `file`.",
                         choices=SCOPES)
    trigger: str = setting("save", "Language server: review on open and save, also while typing (`type`), or only "
                           "on command (`manual`).", choices=TRIGGERS)
    debounce_ms: int = setting(1500, "Language server: pause after typing before a review with `trigger = \"type\"`.",
                               low=0, high=MAX_DEBOUNCE_MS, must=f"between 0 and {MAX_DEBOUNCE_MS}")
    # How the user set each setting they set ("--timeout", "GEMMA_REVIEW_TIMEOUT", a file):
    # messages name a setting the way the user knows it. Not itself a setting.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False, hash=False,
                                    metadata={"setting": False})

    @property
    def review_key(self) -> str:
        """The settings that change what the model is asked (declared ``review=True``); part of the cache key."""
        parts = []
        for spec in SPECS.values():
            if not spec.review:
                continue
            value = getattr(self, spec.name)
            if spec.review_if is not None and not getattr(self, spec.review_if):
                value = ""
            elif isinstance(value, list):
                value = sorted(value)
            parts.append(f"{spec.name}={value}")
        return "|".join(parts)


def _specs(cls: type) -> dict[str, SettingSpec]:
    specs: dict[str, SettingSpec] = {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("setting", True):
            continue
        spec = f.metadata.get(_SPEC)
        if spec is None:
            raise TypeError(f"Settings.{f.name} is not declared with setting(...)")
        specs[f.name] = dataclasses.replace(spec, name=f.name, kind=_kind(f))
    return specs


def _kind(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else str(f.type)


# Every setting's declaration, in declaration order.
SPECS: dict[str, SettingSpec] = _specs(Settings)
CONFIG_FILE_NAMES = (".gemma-review.toml", "pyproject.toml")


def setting_names() -> list[str]:
    return list(SPECS)


def setting_name(key: str) -> str:
    """The setting a key names in any style: ``numCtx`` (VS Code), ``num-ctx``, ``num_ctx``.

    The one spelling rule for configuration files, the environment and editor settings.
    """
    key = key.replace("-", "_")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def unknown_setting(key: str, origin: str) -> str:
    """The warning for a key no setting has, with the closest setting name when there is one."""
    close = difflib.get_close_matches(setting_name(key), list(SPECS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{origin}: unknown setting '{key}' ignored{hint}"


def known_settings(values: Mapping[str, Any], origin: str) -> tuple[dict[str, Any], list[str]]:
    """``values`` without the keys no setting has, and one warning for each of those.

    A configuration file written for a newer version (a teammate's ``.gemma-review.toml``)
    must not stop an older one from reviewing: unknown keys are warned about, not fatal.
    """
    known: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in values.items():
        if setting_name(str(key)) in SPECS:
            known[key] = value
        else:
            warnings.append(unknown_setting(str(key), origin))
    return known, warnings


# Every type a setting may have, and how an error names it; _coerce handles exactly these.
_KIND_NAMES = {
    "bool": "true or false", "int": "a whole number", "float": "a number",
    "list[str]": "a list of strings", "str": "a string", "str | None": "a string",
}


def check_kinds(cls: type) -> None:
    """Refuse a settings dataclass with a field type the coercion does not know.

    An unknown type string would otherwise pass any value through unchecked.
    """
    unknown = [
        f"{f.name}: {_kind(f)}" for f in dataclasses.fields(cls)
        if f.metadata.get("setting", True) and _kind(f) not in _KIND_NAMES
    ]
    if unknown:
        raise TypeError(f"no coercion for the type of setting(s) {', '.join(unknown)}; known: {', '.join(_KIND_NAMES)}")


check_kinds(Settings)


@dataclass(frozen=True)
class Source:
    """Where a group of values comes from, so that messages name each one as the user wrote it.

    ``kind`` is ``file`` (``where`` is the path), ``env`` (the variable), ``flag``, ``editor``
    or ``plain`` (``where`` is just a prefix: no origin is recorded).
    """

    kind: str
    where: str = ""
    name_of: Callable[[str], str] | None = None  # setting name -> how an override is called

    def subject(self, key: str) -> str:
        """The setting as written, for an error: ``--jobs``, ``environment variable GEMMA_REVIEW_TIMEOUT``."""
        name = setting_name(key)
        if self.kind == "env":
            return f"environment variable {self.where}"
        if self.kind in ("flag", "editor") and self.name_of is not None:
            said = self.name_of(name)
            return f"{self.where}: {said}" if self.where else said
        return f"{self.where}: '{key}'" if self.where else f"'{key}'"

    def origin(self, key: str) -> str | None:
        """How Settings.origins remembers it (``--timeout``, ``GEMMA_REVIEW_TIMEOUT``, ```timeout`` in FILE``)."""
        name = setting_name(key)
        if self.kind == "file":
            return f"`{key}` in {self.where}"
        if self.kind == "env":
            return self.where
        if self.kind in ("flag", "editor") and self.name_of is not None:
            return self.name_of(name)
        return None


def _coerce(name: str, value: Any, subject: str) -> Any:
    kind = SPECS[name].kind
    if kind not in _KIND_NAMES:
        raise TypeError(f"setting '{name}' has the type {kind!r}, which no coercion handles")
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            return float(value)
        if kind == "list[str]":
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError
        if kind in ("str", "str | None"):
            if value is None and kind == "str | None":
                return None
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf) from `num_ctx = inf`
        raise ConfigError(f"{subject} must be {_KIND_NAMES.get(kind, kind)}, got {value!r}") from None
    return value


def parse_severity_limits(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["style:info", ...]`` -> ``{"style": "info", ...}``; ValueError names a bad entry."""
    limits: dict[str, str] = {}
    for entry in entries:
        category, sep, severity = entry.partition(":")
        category, severity = category.strip().lower(), severity.strip().lower()
        if not sep or category not in CATEGORIES or severity not in SEVERITIES:
            raise ValueError(entry)
        limits[category] = severity
    return limits


def _check(spec: SettingSpec, value: Any, subject: str) -> None:
    """The declared choices and bounds of one setting."""
    if spec.choices is not None and spec.kind == "list[str]":
        bad = [c for c in value if c not in spec.choices]
        if bad:
            noun = "category" if len(bad) == 1 else "categories"
            if spec.name != "categories":
                noun = "value" if len(bad) == 1 else "values"
            raise ConfigError(f"{subject}: unknown {noun} {', '.join(bad)}; choose from {', '.join(spec.choices)}")
    elif spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{subject} must be one of {', '.join(spec.choices)}, got {value!r}")
    if (spec.low is not None or spec.high is not None) and not spec.in_bounds(value):
        got = f"{value:g}" if isinstance(value, float) else f"{value}"
        raise ConfigError(f"{subject} must be {spec.bounds_text()}, got {got}")


def _validate(s: Settings, changed: Mapping[str, str], ref: Callable[[str], str]) -> None:
    """Check the ``changed`` settings (name -> subject) of ``s``; ``ref`` names any setting."""
    for name, subject in changed.items():
        _check(SPECS[name], getattr(s, name), subject)
    if "severity_limits" in changed:
        try:
            parse_severity_limits(s.severity_limits)
        except ValueError as exc:
            raise ConfigError(
                f"{changed['severity_limits']} entry {str(exc)!r} must be CATEGORY:SEVERITY, e.g. \"style:info\" "
                f"(categories: {', '.join(CATEGORIES)}; severities: {', '.join(SEVERITIES)})"
            ) from None
    if s.num_predict >= s.num_ctx:
        if "num_predict" in changed:
            raise ConfigError(f"{changed['num_predict']} ({s.num_predict}) must be below {ref('num_ctx')} ({s.num_ctx})")
        raise ConfigError(f"{changed.get('num_ctx', ref('num_ctx'))} ({s.num_ctx}) must be above {ref('num_predict')} ({s.num_predict})")
    if "model" in changed:
        _check_model_name(s.model, changed["model"])




def _check_model_name(model: str, subject: str) -> None:
    if not model:
        raise ConfigError(f"{subject} is empty; name a model such as {DEFAULT_MODEL}")
    bad = _BAD_NAME_CHARS.search(model)
    if bad:
        raise ConfigError(
            f"{subject} {model!r} contains {bad.group()!r}; model names have no spaces or control characters"
        )


def apply(settings: Settings, values: Mapping[str, Any], origin: str | Source) -> Settings:
    """Return a copy of ``settings`` with ``values`` (any key style) applied and checked.

    ``origin`` says where the values come from: a :class:`Source`, or a plain prefix for messages.
    Errors name each value as the user wrote it; a Source's origins are recorded in ``origins``.
    """
    source = origin if isinstance(origin, Source) else Source("plain", origin)
    changes: dict[str, Any] = {}
    subjects: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, value in values.items():
        name = setting_name(str(key))
        if name not in SPECS:
            prefix = f"{source.where}: " if source.where else ""
            raise ConfigError(f"{prefix}unknown setting '{key}' (known: {', '.join(SPECS)})")
        subjects[name] = source.subject(str(key))
        changes[name] = _coerce(name, value, subjects[name])
        said = source.origin(str(key))
        if said is not None:
            origins[name] = said
    if "host" in changes:
        changes["host"] = normalize_host(changes["host"], subjects["host"])
    new = dataclasses.replace(settings, **changes, origins={**settings.origins, **origins})

    def ref(name: str) -> str:
        return new.origins.get(name) or f"'{name}'"

    _validate(new, subjects, ref)
    return new


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _own_section(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings of a gemma-review config file: ``[tool.gemma-review]`` if present, else the top level."""
    tool = data.get("tool")
    if tool is None:
        return data
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: 'tool' must be a table ([tool.gemma-review]), got {type(tool).__name__} {tool!r}")
    section = tool.get("gemma-review", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.gemma-review] must be a table, got {type(section).__name__} {section!r}")
    return section


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Nearest ``.gemma-review.toml``, or ``pyproject.toml`` with [tool.gemma-review]."""
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        own = folder / ".gemma-review.toml"
        if own.is_file():
            return own, _own_section(_read_toml(own), own)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject)
            tool = data.get("tool", {})
            if not isinstance(tool, dict):
                raise ConfigError(f"{pyproject}: 'tool' must be a table, got {type(tool).__name__} {tool!r}")
            section = tool.get("gemma-review")
            if section is not None:
                if not isinstance(section, dict):
                    raise ConfigError(f"{pyproject}: [tool.gemma-review] must be a table")
                return pyproject, section
        if (folder / ".git").exists():
            break
    return None


# Environment variable -> setting, from the declarations (the first one a setting lists wins).
ENV_VARS: dict[str, str] = {var: spec.name for spec in SPECS.values() for var in spec.env}

# Settings a repository's own config file may not set: a cloned repository must not be
# able to send its reader's code to a server of its choosing.
TRUSTED_ONLY: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.trusted_only)


def user_config_path(env: Mapping[str, str]) -> Path:
    """``~/.config/gemma-review/config.toml`` (or $GEMMA_REVIEW_CONFIG): the user's own defaults."""
    if env.get("GEMMA_REVIEW_CONFIG"):
        return Path(env["GEMMA_REVIEW_CONFIG"])
    import platformdirs

    return Path(platformdirs.user_config_dir("gemma-review", appauthor=False)) / "config.toml"


def env_settings(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{variable: (setting, value)}`` for the variables that are set (GEMMA_REVIEW_HOST over OLLAMA_HOST)."""
    found: dict[str, tuple[str, str]] = {}
    for spec in SPECS.values():
        for var in spec.env:
            if env.get(var):
                found[var] = (spec.name, env[var])
                break
    return found


@dataclass
class LoadedSettings:
    settings: Settings
    config_file: Path | None
    root: Path  # folder the config file is in (or the start folder)
    warnings: list[str] = field(default_factory=list)


def flag_name(name: str) -> str:
    """The command-line flag of a setting: its declared flag (``--jobs``), else ``--name``."""
    spec = SPECS.get(name)
    if spec is not None and spec.flag:
        return spec.flag
    return "--" + name.replace("_", "-")


def editor_setting_name(name: str) -> str:
    return "the editor setting gemma-review." + camel_case(name)


def timeout_setting(settings: Settings | None) -> str:
    """How to name the ``timeout`` setting to this user: the way they set it."""
    origin = settings.origins.get("timeout") if settings is not None else None
    return origin or "--timeout (or `timeout` in the config file)"


def load_settings(
    start: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    override_name: Any = flag_name,
) -> LoadedSettings:
    """Defaults < user config < project config file < environment < ``overrides`` (flags or LSP options).

    ``override_name`` says how the user calls an override (a flag; an editor setting).
    """
    start = Path.cwd() if start is None else start
    env = os.environ if env is None else env
    settings = Settings()
    warnings: list[str] = []
    user_file = user_config_path(env)
    if user_file.is_file():
        data = _read_toml(user_file)
        known, unknown = known_settings(_own_section(data, user_file), str(user_file))
        warnings += unknown
        settings = apply(settings, known, Source("file", str(user_file)))
    found: tuple[Path, dict[str, Any]] | None
    if config_file is not None:
        if config_file.is_dir():
            raise ConfigError(f"--config {config_file} is a folder; pass a TOML file such as {config_file / '.gemma-review.toml'}")
        if not config_file.exists():
            raise ConfigError(f"config file {config_file} does not exist")
        found = (config_file, _own_section(_read_toml(config_file), config_file))
    else:
        found = find_config_file(start)
    root = start.resolve() if start.is_dir() else start.resolve().parent
    path: Path | None = None
    if found is not None:
        path, section = found
        root = path.parent
        section = dict(section)
        # Any key style: `allowRemote` in a project file is as untrusted as `allow_remote`.
        for key in [k for k in section if setting_name(str(k)) in TRUSTED_ONLY]:
            name = setting_name(str(key))
            if section.pop(key) is not None:
                spec = SPECS[name]
                ways = [str(user_file)]
                if spec.env:
                    ways.append(f"{spec.env[0]}=1" if spec.kind == "bool" else spec.env[0])
                if spec.flag:
                    ways.append(flag_name(name))
                warnings.append(
                    f"{path}: '{name}' is ignored in a project's config file; set it in "
                    + (", with ".join(ways[:-1]) + " or with " + ways[-1] if len(ways) > 1 else ways[0])
                )
        known, unknown = known_settings(section, str(path))
        warnings += unknown
        settings = apply(settings, known, Source("file", str(path)))
    for var, (name, value) in env_settings(env).items():
        # One at a time, so a bad value is reported under the variable's own name.
        settings = apply(settings, {name: value}, Source("env", var))
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        settings = apply(settings, given, Source("flag", "", override_name))
    return LoadedSettings(settings, path, root, warnings)
