"""``gemma-review hook``: review what is about to be committed (or pushed) and gate it.

pre-commit runs ``gemma-review hook -- [args] FILES...`` (see ``.pre-commit-hooks.yaml``);
the plain git hooks written by ``gemma-review install-hook`` run it with ``--git-hook``.
Exit codes: 0 pass, 1 findings at or above ``fail_on``, 2 usage/config error, 3 the review
could not finish and ``--strict`` was given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from gemma_review.cli import add_model_options, overrides_from
from gemma_review.config import CATEGORIES, FAIL_ON, SEVERITIES
from gemma_review.errors import (
    EXIT_FINDINGS,
    EXIT_MODEL_UNAVAILABLE,
    EXIT_OK,
    EXIT_USAGE,
    ModelNotFoundError,
    ModelUnavailableError,
)

if TYPE_CHECKING:
    from .targets import Target

HOOK_ID = "gemma-review"
DEFAULT_BUDGET = 60.0  # seconds for the whole hook; a commit must never wait forever
MAX_LISTED_FILES = 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like the rest of the CLI
        self.exit(EXIT_USAGE, f"gemma-review hook: error: {message} (see `gemma-review hook -- --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gemma-review hook",
        description="Review the staged changes (or the commits being pushed) and fail on findings.",
    )
    p.add_argument("files", nargs="*", help="files pre-commit passes; only their staged changes are reviewed")
    p.add_argument("--fail-on", choices=FAIL_ON, help="fail on findings at or above this severity (default error)")
    p.add_argument("--strict", action="store_true",
                   help="fail when the model is unavailable or the time budget runs out (default: warn and pass)")
    p.add_argument("--timeout", type=float, default=DEFAULT_BUDGET, metavar="SECONDS",
                   help=f"time budget for the whole hook (default {DEFAULT_BUDGET:g})")
    p.add_argument("--min-confidence", type=float, help="drop findings below this confidence (0-1)")
    p.add_argument("--min-severity", choices=SEVERITIES, help="drop findings below this severity")
    p.add_argument("--categories", help=f"comma-separated subset of: {','.join(CATEGORIES)}")
    p.add_argument("--guidelines", help="the repository's review guidelines file")
    add_model_options(p, request_timeout=False)
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="print findings and warnings only")
    # Used by the plain git hooks that `gemma-review install-hook` writes.
    p.add_argument("--git-hook", choices=("pre-commit", "pre-push"), help=argparse.SUPPRESS)
    p.add_argument("--remote", help=argparse.SUPPRESS)
    return p


def bypass_reason(env: Mapping[str, str]) -> str | None:
    if env.get("GEMMA_REVIEW_SKIP", "").strip().lower() in ("1", "true", "yes", "on"):
        return "GEMMA_REVIEW_SKIP is set"
    if HOOK_ID in {s.strip() for s in env.get("SKIP", "").split(",")}:
        return f"SKIP contains {HOOK_ID}"
    return None


def overrides(args: argparse.Namespace) -> dict[str, object]:
    # The hook's --timeout is the whole-hook budget, not the per-request setting.
    return overrides_from(args, skip=("timeout",))


def main(argv: Sequence[str]) -> int:
    started = time.monotonic()
    argv = list(argv)
    if argv[:1] == ["--"]:  # the entry is `gemma-review hook --` so options reach this parser
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if not args.timeout > 0:
        sys.stderr.write("gemma-review hook: error: --timeout must be a positive number of seconds\n")
        return EXIT_USAGE
    reason = bypass_reason(os.environ)
    if reason:
        if not args.quiet:
            sys.stderr.write(f"gemma-review: skipped ({reason}); nothing was reviewed\n")
        return EXIT_OK
    if not args.files and args.git_hook is None:
        return EXIT_OK  # pre-commit passes the staged files; none means nothing to review

    from . import targets

    root = targets.repo_root(Path.cwd())
    if args.git_hook is not None:
        stdin = sys.stdin.read() if args.git_hook == "pre-push" else ""
        target = targets.from_git_hook(root, args.git_hook, args.remote, stdin)
    else:
        target = targets.from_pre_commit(root, args.files, os.environ)
    if not target.changes:
        return EXIT_OK
    return review(args, root, target, deadline=started + args.timeout)


def review(args: argparse.Namespace, root: Path, target: Target, deadline: float) -> int:
    from gemma_review.config import load_settings
    from gemma_review.engine import ReviewEngine
    from gemma_review.report import render
    from gemma_review.report.text import use_color, write_notes

    from .budget import review_within

    loaded = load_settings(root, overrides=overrides(args), config_file=args.config)
    settings = loaded.settings
    # No single model request may outlive the hook's budget.
    settings.timeout = max(1.0, min(settings.timeout, deadline - time.monotonic()))
    engine = ReviewEngine(settings, root=loaded.root)
    outcome = review_within(engine, target.changes, deadline)
    if outcome.finished:
        engine.close()
    result = outcome.result

    out = sys.stdout
    if result.findings or (outcome.complete and not args.quiet):
        # The hook has no --fix: say the command that applies the fixes.
        fix_command = "gemma-review review --staged --fix" if target.action == "commit" else "gemma-review review --fix FILE"
        out.write(render("text", result, color=use_color(out, args.color), fix_command=fix_command))
        out.flush()
    if not args.quiet:
        if engine.backend_notice:
            sys.stderr.write(f"gemma-review: {engine.backend_notice}\n")
        write_notes(result)
        for path, why in result.skipped:
            if why != "no reviewable lines":
                sys.stderr.write(f"gemma-review: skipped {path}: {why}\n")

    blocking = settings.fail_on != "never" and any(f.at_least(settings.fail_on) for f in result.findings)
    if not outcome.complete:
        if outcome.timed_out:
            why = f"the {args.timeout:g}s time budget ran out (--timeout)"
        elif isinstance(outcome.error, (ModelUnavailableError, ModelNotFoundError)):
            why = f"the model is unavailable: {outcome.stopped}"
        else:
            why = f"the model failed: {outcome.stopped}"
        what = _describe(outcome.unreviewed, outcome.total_units)
        if blocking:
            verdict = f"the {target.action} is blocked by the findings above"
        elif args.strict:
            verdict = f"blocking the {target.action} (--strict)"
        else:
            verdict = f"letting the {target.action} through (pass --strict to block instead)"
        level = "error" if args.strict and not blocking else "warning"
        sys.stderr.write(f"gemma-review: {level}: {why}; not reviewed: {what}; {verdict}\n")
        sys.stderr.flush()
    if blocking:
        return EXIT_FINDINGS
    if not outcome.complete and args.strict:
        return EXIT_MODEL_UNAVAILABLE
    return EXIT_OK


def _describe(unreviewed: list[tuple[str, int]], total_units: int) -> str:
    if not unreviewed:
        return "nothing (every unit was reviewed)"
    names = [p for p, _ in unreviewed]
    shown = ", ".join(names[:MAX_LISTED_FILES])
    if len(names) > MAX_LISTED_FILES:
        shown += f" and {len(names) - MAX_LISTED_FILES} more file(s)"
    left = sum(n for _, n in unreviewed)
    return f"{shown} ({left} of {total_units} unit{'s' if total_units != 1 else ''})"
