"""The settings table of docs/configuration.md, rendered from the declarations in config.py.

    python -m gemma_review.settings_doc            # print the table
    python -m gemma_review.settings_doc --write    # rewrite it in docs/configuration.md
    python -m gemma_review.settings_doc --check    # exit 1 if the checked-in table is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .config import SPECS, SettingSpec

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
REGENERATE = "python -m gemma_review.settings_doc --write"


def _default(spec: SettingSpec) -> str:
    if spec.doc_default is not None:
        return spec.doc_default
    value = spec.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table() -> str:
    """One row per declared setting: its name, default, flag, environment, editor key and description."""
    rows = [
        "| Setting | Default | Flag | Environment | Editor setting | Changes the review | What it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in SPECS.values():
        review = f"only with `{spec.review_if}`" if spec.review_if else ("yes" if spec.review else "")
        rows.append("| " + " | ".join([
            f"`{spec.name}`",
            _cell(_default(spec)),
            f"`{spec.flag}`" if spec.flag else "",
            ", ".join(f"`{v}`" for v in spec.env),
            f"`{spec.editor_key}`" if spec.editor_key else "",
            review,
            _cell(spec.help),
        ]) + " |")
    return "\n".join(rows) + "\n"


def with_table(text: str) -> str:
    """``text`` with the part between the markers replaced by the generated table."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"no {START} ... {END} markers")
    return f"{head}{START}\n{settings_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(settings_table())
        return 0
    current = DOC.read_text(encoding="utf-8")
    wanted = with_table(current)
    if args == ["--write"]:
        if wanted != current:
            DOC.write_text(wanted, encoding="utf-8")
        return 0
    if args == ["--check"]:
        if wanted != current:
            sys.stderr.write(f"{DOC} is out of date; run: {REGENERATE}\n")
            return 1
        return 0
    sys.stderr.write("usage: python -m gemma_review.settings_doc [--write | --check]\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
