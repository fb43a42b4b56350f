"""Incremental parsing of the model's reply: complete findings as soon as they close.

Local models wrap JSON in ``` fences, add text after it, get cut off at num_predict,
or loop on one token. The parser finds the findings array wherever it starts, yields
each object the moment its closing brace arrives, and ignores whatever follows.
"""

from __future__ import annotations

import json
from typing import Any


class FindingStream:
    """Feed text pieces; get back each complete finding object once."""

    def __init__(self) -> None:
        self.buffer = ""
        self._pos = 0  # next char to scan
        self._array_at: int | None = None  # index just after the findings '['
        self._depth = 0  # object depth inside the array
        self._in_string = False
        self._escape = False
        self._obj_start: int | None = None
        self.closed = False  # saw the end of the findings array
        self.bad_objects = 0

    @property
    def found_array(self) -> bool:
        """Has the reply reached its findings array (so it is the expected JSON, maybe cut off)?"""
        return self._array_at is not None

    def feed(self, piece: str) -> list[dict[str, Any]]:
        self.buffer += piece
        if self.closed:
            return []
        if self._array_at is None:
            start = self._find_array()
            if start is None:
                return []
            self._array_at = self._pos = start
        return self._scan()

    def _find_array(self) -> int | None:
        text = self.buffer
        key = text.find('"findings"')
        if key >= 0:
            bracket = text.find("[", key)
            return bracket + 1 if bracket >= 0 else None
        # A bare array (some models drop the wrapper object).
        stripped = text.lstrip()
        if stripped.startswith("```"):
            nl = stripped.find("\n")
            stripped = stripped[nl + 1 :].lstrip() if nl >= 0 else ""
        if stripped.startswith("["):
            return text.find("[") + 1
        return None

    def _scan(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        text = self.buffer
        i = self._pos
        while i < len(text):
            ch = text[i]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self._in_string = False
            elif ch == '"':
                self._in_string = True
            elif ch == "{":
                if self._depth == 0:
                    self._obj_start = i
                self._depth += 1
            elif ch == "}":
                self._depth -= 1
                if self._depth == 0 and self._obj_start is not None:
                    raw = text[self._obj_start : i + 1]
                    self._obj_start = None
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        self.bad_objects += 1
                    else:
                        if isinstance(obj, dict):
                            out.append(obj)
                elif self._depth < 0:
                    self._depth = 0
            elif ch == "]" and self._depth == 0:
                self.closed = True
                i += 1
                break
            i += 1
        self._pos = i
        return out


class LoopDetector:
    """Notices a reply stuck repeating itself so the stream can be stopped early."""

    def __init__(self, window: int = 400, min_repeats: int = 8, max_period: int = 60) -> None:
        self.window = window
        self.min_repeats = min_repeats
        self.max_period = max_period
        self.tail = ""

    def feed(self, piece: str) -> bool:
        self.tail = (self.tail + piece)[-self.window :]
        if len(self.tail) < self.window:
            return False
        text = self.tail
        for period in range(1, self.max_period + 1):
            unit = text[-period:]
            # The repeated run must fill half the window: real code quotes separator
            # comments ("# -----") and tables of zeros, which are short runs.
            reps = max(self.min_repeats, -(-self.window // (2 * period)))
            if period * reps > len(text):
                break
            if text.endswith(unit * reps) and unit.strip():
                return True
        # Pure whitespace runs also count: a grammar-constrained model can emit them forever.
        return not text.strip()
