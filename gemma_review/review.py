"""``gemma-review review``: review files or a diff and print the report.

A typed command: the CLI parses arguments and calls :func:`run`; nothing here knows
argparse, so other front ends (and tests) can call it directly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, InputError
from .terminal import one_line

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", "dist", "build", "target"}


@dataclass(frozen=True)
class Source:
    """What to review: whole files/folders, a unified diff ('-' = stdin), the index, or a range."""

    paths: tuple[Path, ...] = ()
    diff: str | None = None
    staged: bool = False
    base: str | None = None
    head: str | None = None


@dataclass(frozen=True)
class Output:
    """How to report: format, destination, and what to do with fixes."""

    format: str = "text"  # text | json | sarif | github | rdjson | gitlab
    path: Path | None = None  # None = stdout
    color: str = "auto"  # auto | always | never
    fix: bool = False  # apply validated fixes
    show_fixes: bool = False  # print fixes as a unified diff
    quiet: bool = False
    explain: bool = False  # list every dropped finding and why (stderr)
    summary: Path | None = None  # append every finding as a Markdown table (a job summary)
    reports: tuple[tuple[str, Path], ...] = ()  # more reports of the same review: (format, file)

    def summary_path(self) -> Path | None:
        """``--summary``, else, with ``--format github``, the job summary GitHub gives the step."""
        if self.summary is not None:
            return self.summary
        env = os.environ.get("GITHUB_STEP_SUMMARY")
        return Path(env) if self.format == "github" and env else None


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    from .languages import EXTENSIONS

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(filenames):
                    # is_file(): a FIFO named x.py would block the read forever.
                    if Path(name).suffix.lower() in EXTENSIONS and (Path(dirpath) / name).is_file():
                        out.append(Path(dirpath) / name)
        elif not p.exists():
            raise InputError(f"{p}: no such file or folder")
        else:
            out.append(p)
    return out


def _read_stdin() -> bytes:
    closed = InputError("--diff -: standard input is closed; pipe a diff in (git diff | gemma-review review --diff -)")
    if sys.stdin is None:  # started with fd 0 closed (`<&-`)
        raise closed
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError):
        raise closed from None


def gather(source: Source, root: Path) -> list:
    from . import intake

    if source.head and not source.base:
        raise InputError("--head needs --base REV")
    if source.diff is not None:
        if source.paths:
            raise InputError("pass either files or --diff, not both")
        if source.diff == "-":
            data = _read_stdin()
        else:
            from .textfile import NotARegularFile, read_regular

            try:
                data = read_regular(source.diff, streams=True)  # a pipe too: --diff <(git diff)
            except NotARegularFile as exc:
                raise InputError(f"cannot read the diff {source.diff}: not a regular file ({exc})") from None
            except OSError as exc:
                raise InputError(f"cannot read the diff {source.diff}: {exc.strerror or exc}") from None
        # Keep odd bytes intact; the files themselves are decoded later.
        return intake.from_diff(data.decode("utf-8", "surrogateescape"), root)
    if source.staged:
        return intake.from_staged(root)
    if source.base:
        return intake.from_range(root, source.base, source.head)
    if not source.paths:
        raise InputError("nothing to review: pass files, --diff FILE (or - for stdin), --staged or --base REV")
    return intake.from_files(expand_paths(source.paths), root)


def run(
    overrides: Mapping[str, Any],
    source: Source,
    output: Output = Output(),
    config_file: Path | None = None,
    cwd: Path | None = None,
) -> int:
    """Review ``source`` with the settings (defaults < files < env < ``overrides``); the exit code."""
    from . import events as ev
    from .config import load_settings
    from .engine import ReviewEngine
    from .progress import ProgressBar
    from .report import render
    from .report.text import use_color, write_notes

    cwd = Path.cwd() if cwd is None else cwd
    loaded = load_settings(cwd, overrides=overrides, config_file=config_file)
    settings = loaded.settings
    for warning in loaded.warnings:
        sys.stderr.write(f"gemma-review: warning: {warning}\n")
    changes = gather(source, cwd)
    # `review` is the one front end where `auto` may fall back to the demo model.
    engine = ReviewEngine(settings, root=loaded.root, allow_demo=True)
    quiet = output.quiet
    bar = ProgressBar(enabled=None if not quiet else False)

    def watch(event: ev.Event) -> None:
        if isinstance(event, ev.ProgressMade):
            bar.update(event.progress)
        elif isinstance(event, ev.Streamed):
            bar.on_text(event.text)
        elif isinstance(event, ev.Planned) and event.notice and not quiet and event.notice not in told:
            told.add(event.notice)  # the backend's word (the demo model) comes before the report
            sys.stderr.write(f"gemma-review: {event.notice}\n")
            sys.stderr.flush()

    told: set[str] = set()
    try:
        result = engine.run([changes], watch).execute()
    finally:
        bar.finish()
        engine.close()
    out_stream = sys.stdout
    color = output.path is None and use_color(sys.stdout, output.color)
    summary_file = output.summary_path()
    summary_to = None
    if summary_file is not None:
        summary_to = "the job summary" if str(summary_file) == os.environ.get("GITHUB_STEP_SUMMARY") else str(summary_file)
    report = render(output.format, result, color=color, show_fixes=output.show_fixes and output.format == "text",
                    summary_to=summary_to)
    if output.show_fixes and output.format != "text":
        from .report.text import fixes_as_diff

        sys.stderr.write("\n".join(fixes_as_diff(result)) + "\n")
    if output.path is not None:
        try:
            output.path.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output.path}: {exc.strerror}") from None
    else:
        out_stream.write(report)
    for fmt, path in output.reports:
        _write(path, render(fmt, result))
    if summary_file is not None:
        _write(summary_file, render("summary", result), append=True)
    if output.explain:
        from .report.text import write_explain

        write_explain(result)
    # The text report's summary says "Nothing reviewed: N files skipped"; --strict (the
    # `strict` setting) makes that an error, one line naming the skips.
    failed_strict = settings.strict and nothing_reviewed(result)
    if not quiet:
        write_notes(result)
        if not changes and source.diff is not None:
            sys.stderr.write(f"gemma-review: nothing to review: the diff is empty{_staged_hint(cwd)}\n")
        elif not changes and source.staged:
            sys.stderr.write("gemma-review: nothing to review: nothing is staged\n")
        elif not failed_strict:
            for skip in result.skips_to_tell():
                sys.stderr.write(f"gemma-review: skipped {one_line(skip.path)}: {skip.reason}\n")
    if failed_strict:
        line = one_line(f"nothing reviewed: {_skips_line(result.skips_to_tell())}")
        sys.stderr.write(f"gemma-review: error: {line} (--strict)\n")
        return EXIT_USAGE
    remaining = result.findings
    if output.fix:
        remaining = apply_all_fixes(result)
        engine.count_verdicts("fixed", [f for f in result.findings if all(f is not r for r in remaining)])
    if settings.fail_on == "never":
        return EXIT_OK
    return EXIT_FINDINGS if any(f.at_least(settings.fail_on) for f in remaining) else EXIT_OK


def nothing_reviewed(result) -> bool:
    """No file was reviewed and at least one was skipped for a reason worth telling
    (binary, too large, excluded, unreadable): what ``--strict`` fails. A change with no
    reviewable line (whitespace, a deletion) is not such a skip."""
    return not result.files and not result.cancelled and bool(result.skips_to_tell())


def _skips_line(skips: list, shown: int = 4) -> str:
    """``2 files skipped (blob.bin: binary file, big.py: larger than ...)``."""
    n = len(skips)
    named = ", ".join(f"{s.path}: {s.reason}" for s in skips[:shown])
    more = f" and {n - shown} more" if n > shown else ""
    return f"{n} file{'s' if n != 1 else ''} skipped ({named}{more})"


def _staged_hint(cwd: Path) -> str:
    """After `git add`, `git diff` is empty: point at the index when it holds changes."""
    from .errors import GemmaReviewError
    from .git_repo import GitRepo

    try:
        staged = GitRepo.find(cwd).staged_paths()
    except (GemmaReviewError, OSError):
        return ""  # not a repository (or git is missing): no hint
    if not staged:
        return ""
    n = len(staged)
    return f"; the index holds {n} staged file{'s' if n != 1 else ''}: review {'them' if n != 1 else 'it'} with `gemma-review review --staged`"


def _write(path: Path, text: str, append: bool = False) -> None:
    try:
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def apply_all_fixes(result) -> list:
    """Apply the fixes; the findings left unfixed (refused writes included) decide the exit code."""
    from .fixes import fix_files

    run = fix_files(result.files, result.findings)
    for message in run.messages:
        sys.stderr.write(f"gemma-review: {one_line(message)}\n")
    return run.remaining

