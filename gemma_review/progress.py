"""A one-line progress bar on stderr (units done, tokens/s); silent when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .engine import Progress


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream = sys.stderr if stream is None else stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.drawn = False

    def update(self, p: Progress) -> None:
        if not self.enabled or p.total < 2:
            return
        width = 24
        filled = int(width * p.done / p.total)
        bar = "#" * filled + "-" * (width - filled)
        rate = f", {p.tokens_per_second:.0f} tok/s" if p.tokens_per_second else ""
        cached = f", {p.cached} cached" if p.cached else ""
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r[{bar}] {p.done}/{p.total} units{cached}{rate}, {elapsed:.0f}s ")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
