"""Load layered JSON settings for the worker processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_settings(paths: list[Path]) -> dict[str, Any]:
    """Merge the JSON objects in ``paths``; later files override earlier ones."""
    merged: dict[str, Any] = {}
    for path in paths:
        if not path.exists():
            continue
        handle = open(path, encoding="utf-8")
        data = json.load(handle)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        merged.update(data)
    return merged
