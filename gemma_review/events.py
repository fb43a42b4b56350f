"""What a review run tells its subscribers while it runs, as typed events.

A run calls its subscriber with one of these, in its own thread (the runner's worker);
a front end picks the ones it needs (the CLI's progress bar: Planned, Progress,
Streamed; the hook: Found, Progress; the LSP: Planned, Found, Progress, Done) and never
matches message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:  # plain data modules: no cycle, but keep this module import-free at run time
    from .findings import Dropped, Finding
    from .result import Progress, ReviewResult, Skip


@dataclass(frozen=True)
class Planned:
    """The run's plan, before any model request: what will be reviewed, what will not."""

    files: tuple[str, ...]
    units: int
    skipped: tuple[Skip, ...]
    model: str  # the model that will answer (auto may have picked another than configured)
    backend: str
    notice: str | None  # the backend's word for the user (e.g. the demo model), or None


@dataclass(frozen=True)
class ProgressMade:
    progress: Progress


@dataclass(frozen=True)
class Streamed:
    """One chunk of the model's reply, for a live tokens/s display."""

    text: str


@dataclass(frozen=True)
class Found:
    """A finding that passed the show policy: shown now, not after the run."""

    finding: Finding


@dataclass(frozen=True)
class Updated:
    """A finding already shown (``Found``) changed: the same problem was found on other lines
    and folded into it (``finding.also``). Same fingerprint; it replaces the one shown."""

    finding: Finding


@dataclass(frozen=True)
class DroppedFinding:
    """A finding the model wrote that is not shown, and why (a findings.DROP_REASONS key)."""

    dropped: Dropped


@dataclass(frozen=True)
class Skipped:
    skip: Skip


@dataclass(frozen=True)
class Note:
    """Something the user should know about the run (a cut-off reply, hidden findings)."""

    text: str


@dataclass(frozen=True)
class Done:
    result: ReviewResult


Event = Union[Planned, ProgressMade, Streamed, Found, Updated, DroppedFinding, Skipped, Note, Done]
Subscriber = Callable[[Event], None]


def nobody(event: Event) -> None:
    """The subscriber of a run nobody watches."""
