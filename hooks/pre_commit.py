"""``gemma-review hook``: review what is about to be committed (or pushed) and gate it.

pre-commit runs ``gemma-review hook -- [args] FILES...`` (see ``.pre-commit-hooks.yaml``);
the plain git hooks written by ``gemma-review install-hook`` run it with ``--git-hook``.
The CLI parses those arguments and calls :func:`run_hook`; this module knows no argparse.
Exit codes: 0 pass, 1 findings at or above ``fail_on``, 2 usage/config error, 3 the review
could not finish and ``--strict`` was given, 4 an internal error and ``--strict`` was given,
130 interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from gemma_review.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_MODEL_UNAVAILABLE,
    EXIT_OK,
    GemmaReviewError,
    ModelNotFoundError,
    ModelUnavailableError,
)
from gemma_review.terminal import one_line

if TYPE_CHECKING:
    from .targets import Target

HOOK_ID = "gemma-review"
DEFAULT_BUDGET = 60.0  # seconds for the whole hook; a commit must never wait forever
MAX_LISTED_FILES = 4


@dataclass(frozen=True)
class HookRun:
    """How the hook runs, apart from the settings."""

    files: tuple[str, ...] = ()  # what pre-commit passes; only their staged changes are reviewed
    strict: bool = False  # fail when the review cannot finish (default: warn and pass)
    budget: float = DEFAULT_BUDGET  # seconds for the whole hook
    config_file: Path | None = None
    color: str = "auto"
    quiet: bool = False
    git_hook: str | None = None  # "pre-commit" | "pre-push": run by a plain git hook
    remote: str | None = None  # pre-push: the remote's name


def bypass_reason(env: Mapping[str, str]) -> str | None:
    if env.get("GEMMA_REVIEW_SKIP", "").strip().lower() in ("1", "true", "yes", "on"):
        return "GEMMA_REVIEW_SKIP is set"
    if HOOK_ID in {s.strip() for s in env.get("SKIP", "").split(",")}:
        return f"SKIP contains {HOOK_ID}"
    return None


def run_hook(overrides: Mapping[str, Any], run: HookRun, started: float | None = None) -> int:
    """Review what is about to be committed (or pushed); the exit code.

    ``overrides`` are setting overrides (the hook's own budget is ``run.budget``, not the
    per-request ``timeout`` setting); ``started`` is when the hook began (monotonic clock).
    """
    started = time.monotonic() if started is None else started
    if not run.budget > 0:
        raise ValueError("the hook's time budget must be positive")
    try:
        return _run(overrides, run, started)
    except (GemmaReviewError, KeyboardInterrupt, BrokenPipeError):
        raise  # one line and its exit code (130 Ctrl-C, 141 reader gone) from gemma_review.error_handler
    except Exception as exc:  # noqa: BLE001 - a bug must not block commits: like a model that is down
        from gemma_review.error_handler import internal_error_line

        action = "push" if run.git_hook == "pre-push" or os.environ.get("PRE_COMMIT_FROM_REF") else "commit"
        if run.strict:
            line = internal_error_line(exc, "gemma-review: error: internal error")
            verdict = f"blocking the {action} (--strict)"
        else:
            line = internal_error_line(exc, "gemma-review: warning: internal error")
            verdict = f"letting the {action} through (pass --strict to block instead)"
        sys.stderr.write(f"{line}; {verdict}\n")
        return EXIT_INTERNAL if run.strict else EXIT_OK


def _run(overrides: Mapping[str, Any], run: HookRun, started: float) -> int:
    reason = bypass_reason(os.environ)
    if reason:
        if not run.quiet:
            sys.stderr.write(f"gemma-review: skipped ({reason}); nothing was reviewed\n")
        return EXIT_OK
    if not run.files and run.git_hook is None:
        # pre-commit passes the staged files; none means nothing to review (say so when run by hand)
        if not run.quiet:
            sys.stderr.write(f"gemma-review: nothing to review: {_nothing_given(Path.cwd())}\n")
        return EXIT_OK

    from . import targets

    root = targets.repo_root(Path.cwd())
    if run.git_hook is not None:
        stdin = sys.stdin.read() if run.git_hook == "pre-push" and sys.stdin is not None else ""
        target = targets.from_git_hook(root, run.git_hook, run.remote, stdin)
    else:
        target = targets.from_pre_commit(root, list(run.files), os.environ)
    if not target.changes:
        if not run.quiet:
            what = "no commits to push" if target.action == "push" else "nothing is staged"
            sys.stderr.write(f"gemma-review: nothing to review: {what}\n")
        return EXIT_OK
    return review(overrides, run, root, target, deadline=started + run.budget)


def review(overrides: Mapping[str, Any], run: HookRun, root: Path, target: Target, deadline: float) -> int:
    from gemma_review.config import load_settings
    from gemma_review.engine import ReviewEngine
    from gemma_review.report import render
    from gemma_review.report.text import use_color, write_notes

    from .budget import review_within

    loaded = load_settings(root, overrides=overrides, config_file=run.config_file)
    settings = loaded.settings
    if not run.quiet:
        for warning in loaded.warnings:
            sys.stderr.write(f"gemma-review: warning: {warning}\n")
    # No single model request may outlive the hook's budget.
    settings = replace(settings, timeout=max(1.0, min(settings.timeout, deadline - time.monotonic())))
    engine = ReviewEngine(settings, root=loaded.root)
    outcome = review_within(engine, target.changes, deadline)
    if outcome.finished:
        engine.close()
    result = outcome.result

    out = sys.stdout
    if not run.quiet and engine.backend_notice:
        # The backend's word (the demo model) comes before the report, as in `review`.
        sys.stderr.write(f"gemma-review: {engine.backend_notice}\n")
        sys.stderr.flush()
    if result.findings or (outcome.complete and not run.quiet):
        # The hook has no --fix: say the command that applies the fixes.
        fix_command = "gemma-review review --staged --fix" if target.action == "commit" else "gemma-review review --fix FILE"
        out.write(render("text", result, color=use_color(out, run.color), fix_command=fix_command))
        out.flush()
    if not run.quiet:
        write_notes(result)
        for skip in result.skips_to_tell():
            sys.stderr.write(f"gemma-review: skipped {one_line(skip.path)}: {skip.reason}\n")

    blocking = settings.fail_on != "never" and any(f.at_least(settings.fail_on) for f in result.findings)
    if not outcome.complete:
        if outcome.timed_out:
            why = f"the {run.budget:g}s time budget ran out (--timeout)"
        elif isinstance(outcome.error, (ModelUnavailableError, ModelNotFoundError)):
            why = f"the model is unavailable: {outcome.stopped}"
        else:
            why = f"the model failed: {outcome.stopped}"
        what = _describe(outcome.unreviewed, outcome.total_units)
        if blocking:
            verdict = f"the {target.action} is blocked by the findings above"
        elif run.strict:
            verdict = f"blocking the {target.action} (--strict)"
        else:
            verdict = f"letting the {target.action} through (pass --strict to block instead)"
        level = "error" if run.strict and not blocking else "warning"
        sys.stderr.write(one_line(f"gemma-review: {level}: {why}; not reviewed: {what}; {verdict}") + "\n")
        sys.stderr.flush()
    if blocking:
        return EXIT_FINDINGS
    if not outcome.complete and run.strict:
        return EXIT_MODEL_UNAVAILABLE
    return EXIT_OK


def _nothing_given(cwd: Path) -> str:
    """Why a hook run with no files reviews nothing, in words for someone who ran it by hand."""
    from gemma_review.errors import GemmaReviewError
    from gemma_review.git_repo import GitRepo

    try:
        staged = GitRepo.find(cwd).staged_paths()
    except (GemmaReviewError, OSError):
        return "no files given (pre-commit passes the staged files)"
    if not staged:
        return "nothing is staged"
    return "no files given (pre-commit passes the staged files); review the index by hand with `gemma-review review --staged`"


def _describe(unreviewed: list[tuple[str, int]], total_units: int) -> str:
    if not unreviewed:
        return "nothing (every unit was reviewed)"
    names = [p for p, _ in unreviewed]
    shown = ", ".join(names[:MAX_LISTED_FILES])
    if len(names) > MAX_LISTED_FILES:
        shown += f" and {len(names) - MAX_LISTED_FILES} more file(s)"
    left = sum(n for _, n in unreviewed)
    return f"{shown} ({left} of {total_units} unit{'s' if total_units != 1 else ''})"
