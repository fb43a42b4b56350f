"""The ``gemma-review`` command line: ``main(argv) -> exit code``.

The only module that knows argparse: it parses the arguments and calls a typed command
(``review.run``, ``doctor.run``, ``bench.run``, the hook's ``run_hook``, the language
server's ``serve``, ``install_hook``). Options shared between commands are declared as
data in :mod:`gemma_review.options`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import EXIT_OK, EXIT_USAGE, GemmaReviewError
from .report import FORMATS
from .options import CONFIG, FILTER_OPTIONS, JOBS, STRICT, VERIFY, Option, fail_on_option, model_options, overrides_from
from .terminal import one_line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        self.exit(EXIT_USAGE, f"gemma-review: error: {message} (see --help)\n")


class _HookParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like the rest of the CLI
        self.exit(EXIT_USAGE, f"gemma-review hook: error: {message} (see `gemma-review hook -- --help`)\n")


def add_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, options: Sequence[Option]) -> None:
    """Declare ``options`` (plain data from :mod:`.options`) on a parser or group."""
    for o in options:
        if o.switch:
            # default None: an absent switch must not override the configuration files
            p.add_argument(*o.flags, dest=o.dest, action="store_true", default=None, help=o.help)
        else:
            p.add_argument(*o.flags, dest=o.dest, type=o.type, choices=o.choices, metavar=o.metavar, help=o.help)


def add_model_options(p: argparse.ArgumentParser, request_timeout: bool = True) -> None:
    """The model flags shared by review, doctor, bench and the hook (whose --timeout is its own)."""
    add_options(p.add_argument_group("model"), model_options(request_timeout))


def _report_arg(value: str) -> tuple[str, Path]:
    fmt, sep, path = value.partition("=")
    if not sep or not path or fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected FORMAT=FILE with FORMAT one of {', '.join(FORMATS)}: {value!r}")
    return fmt, Path(path)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gemma-review", description="A local-first AI code reviewer.")
    parser.add_argument("--version", action="version", version=f"gemma-review {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("review", help="review files or a diff")
    r.add_argument("paths", nargs="*", type=Path, help="files or folders to review whole")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--diff", metavar="FILE", help="review only the changed lines of a unified diff ('-' for stdin)")
    src.add_argument("--staged", action="store_true", help="review what is staged for commit (the index)")
    src.add_argument("--base", metavar="REV", help="review changes since the merge base with REV")
    r.add_argument("--head", metavar="REV", help="with --base: review BASE...HEAD commits instead of the working tree")
    r.add_argument("--format", choices=FORMATS, default="text",
                   help="report format: text (default), json, sarif (code scanning), github (workflow annotations), "
                   "rdjson (reviewdog, with suggested changes) or gitlab (Code Quality)")
    r.add_argument("-o", "--output", type=Path, help="write the report to this file")
    r.add_argument("--report", action="append", default=[], type=_report_arg, metavar="FORMAT=FILE",
                   help="also write the same review in another format to FILE (repeatable), "
                   "e.g. --report sarif=gemma-review.sarif")
    r.add_argument("--summary", type=Path, metavar="FILE",
                   help="append every finding as a Markdown table to FILE; with --format github it "
                   "defaults to $GITHUB_STEP_SUMMARY (the job summary) when that is set")
    r.add_argument("--fix", action="store_true", help="apply validated fixes to the files")
    r.add_argument("--show-fixes", action="store_true", help="print fixes as a unified diff; change nothing")
    add_options(r, (fail_on_option("exit 1"), *FILTER_OPTIONS, VERIFY, JOBS, STRICT))
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes")
    r.add_argument("--explain", action="store_true", help="list every finding the model wrote that was dropped, and why")
    r.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text report: auto (default: on a terminal, unless NO_COLOR), always, never")
    add_model_options(r)

    lsp = sub.add_parser("lsp", help="run the language server (stdio)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    lsp.add_argument("--stdio", action="store_true", help="use stdio (the default)")

    sub.add_parser("hook", help="the pre-commit hook entry point (see `gemma-review hook --help`)", add_help=False)

    ih = sub.add_parser("install-hook", help="install a plain git pre-commit hook")
    ih.add_argument("--force", action="store_true", help="replace a hook gemma-review did not write")
    ih.add_argument("--stage", choices=("pre-commit", "pre-push"), default="pre-commit")
    uh = sub.add_parser("uninstall-hook", help="remove the git hook gemma-review installed")
    uh.add_argument("--stage", choices=("pre-commit", "pre-push"), default="pre-commit")

    doc = sub.add_parser("doctor", help="check that reviewing can work here")
    add_model_options(doc)
    add_options(doc, (JOBS,))

    bench = sub.add_parser("bench", help="compare models on the labelled samples")
    bench.add_argument("--models", help="comma-separated model names")
    bench.add_argument("--samples", type=Path, help="samples folder (default: the repository's samples/)")
    bench.add_argument("--format", choices=("markdown", "json"), default="markdown",
                       help="table format: markdown (default; rows print as each model finishes) or json")
    bench.add_argument("--plot", type=Path, help="draw the figures into this PNG (needs matplotlib)")
    bench.add_argument("--only", metavar="FILES", help="comma-separated sample files to review")
    bench.add_argument("--all", dest="all_samples", action="store_true",
                       help="review every bundled sample (default: a quick subset of 3, chosen by size and variety)")
    add_options(bench, (VERIFY,))
    add_model_options(bench)

    dis = sub.add_parser("dismiss", help="record findings as dismissed for the whole team (.gemma-review/)")
    dis.add_argument("fingerprints", nargs="+", metavar="FINGERPRINT", help="as the text, JSON and SARIF reports show them")
    dis.add_argument("--reason", default="", help="why (required for a security finding)")
    dis.add_argument("--verdict", choices=("dismissed", "accepted-risk"), default="dismissed")

    bl = sub.add_parser("baseline", help="review and record every current finding as baseline (.gemma-review/)")
    bl.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the current folder)")
    bl.add_argument("--base", metavar="REV", help="review the changes since the merge base with REV instead")
    bl.add_argument("--update", action="store_true", help="replace the recorded baseline with the current findings")
    add_options(bl, (*FILTER_OPTIONS, JOBS))
    add_model_options(bl)

    ds = sub.add_parser("decisions", help="maintain the team's decisions (.gemma-review/decisions.jsonl)")
    ds.add_argument("action", choices=("prune",), help="prune: remove records whose code is gone")
    ds.add_argument("--dry-run", action="store_true", help="say how many would go; change nothing")

    st = sub.add_parser("stats", help="what happened to this repository's findings here, and what learn would adapt")
    add_options(st, (CONFIG,))

    cache = sub.add_parser("cache", help="show or clear the review cache")
    cache.add_argument("action", choices=("info", "clear"))
    return parser


def build_hook_parser() -> argparse.ArgumentParser:
    """``gemma-review hook``'s own options (pre-commit passes them after ``--``)."""
    from .hooks.pre_commit import DEFAULT_BUDGET

    p = _HookParser(
        prog="gemma-review hook",
        description="Review the staged changes (or the commits being pushed) and fail on findings.",
    )
    p.add_argument("files", nargs="*", help="files pre-commit passes; only their staged changes are reviewed")
    add_options(p, (fail_on_option("fail"),))
    p.add_argument("--strict", action="store_true",
                   help="fail when the model is unavailable or the time budget runs out (default: warn and pass)")
    p.add_argument("--timeout", type=float, default=DEFAULT_BUDGET, metavar="SECONDS",
                   help=f"time budget for the whole hook (default {DEFAULT_BUDGET:g})")
    add_options(p, FILTER_OPTIONS)
    add_model_options(p, request_timeout=False)
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="print findings and warnings only")
    # Used by the plain git hooks that `gemma-review install-hook` writes.
    p.add_argument("--git-hook", choices=("pre-commit", "pre-push"), help=argparse.SUPPRESS)
    p.add_argument("--remote", help=argparse.SUPPRESS)
    return p


def run_hook(argv: Sequence[str]) -> int:
    started = time.monotonic()
    argv = list(argv)
    if argv[:1] == ["--"]:  # the entry is `gemma-review hook --` so options reach this parser
        argv = argv[1:]
    parser = build_hook_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        sys.stderr.write("gemma-review hook: error: --timeout must be a positive number of seconds\n")
        return EXIT_USAGE
    from .hooks.pre_commit import HookRun, run_hook as hook

    run = HookRun(
        files=tuple(args.files), strict=args.strict, budget=args.timeout, config_file=args.config,
        color=args.color, quiet=args.quiet, git_hook=args.git_hook, remote=args.remote,
    )
    # The hook's --timeout is the whole-hook budget, not the per-request setting.
    return hook(overrides_from(vars(args), skip=("timeout",)), run, started=started)


def dispatch(args: argparse.Namespace) -> int:
    """Namespace -> the typed command."""
    values = vars(args)
    if args.command == "review":
        from .review import Output, Source, run

        source = Source(paths=tuple(args.paths), diff=args.diff, staged=args.staged, base=args.base, head=args.head)
        output = Output(format=args.format, path=args.output, color=args.color, fix=args.fix,
                        show_fixes=args.show_fixes, quiet=args.quiet, explain=args.explain,
                        summary=args.summary, reports=tuple(args.report))
        return run(overrides_from(values), source, output, config_file=args.config)
    if args.command == "lsp":
        from .lsp.server import serve

        return serve(tcp=args.tcp)
    if args.command == "install-hook":
        from .hooks.install import install_hook

        return install_hook(stage=args.stage, force=args.force)
    if args.command == "uninstall-hook":
        from .hooks.install import uninstall_hook

        return uninstall_hook(stage=args.stage)
    if args.command == "doctor":
        from . import doctor

        return doctor.run(overrides_from(values), config_file=args.config)
    if args.command == "bench":
        from . import bench
        from .config import load_settings

        loaded = load_settings(Path.cwd(), overrides=overrides_from(values), config_file=args.config)
        for warning in loaded.warnings:
            sys.stderr.write(f"gemma-review: warning: {warning}\n")
        settings = loaded.settings
        models = args.models.split(",") if args.models else []
        only = args.only.split(",") if args.only else []
        return bench.run(settings, models=models, samples=args.samples, fmt=args.format, plot_to=args.plot, only=only,
                         all_samples=args.all_samples)
    if args.command == "cache":
        return run_cache(args.action)
    if args.command == "stats":
        from .config import load_settings
        from .decide import repo_root
        from .verdicts import stats

        loaded = load_settings(Path.cwd(), config_file=args.config)
        for warning in loaded.warnings:
            sys.stderr.write(f"gemma-review: warning: {warning}\n")
        return stats(loaded.settings, repo_root(Path.cwd()))
    if args.command == "dismiss":
        from . import decide

        return decide.dismiss(args.fingerprints, reason=args.reason, verdict=args.verdict)
    if args.command == "baseline":
        from . import decide

        return decide.baseline(overrides_from(values), paths=tuple(args.paths), base=args.base, update=args.update,
                               config_file=args.config)
    if args.command == "decisions":
        from . import decide

        return decide.prune(dry_run=args.dry_run)
    raise AssertionError(f"no command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C, a closed pipe and the unexpected (exit 4, traceback to a log) are handled there.
    from .error_handler import guarded

    return guarded(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv[:1] == ["hook"]:
            # The hook has its own options and --help, after an optional "--".
            return run_hook(argv[1:])
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version and usage errors: report, don't exit the caller
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return dispatch(args)
    except GemmaReviewError as exc:
        sys.stderr.write(f"gemma-review: error: {one_line(str(exc))}\n")
        return exc.exit_code


def run_cache(action: str) -> int:
    """``gemma-review cache info|clear``."""
    from .cache import ReviewCache, default_cache_dir
    from .config import load_settings

    settings = load_settings(Path.cwd()).settings
    cache = ReviewCache(Path(settings.cache_dir) if settings.cache_dir else default_cache_dir())
    if action == "clear":
        cache.clear()
        print(f"cleared {cache.path}")
    else:
        stats = cache.stats()
        print(f"{stats['path']}: {stats['entries']} entr{'y' if stats['entries'] == 1 else 'ies'}, {stats['bytes'] / 1024:.0f} KiB")
    return EXIT_OK
