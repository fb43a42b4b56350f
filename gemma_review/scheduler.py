"""One request scheduler for the CLI, the hook and the language server.

It bounds how many requests are in flight to one model server (``max_parallel``:
1 for Ollama unless the user raises it to match ``OLLAMA_NUM_PARALLEL``), so requests
wait here and not in the server's queue. That is what makes a request's timeout count
from when it is actually sent: the backend starts its clock only once a slot is held.
Waiting requests go highest priority first (the language server passes the editor's
most recently touched document), then first come first served; a request whose cancel
event is set while it waits (stale work, superseded by a newer version) leaves the
queue without ever being sent.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .errors import ReviewCancelled

Priority = Callable[[], float]
_POLL = 0.05  # seconds: how often a waiter re-checks its cancel event


@dataclass(eq=False)
class _Ticket:
    seq: int
    priority: Priority
    cancel: threading.Event | None

    @property
    def stale(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


class Scheduler:
    def __init__(self, max_parallel: int = 1) -> None:
        self._cond = threading.Condition()
        self.max_parallel = max(1, int(max_parallel))
        self.in_flight = 0
        self.peak = 0  # most requests ever in flight at once (benchmarks and tests read it)
        self.sent = 0
        self.dropped = 0  # waiters cancelled before they were sent
        self._waiting: list[_Ticket] = []
        self._seq = itertools.count()

    def resize(self, max_parallel: int) -> None:
        with self._cond:
            self.max_parallel = max(1, int(max_parallel))
            self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def _next(self) -> _Ticket | None:
        live = [t for t in self._waiting if not t.stale]
        if not live:
            return None
        return max(live, key=lambda t: (_safe(t.priority), -t.seq))

    @contextmanager
    def slot(self, cancel: threading.Event | None = None, priority: Priority | None = None) -> Iterator[None]:
        """Hold one in-flight slot for the body; raises ReviewCancelled if cancelled while waiting."""
        ticket = _Ticket(next(self._seq), priority or _zero, cancel)
        with self._cond:
            self._waiting.append(ticket)
            try:
                while True:
                    if ticket.stale:
                        self.dropped += 1
                        raise ReviewCancelled
                    if self.in_flight < self.max_parallel and self._next() is ticket:
                        break
                    # Priorities can change while waiting (another document became active): poll.
                    self._cond.wait(_POLL)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self.in_flight += 1
            self.sent += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()


def _zero() -> float:
    return 0.0


def _safe(priority: Priority) -> float:
    try:
        return float(priority())
    except Exception:  # a caller's priority function must never wedge the queue
        return 0.0


@dataclass(frozen=True)
class Parallelism:
    """How many requests a review keeps in flight, and where that number came from."""

    jobs: int
    source: str
    server_slots: int | None = None  # None: the server did not say
    by: str = "default"  # "setting" (the user set it), "server" (its slot count) or "default"


def parallelism(backend: Any, settings: Any, bound: int | None = None) -> Parallelism:
    """``--jobs`` / ``max_parallel`` when the user set it, else the server's slot count
    (llama-server's ``/props`` ``total_slots``) within the setting's bound, else the setting.

    ``settings.origins`` says what the user set (a flag, an environment variable, a config
    file, the editor); a default is not a choice, so the server's own count replaces it.
    """
    if bound is None:
        from .config import MAX_PARALLEL

        bound = MAX_PARALLEL
    slots, where = None, ""
    probe = getattr(backend, "server_slots", None)
    if callable(probe):
        try:
            slots, where = probe()
        except Exception:  # a probe is advice: a failing one leaves the setting in force
            slots, where = None, ""
    said = (getattr(settings, "origins", None) or {}).get("max_parallel")
    if said:
        return Parallelism(settings.max_parallel, f"set by {said}", slots, "setting")
    if slots:
        n = max(1, min(int(slots), bound))
        capped = f", capped at {bound}" if slots > bound else ""
        return Parallelism(n, f"{where} ({slots}{capped}); --jobs overrides it", slots, "server")
    return Parallelism(max(1, settings.max_parallel), "the max_parallel default (the server does not report its slots)", None)


_shared: dict[str, Scheduler] = {}
_shared_lock = threading.Lock()


def shared_scheduler(target: str, max_parallel: int) -> Scheduler:
    """The process-wide scheduler for one model server (``target`` names it).

    Every engine of the process that talks to the same server shares it, so the
    language server's per-document reviews together never exceed ``max_parallel``.
    """
    with _shared_lock:
        sched = _shared.get(target)
        if sched is None:
            sched = _shared[target] = Scheduler(max_parallel)
        elif sched.max_parallel != max(1, max_parallel):
            sched.resize(max_parallel)
        return sched
