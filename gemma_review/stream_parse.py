"""Incremental parsing of the model's reply: complete findings as soon as they close.

Local models wrap JSON in ``` fences, add text after it, get cut off at num_predict,
or loop on one token. The parser finds the findings array wherever it starts, yields
each object the moment its closing brace arrives, and ignores whatever follows.
Reasoning models may write a ``<think>…</think>`` draft first: only the answer after it
is parsed, so a draft's half-formed findings never count.

Two loop guards: :class:`LoopDetector` watches characters (one token repeated), and
:class:`FindingLoop` watches findings (one finding repeated, or a template whose only
change is a number counting up).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


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
        self._answer_at: int | None = None  # where the final answer starts (after any <think>)
        self.thinking = False  # inside a <think> draft that has not closed yet

    @property
    def open_object(self) -> bool:
        """A finding had started when the text stopped: a cut-off reply lost it."""
        return self._obj_start is not None

    @property
    def found_array(self) -> bool:
        """Has the reply reached its findings array (so it is the expected JSON, maybe cut off)?"""
        return self._array_at is not None

    def feed(self, piece: str) -> list[dict[str, Any]]:
        self.buffer += piece
        if self.closed:
            return []
        if self._answer_at is None:
            self._answer_at = self._find_answer()
            if self._answer_at is None:
                return []
        if self._array_at is None:
            start = self._find_array()
            if start is None:
                return []
            self._array_at = self._pos = start
        return self._scan()

    def _find_answer(self) -> int | None:
        """Offset where the answer starts: 0, or just after a leading ``<think>`` draft's end."""
        head = self.buffer.lstrip()
        if not head:
            return None
        if head.startswith(THINK_OPEN):
            end = self.buffer.find(THINK_CLOSE)
            self.thinking = end < 0
            return None if end < 0 else end + len(THINK_CLOSE)
        if THINK_OPEN.startswith(head):
            return None  # "<thi" so far: wait for the rest of the tag
        return 0

    def _find_array(self) -> int | None:
        base = self._answer_at or 0
        text = self.buffer
        key = text.find('"findings"', base)
        if key >= 0:
            bracket = text.find("[", key)
            return bracket + 1 if bracket >= 0 else None
        # A bare array (some models drop the wrapper object).
        stripped = text[base:].lstrip()
        if stripped.startswith("```"):
            nl = stripped.find("\n")
            stripped = stripped[nl + 1 :].lstrip() if nl >= 0 else ""
        if stripped.startswith("["):
            return text.find("[", base) + 1
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


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _squash(s: object) -> str:
    return "".join(str(s if s is not None else "").split()).lower()


@dataclass
class LoopVerdict:
    """What to do with one finding: ``emit`` these now, ``dropped`` as loop, stop or not."""

    emit: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    stop: str | None = None  # why the reply should stop being read


class FindingLoop:
    """Structural loop detection over the findings of one reply.

    A weak model stuck in a loop does not repeat characters exactly: it repeats a finding
    (same title, same quoted code), or a template whose line number counts up. Either is
    a reason to stop reading and stop generation. A finding that differs from the previous
    one only in its numbers is held back until the next one shows whether a run is forming
    (``run`` findings in a row), so a loop's copies are never shown.
    """

    def __init__(self, run: int = 3) -> None:
        self.run = run
        self._seen: set[tuple[str, str]] = set()
        self._prev: dict[str, Any] | None = None
        self._held: list[dict[str, Any]] = []
        self.repeats = 0  # findings dropped as copies or as part of a run

    @staticmethod
    def _key(raw: dict[str, Any]) -> tuple[str, str]:
        code = _squash(raw.get("existing_code"))
        return _squash(raw.get("title")), code or f"line {raw.get('line')}"

    @staticmethod
    def _shape(raw: dict[str, Any], keys: tuple[str, ...]) -> str:
        """The finding with every number blanked out: equal shapes differ only in numbers."""
        return _NUMBER.sub("#", "\0".join(_squash(raw.get(k)) for k in keys))

    @staticmethod
    def _line(raw: dict[str, Any]) -> int | None:
        try:
            return int(raw.get("line"))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None

    def _continues_run(self, raw: dict[str, Any]) -> bool:
        """Same as the previous finding but for its numbers, or the same words one line further down.

        The second form is the counting template ("line 1 … Missing import", "line 2 …")
        whose quoted code follows the line; two real findings on adjacent lines rarely
        share a title and an explanation word for word.
        """
        prev = self._prev
        if prev is None:
            return False
        if self._shape(raw, self._ALL) == self._shape(prev, self._ALL):
            return True
        line, before = self._line(raw), self._line(prev)
        return (
            line is not None and before is not None and line == before + 1
            and self._shape(raw, self._WORDS) == self._shape(prev, self._WORDS)
        )

    _ALL = ("title", "explanation", "existing_code", "suggested_code", "category")
    _WORDS = ("title", "explanation", "category")

    def feed(self, raw: dict[str, Any]) -> LoopVerdict:
        verdict = LoopVerdict()
        key = self._key(raw)
        if key in self._seen:
            verdict.dropped = [*self._held, raw]
            self._held = []
            self.repeats += len(verdict.dropped)
            verdict.stop = "repeated a finding"
            return verdict
        self._seen.add(key)
        if self._continues_run(raw):
            self._prev = raw
            self._held.append(raw)
            if len(self._held) + 1 >= self.run:
                verdict.dropped, self._held = self._held, []
                self.repeats += len(verdict.dropped)
                verdict.stop = "repeated a finding with only its numbers changed"
            return verdict
        verdict.emit, self._held = [*self._held, raw], []
        self._prev = raw
        return verdict

    def finish(self) -> list[dict[str, Any]]:
        """Findings still held when the reply ended: no run formed, so they are real."""
        held, self._held = self._held, []
        return held
