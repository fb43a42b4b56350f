"""What a review produced: the findings, what was dropped or skipped and why, and its cost.

Plain data shared by the run, the reports and every front end (no engine imports here,
so a report or a progress bar does not pull in the pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backends.base import Metrics
from .findings import Dropped, Finding
from .intake import FileChange

# Why a file was not reviewed, as a kind every front end can act on without reading text.
SKIP_INPUT = "input"  # intake could not use it (binary, deleted, submodule, unreadable, ...)
SKIP_SELECTED = "selected"  # the settings leave it out (include/exclude, generated, size)
SKIP_NOTHING = "nothing to review"  # no changed line the model could be asked about


@dataclass(frozen=True)
class Skip:
    """A file the run did not review, why (for people) and what kind of reason (for code)."""

    path: str
    reason: str
    kind: str = SKIP_INPUT

    @property
    def worth_telling(self) -> bool:
        """A change with no reviewable line (whitespace only, a deleted block) is not news."""
        return self.kind != SKIP_NOTHING


@dataclass
class Progress:
    done: int
    total: int
    path: str
    cached: int
    tokens_per_second: float


@dataclass
class VerifyStats:
    """The verification pass's cost and outcome."""

    asked: int = 0
    confirmed: int = 0
    withdrawn: int = 0  # lowered to info
    failed: int = 0  # no usable answer: the finding is kept as it was
    metrics: Metrics = field(default_factory=Metrics)

    def add(self, other: VerifyStats) -> None:
        """Accumulate another request's (or review's) verification pass into this one."""
        self.asked += other.asked
        self.confirmed += other.confirmed
        self.withdrawn += other.withdrawn
        self.failed += other.failed
        self.metrics.add(other.metrics)

    def to_dict(self) -> dict[str, object]:
        return {
            "asked": self.asked, "confirmed": self.confirmed, "withdrawn": self.withdrawn, "failed": self.failed,
            "prompt_tokens": self.metrics.prompt_tokens, "output_tokens": self.metrics.output_tokens,
        }


@dataclass
class ReviewResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    units: int = 0
    cached_units: int = 0
    files: dict[str, FileChange] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # what learn = true adapted, for --explain
    cancelled: bool = False
    backend: str = ""
    model: str = ""  # the model that answered (auto may pick another than settings.model)
    demo: bool = False  # the bundled demo model answered: not a review
    wall_seconds: float = 0.0
    prompt_tokens_estimated: int = 0
    raw_findings: int = 0  # finding objects the model wrote (fresh units only, not cache hits)
    dropped: list[Dropped] = field(default_factory=list)
    loops_stopped: int = 0  # replies stopped because the model was repeating itself
    verify: VerifyStats | None = None  # set when the verification pass ran
    requests: int = 0  # model requests the units were packed into (cache hits need none)
    dismissed: list[Finding] = field(default_factory=list)  # matched a team decision: not shown, kept for SARIF

    def dropped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.dropped:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        return dict(sorted(counts.items()))

    def skips_to_tell(self) -> list[Skip]:
        return [s for s in self.skipped if s.worth_telling]


def measured_tps(m: Metrics) -> float:
    """Decode speed only when the model wrote enough to measure it (cached units have none);
    a few tokens timed over microseconds would read as tens of thousands of tokens/s."""
    if m.output_tokens < 8 or m.decode_seconds < 0.05:
        return 0.0
    return m.decode_tps
