"""Progress on stderr for reviews that take more than a second; silent when not a terminal.

One unit: a spinner with the elapsed time and the model's tokens per second as it writes.
Several: a bar of units done. A ticker thread redraws it, because a single unit can keep
the model busy for a minute without any progress event; it draws nothing during the first
second, so quick (cached) reviews print nothing at all.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .result import Progress

SPINNER = "|/-\\"
TICK_SECONDS = 0.1
QUIET_SECONDS = 1.0  # reviews faster than this show no progress


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, label: str = "") -> None:
        self.stream = stream = sys.stderr if stream is None else stream
        if enabled is None:
            enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.label = label
        self.started = time.monotonic()
        self.drawn = False
        self.latest: Progress | None = None
        self.tokens = 0  # streamed chunks of the unit in flight (one token each for Ollama/llama.cpp)
        self.first_token: float | None = None
        self._frame = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- fed by the engine ------------------------------------------------------------
    def update(self, p: Progress) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self.latest is None or p.done != self.latest.done:
                self.tokens, self.first_token = 0, None  # a new unit starts
            self.latest = p
        self._start_ticker()

    def on_text(self, text: str) -> None:
        """One streamed chunk of the model's reply."""
        if not self.enabled or not text:
            return
        with self._lock:
            if self.first_token is None:
                self.first_token = time.monotonic()
            self.tokens += 1

    # --- drawing ----------------------------------------------------------------------
    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="gemma-review-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            if time.monotonic() - self.started >= QUIET_SECONDS:
                self.draw()

    def line(self) -> str:
        with self._lock:
            p, tokens, first = self.latest, self.tokens, self.first_token
        elapsed = time.monotonic() - self.started
        rate = ""
        if first is not None and tokens > 1 and time.monotonic() - first > 0.2:
            rate = f", {tokens / (time.monotonic() - first):.0f} tok/s"
        if p is None or p.total < 2:
            self._frame = (self._frame + 1) % len(SPINNER)
            what = self.label or (p.path if p is not None and p.path else "reviewing")
            writing = f", {tokens} tokens" if tokens else ""
            return f"{SPINNER[self._frame]} {what}: {elapsed:.0f}s{writing}{rate} "
        width = 24
        filled = int(width * p.done / p.total)
        bar = "#" * filled + "-" * (width - filled)
        cached = f", {p.cached} cached" if p.cached else ""
        return f"[{bar}] {p.done}/{p.total} units{cached}{rate}, {elapsed:.0f}s "

    def draw(self) -> None:
        text = self.line()
        with self._lock:
            if self._stop.is_set():
                return
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
            self.drawn = True

    def finish(self) -> None:
        with self._lock:
            self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1.0)
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
