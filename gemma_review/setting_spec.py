"""How a setting is declared: :func:`setting` makes a dataclass field carrying its :class:`SettingSpec`.

gemma_review/config.py declares every setting with it; validation, the cache key, the CLI
options, the environment table, the docs table and the VS Code manifest check read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SPEC_KEY = "gemma_review.setting"  # the dataclass field metadata key


@dataclass(frozen=True)
class SettingSpec:
    """The declaration of one setting (see :func:`setting`); ``name`` and ``kind`` come from the field."""

    default: Any
    help: str  # one line: the settings table and, unless flag_help says otherwise, --help
    review: bool = False  # changes what the model is asked: part of Settings.review_key
    review_if: str | None = None  # ...only while this boolean setting is on
    flag: str | None = None  # the command-line flag that sets it
    flag_help: str | None = None
    metavar: str | None = None
    env: tuple[str, ...] = ()  # environment variables, the first one set wins
    editor: bool = True  # an editor setting, gemma-review.<camelCase>
    choices: tuple[str, ...] | None = None  # allowed values (of each item, for a list)
    low: float | None = None  # bounds, inclusive unless low_open
    high: float | None = None
    low_open: bool = False
    must: str | None = None  # how an error says the bounds, when the generated words would say less
    trusted_only: bool = False  # never from a repository's own config file
    doc_default: str | None = None  # the default as the settings table shows it
    name: str = ""
    kind: str = ""

    @property
    def editor_key(self) -> str | None:
        return "gemma-review." + camel_case(self.name) if self.editor else None

    def _number(self, value: float) -> str:
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    def bounds_text(self) -> str:
        """What a value must be, for an error message: ``a whole number from 1 to 64``."""
        if self.must:
            return self.must
        whole = self.kind == "int"
        if self.low_open and self.low == 0:
            number = "a positive whole number" if whole else "a positive number"
            return f"{number} up to {self._number(self.high)}" if self.high is not None else number
        if whole:
            return f"a whole number from {self._number(self.low)} to {self._number(self.high)}"
        return f"between {self._number(self.low)} and {self._number(self.high)}"

    def in_bounds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


def setting(default: Any, help: str, **declared: Any) -> Any:
    """A :class:`Settings` field and its declaration (keyword arguments: :class:`SettingSpec`)."""
    spec = SettingSpec(default=default, help=help, **declared)
    if isinstance(default, (list, tuple)):
        items = list(default)
        return field(default_factory=lambda: list(items), metadata={SPEC_KEY: spec})
    return field(default=default, metadata={SPEC_KEY: spec})


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)
