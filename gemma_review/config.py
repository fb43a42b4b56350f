"""Settings: defaults < config file < environment < flags (and LSP options).

One dataclass carries every setting; the CLI, the hook and the language server all
build it through :func:`load_settings` so a name means the same thing everywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import ConfigError
from .excludes import DEFAULT_EXCLUDE_PATTERNS

SEVERITIES = ("info", "warning", "error")
CATEGORIES = ("bug", "security", "performance", "maintainability", "style")
DEFAULT_SEVERITY_LIMITS = ("style:info", "maintainability:warning", "performance:warning")
BACKENDS = ("auto", "ollama", "openai", "embedded", "demo")
FAIL_ON = ("info", "warning", "error", "never")
SCOPES = ("changes", "file")
TRIGGERS = ("save", "type", "manual")

DEFAULT_MODEL = "gemma4:e4b"
DEFAULT_HOST = "http://127.0.0.1:11434"


@dataclass
class Settings:
    """Every setting, with its default. Names are those of the config file."""

    model: str = DEFAULT_MODEL
    host: str = DEFAULT_HOST
    backend: str = "auto"
    model_file: str | None = None  # GGUF for the embedded backend
    api_key_env: str = "OPENAI_API_KEY"  # env var holding the key for the openai backend
    allow_remote: bool = False
    fail_on: str = "error"
    min_confidence: float = 0.5
    min_severity: str = "info"
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    num_ctx: int = 8192
    num_predict: int = 1024
    timeout: float = 120.0
    keep_alive: str = "10m"
    seed: int = 42
    guidelines: str | None = None  # path; None = look for the default names
    cache: bool = True
    cache_dir: str | None = None
    max_unit_lines: int = 200
    # How severe a finding may be, by category ("category:severity"); [] = no limits.
    # Only bugs and security holes may block a commit (README "Severity").
    severity_limits: list[str] = field(default_factory=lambda: list(DEFAULT_SEVERITY_LIMITS))
    verify: bool = False  # ask the model to confirm findings at or above fail_on
    # what is reviewed at all, and how many requests go to the model server at once
    # A repository's own list (config files); not an editor setting, so a team shares one answer.
    default_exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE_PATTERNS), metadata={"editor": False})
    skip_generated: bool = True  # files with an @generated / DO NOT EDIT marker near the top
    max_file_bytes: int = 262144  # bigger files are skipped with that reason; 0 = no limit
    max_parallel: int = 1  # requests in flight to one server; raise to match OLLAMA_NUM_PARALLEL / -np
    # language server
    scope: str = "changes"
    trigger: str = "save"
    debounce_ms: int = 1500
    # How the user set each setting they set ("--timeout", "GEMMA_REVIEW_TIMEOUT", a file):
    # messages name a setting the way the user knows it. Not itself a setting.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False, metadata={"setting": False})

    @property
    def review_key(self) -> str:
        """The settings that change what the model is asked; part of the cache key."""
        return f"{self.model}|{self.num_predict}|{self.seed}|{sorted(self.categories)}|{self.guidelines}|{self.verify}|{self.fail_on if self.verify else ''}|{sorted(self.severity_limits)}"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.metadata.get("setting", True)}
CONFIG_FILE_NAMES = (".gemma-review.toml", "pyproject.toml")


def setting_names() -> list[str]:
    return list(_FIELDS)


def setting_name(key: str) -> str:
    """The setting a key names in any style: ``numCtx`` (VS Code), ``num-ctx``, ``num_ctx``.

    The one spelling rule for configuration files, the environment and editor settings.
    """
    key = key.replace("-", "_")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def unknown_setting(key: str, origin: str) -> str:
    """The warning for a key no setting has, with the closest setting name when there is one."""
    close = difflib.get_close_matches(setting_name(key), list(_FIELDS), n=1)
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
        if setting_name(str(key)) in _FIELDS:
            known[key] = value
        else:
            warnings.append(unknown_setting(str(key), origin))
    return known, warnings


# Every type a setting may have, and how an error names it; _coerce handles exactly these.
_KIND_NAMES = {
    "bool": "true or false", "int": "a whole number", "float": "a number",
    "list[str]": "a list of strings", "str": "a string", "str | None": "a string",
}


def _kind(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else str(f.type)


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


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = _kind(_FIELDS[name])
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
        raise ConfigError(
            f"{origin}: setting '{name}' must be {_KIND_NAMES.get(kind, kind)}, got {value!r}"
        ) from None
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


def _validate(s: Settings, origin: str) -> None:
    def choice(name: str, allowed: tuple[str, ...]) -> None:
        value = getattr(s, name)
        if value not in allowed:
            raise ConfigError(
                f"{origin}: '{name}' must be one of {', '.join(allowed)}, got {value!r}"
            )

    choice("backend", BACKENDS)
    choice("fail_on", FAIL_ON)
    choice("min_severity", SEVERITIES)
    choice("scope", SCOPES)
    choice("trigger", TRIGGERS)
    bad = [c for c in s.categories if c not in CATEGORIES]
    if bad:
        raise ConfigError(
            f"{origin}: unknown categor{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)}; "
            f"choose from {', '.join(CATEGORIES)}"
        )
    if not 0.0 <= s.min_confidence <= 1.0:  # also false for NaN
        raise ConfigError(f"{origin}: 'min_confidence' must be between 0 and 1")
    try:
        parse_severity_limits(s.severity_limits)
    except ValueError as exc:
        raise ConfigError(
            f"{origin}: 'severity_limits' entry {str(exc)!r} must be CATEGORY:SEVERITY, e.g. \"style:info\" "
            f"(categories: {', '.join(CATEGORIES)}; severities: {', '.join(SEVERITIES)})"
        ) from None
    for name, most in LIMITS.items():
        value = getattr(s, name)
        if not 0 < value <= most:
            raise ConfigError(f"{origin}: '{name}' must be a positive whole number up to {most}, got {value}")
    if s.num_predict >= s.num_ctx:
        raise ConfigError(f"{origin}: 'num_predict' ({s.num_predict}) must be below 'num_ctx' ({s.num_ctx})")
    if not (s.timeout > 0 and math.isfinite(s.timeout)) or s.timeout > MAX_TIMEOUT:
        raise ConfigError(
            f"{origin}: 'timeout' must be a positive number of seconds up to {MAX_TIMEOUT:g}, got {s.timeout:g}"
        )
    if not 0 <= s.debounce_ms <= MAX_DEBOUNCE_MS:
        raise ConfigError(f"{origin}: 'debounce_ms' must be between 0 and {MAX_DEBOUNCE_MS}, got {s.debounce_ms}")
    if not 1 <= s.max_parallel <= MAX_PARALLEL:
        raise ConfigError(f"{origin}: 'max_parallel' must be a whole number from 1 to {MAX_PARALLEL}, got {s.max_parallel}")
    if not 0 <= s.max_file_bytes <= INT32_MAX:
        raise ConfigError(f"{origin}: 'max_file_bytes' must be 0 (no limit) or a positive number of bytes, got {s.max_file_bytes}")
    _check_model_name(s.model, origin)


# Upper bounds: far above any real use; a typo (or 1e400) must not reach a server as a
# number its 32-bit fields overflow on, nor a socket as a timeout that overflows.
INT32_MAX = 2**31 - 1
LIMITS = {"num_ctx": INT32_MAX, "num_predict": INT32_MAX, "max_unit_lines": 1_000_000}
MAX_TIMEOUT = 7 * 24 * 3600.0
MAX_DEBOUNCE_MS = 600_000
MAX_PARALLEL = 64
_BAD_NAME_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _check_model_name(model: str, origin: str) -> None:
    if not model:
        raise ConfigError(f"{origin}: 'model' is empty; name a model such as {DEFAULT_MODEL}")
    bad = _BAD_NAME_CHARS.search(model)
    if bad:
        raise ConfigError(
            f"{origin}: 'model' {model!r} contains {bad.group()!r}; model names have no spaces or control characters"
        )


def apply(settings: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    """Return a copy of ``settings`` with ``values`` (any key style) applied and checked."""
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = setting_name(str(key))
        if name not in _FIELDS:
            raise ConfigError(
                f"{origin}: unknown setting '{key}' (known: {', '.join(_FIELDS)})"
            )
        changes[name] = _coerce(name, value, origin)
    new = dataclasses.replace(settings, **changes)
    if "host" in changes:
        new.host = normalize_host(new.host, origin)
    _validate(new, origin)
    return new


def normalize_host(host: str, origin: str = "host") -> str:
    """Accept ``host:port`` and bare hosts as Ollama does (``OLLAMA_HOST=0.0.0.0``)."""
    host = host.strip()
    if not host:
        raise ConfigError(f"{origin}: the model host is empty; set e.g. {DEFAULT_HOST}")
    if "://" not in host:
        host = "http://" + host
    not_url = ConfigError(f"{origin}: {host!r} is not an http(s) URL such as {DEFAULT_HOST}")
    if _BAD_NAME_CHARS.search(host):
        raise not_url  # spaces, newlines: urlsplit would keep or silently drop them
    try:
        parts = urlsplit(host)
        hostname = parts.hostname
    except ValueError:  # "http://[::1": an unclosed IPv6 bracket
        raise not_url from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise not_url
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{origin}: {host!r} has an invalid port") from None
    if port is None and parts.scheme == "http":
        # Also for "[::1]": the colons of an IPv6 literal are not a port.
        host = f"{parts.scheme}://{parts.netloc.rstrip(':')}:11434{parts.path}"
    return host.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """Local means a loopback literal or ``localhost`` itself: no other name, since a DNS
    answer must never decide where code goes (``localhost`` is answered by the hosts file)."""
    name = urlsplit(host).hostname or ""
    if name == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    # 0.0.0.0 means "this machine" to Ollama users (OLLAMA_HOST=0.0.0.0).
    return addr.is_loopback or addr.is_unspecified


def check_privacy(settings: Settings) -> None:
    """Refuse to send code off this machine unless the user said so."""
    if settings.backend in ("embedded", "demo") or settings.allow_remote:
        return
    if not is_loopback_host(settings.host):
        raise ConfigError(
            f"refusing to send code to {settings.host}: it is not on this machine; "
            "set allow_remote = true (or --allow-remote) if you trust that server"
        )


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


ENV_VARS = {
    "GEMMA_REVIEW_MODEL": "model",
    "GEMMA_REVIEW_HOST": "host",
    "GEMMA_REVIEW_BACKEND": "backend",
    "GEMMA_REVIEW_MODEL_FILE": "model_file",
    "GEMMA_REVIEW_CACHE_DIR": "cache_dir",
    "GEMMA_REVIEW_TIMEOUT": "timeout",
    "GEMMA_REVIEW_ALLOW_REMOTE": "allow_remote",
}

# Settings a repository's own config file may not set: a cloned repository must not be
# able to send its reader's code to a server of its choosing.
TRUSTED_ONLY = ("allow_remote",)


def user_config_path(env: Mapping[str, str]) -> Path:
    """``~/.config/gemma-review/config.toml`` (or $GEMMA_REVIEW_CONFIG): the user's own defaults."""
    if env.get("GEMMA_REVIEW_CONFIG"):
        return Path(env["GEMMA_REVIEW_CONFIG"])
    import platformdirs

    return Path(platformdirs.user_config_dir("gemma-review", appauthor=False)) / "config.toml"


def env_settings(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{variable: (setting, value)}`` for the variables that are set (GEMMA_REVIEW_HOST over OLLAMA_HOST)."""
    found: dict[str, tuple[str, str]] = {}
    if env.get("OLLAMA_HOST") and not env.get("GEMMA_REVIEW_HOST"):
        found["OLLAMA_HOST"] = ("host", env["OLLAMA_HOST"])
    for var, name in ENV_VARS.items():
        if env.get(var):
            found[var] = (name, env[var])
    return found


@dataclass
class LoadedSettings:
    settings: Settings
    config_file: Path | None
    root: Path  # folder the config file is in (or the start folder)
    warnings: list[str] = field(default_factory=list)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def editor_setting_name(name: str) -> str:
    head, *rest = name.split("_")
    return "the editor setting gemma-review." + head + "".join(w.title() for w in rest)


def timeout_setting(settings: Settings | None) -> str:
    """How to name the ``timeout`` setting to this user: the way they set it."""
    origin = settings.origins.get("timeout") if settings is not None else None
    return origin or "--timeout (or `timeout` in the config file)"


def _with_origins(settings: Settings, names: Mapping[str, str]) -> Settings:
    settings.origins = {**settings.origins, **names}
    return settings


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
        settings = apply(settings, known, str(user_file))
        _with_origins(settings, {setting_name(str(k)): f"`{setting_name(str(k))}` in {user_file}" for k in known})
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
                warnings.append(
                    f"{path}: '{name}' is ignored in a project's config file; set it in {user_file}, "
                    f"with GEMMA_REVIEW_{name.upper()}=1 or with --{name.replace('_', '-')}"
                )
        known, unknown = known_settings(section, str(path))
        warnings += unknown
        settings = apply(settings, known, str(path))
        _with_origins(settings, {setting_name(str(k)): f"`{setting_name(str(k))}` in {path}" for k in known})
    for var, (name, value) in env_settings(env).items():
        # One at a time, so a bad value is reported under the variable's own name.
        settings = apply(settings, {name: value}, f"environment variable {var}")
        _with_origins(settings, {name: var})
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        settings = apply(settings, given, "option")
        _with_origins(settings, {setting_name(str(k)): override_name(setting_name(str(k))) for k in given})
    return LoadedSettings(settings, path, root, warnings)
