"""Settings from the editor: ``initializationOptions`` and ``workspace/configuration``.

Both are flat objects with the configuration file's names (``num_ctx``) or their
camelCase forms (``numCtx``). Unknown keys and bad values are dropped with a warning
instead of failing, so one typo in an editor config does not stop reviews. Editor
settings override the configuration file and the environment; ``null`` means "not set".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from gemma_review.config import Settings, Source, apply, setting_name, setting_names, unknown_setting
from gemma_review.errors import ConfigError

SECTION = "gemma-review"
_NESTED_KEYS = (SECTION, "gemmaReview", "gemma_review")
_PERMISSIVE = Settings(num_ctx=2**31 - 1, num_predict=1)


@dataclass
class EditorOptions:
    """The editor's settings, checked: only known names with valid values."""

    values: dict[str, Any] = field(default_factory=dict)  # snake_case name -> value

    def merged(self, other: EditorOptions) -> EditorOptions:
        return EditorOptions({**self.values, **other.values})


def unwrap(raw: Any) -> Any:
    """Accept ``{"gemma-review": {...}}`` as well as the flat object (Neovim ``settings`` style)."""
    if isinstance(raw, Mapping):
        for key in _NESTED_KEYS:
            inner = raw.get(key)
            if isinstance(inner, Mapping):
                return inner
    return raw


def pushed_settings(raw: Any) -> Any:
    """Our settings in a ``didChangeConfiguration`` push, or None when it carries none of them.

    Clients push either our section (``{"gemma-review": {...}}``), our flat object
    (Helix), or settings of their own: only the first two replace the editor settings.
    """
    inner = unwrap(raw)
    if inner is not raw:
        return inner
    if isinstance(raw, Mapping) and raw and any(setting_name(str(k)) in set(setting_names()) for k in raw):
        return raw
    return None


def parse(raw: Any, origin: str) -> tuple[EditorOptions, list[str]]:
    """Checked options and one warning per ignored key."""
    raw = unwrap(raw)
    if raw is None:
        return EditorOptions(), []
    if not isinstance(raw, Mapping):
        return EditorOptions(), [f"{origin}: expected an object of settings, got {type(raw).__name__}; ignored"]
    known = set(setting_names())
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        name = setting_name(str(key))
        if name not in known:
            warnings.append(unknown_setting(str(key), origin))
            continue
        if value is None:
            continue
        try:
            # Checked one at a time so a bad value drops only itself; against a base that
            # accepts any num_ctx/num_predict pair, since their combination (with the
            # configuration file) is checked when a review loads its settings.
            # Named as written: `gemma-review.numCtx` (VS Code), `gemma-review.num_ctx` (a Lua table).
            apply(_PERMISSIVE, {name: value}, Source("editor", origin, lambda _name, key=key: f"the editor setting {SECTION}.{key}"))
        except ConfigError as exc:
            warnings.append(f"{exc}; ignored")
            continue
        values[name] = value
    return EditorOptions(values), warnings
