"""The ``gemma-review`` command line: ``main(argv) -> exit code``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .config import BACKENDS, CATEGORIES, FAIL_ON, SEVERITIES
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, GemmaReviewError, InputError

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", "dist", "build", "target"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        self.exit(EXIT_USAGE, f"gemma-review: error: {message} (see --help)\n")


def add_model_options(p: argparse.ArgumentParser, request_timeout: bool = True) -> None:
    """The model flags shared by review, doctor, bench and the hook (whose --timeout is its own)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", help="model name (default gemma4:e4b)")
    g.add_argument("--host", help="model server URL (default http://127.0.0.1:11434, env OLLAMA_HOST)")
    g.add_argument("--backend", choices=BACKENDS, help="model backend (default auto)")
    g.add_argument("--model-file", help="GGUF file for the embedded backend")
    g.add_argument("--allow-remote", action="store_true", default=None, help="allow a model host that is not on this machine")
    if request_timeout:
        g.add_argument("--timeout", type=float, help="seconds to wait for the model per request")
    g.add_argument("--num-ctx", type=int, help="context window sent to the model")
    g.add_argument("--num-predict", type=int, help="cap on tokens the model may write per unit")
    g.add_argument("--config", type=Path, help="read settings from this TOML file")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the review cache")


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
    r.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text",
                   help="report format: text (default), json, sarif (code scanning) or github (workflow annotations)")
    r.add_argument("-o", "--output", type=Path, help="write the report to this file")
    r.add_argument("--fix", action="store_true", help="apply validated fixes to the files")
    r.add_argument("--show-fixes", action="store_true", help="print fixes as a unified diff; change nothing")
    r.add_argument("--fail-on", choices=FAIL_ON, help="exit 1 on findings at or above this severity (default error)")
    r.add_argument("--min-confidence", type=float, help="drop findings below this confidence (0-1)")
    r.add_argument("--min-severity", choices=SEVERITIES, help="drop findings below this severity")
    r.add_argument("--categories", help=f"comma-separated subset of: {','.join(CATEGORIES)}")
    r.add_argument("--guidelines", help="the repository's review guidelines file")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes")
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

    bench = sub.add_parser("bench", help="compare models on the labelled samples")
    bench.add_argument("--models", help="comma-separated model names")
    bench.add_argument("--samples", type=Path, help="samples folder (default: the repository's samples/)")
    bench.add_argument("--format", choices=("markdown", "json"), default="markdown",
                       help="table format: markdown (default; rows print as each model finishes) or json")
    bench.add_argument("--plot", type=Path, help="draw the figures into this PNG (needs matplotlib)")
    add_model_options(bench)

    cache = sub.add_parser("cache", help="show or clear the review cache")
    cache.add_argument("action", choices=("info", "clear"))
    return parser


OVERRIDE_FLAGS = (
    "model", "host", "backend", "model_file", "allow_remote", "timeout", "num_ctx", "num_predict",
    "fail_on", "min_confidence", "min_severity", "categories", "guidelines",
)


def overrides_from(args: argparse.Namespace, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Settings given as flags (argparse dest == setting name); ``skip`` flags mean something else."""
    out = {n: getattr(args, n) for n in OVERRIDE_FLAGS if n not in skip and getattr(args, n, None) is not None}
    if getattr(args, "no_cache", False):
        out["cache"] = False
    return out


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    from .languages import EXTENSIONS

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(filenames):
                    if Path(name).suffix.lower() in EXTENSIONS:
                        out.append(Path(dirpath) / name)
        elif not p.exists():
            raise InputError(f"{p}: no such file or folder")
        else:
            out.append(p)
    return out


def gather(args: argparse.Namespace, root: Path) -> list:
    from . import intake

    if args.head and not args.base:
        raise InputError("--head needs --base REV")
    if args.diff is not None:
        if args.paths:
            raise InputError("pass either files or --diff, not both")
        if args.diff == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(args.diff).read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read the diff {args.diff}: {exc.strerror}") from None
        # Keep odd bytes intact; the files themselves are decoded later.
        return intake.from_diff(data.decode("utf-8", "surrogateescape"), Path.cwd())
    if args.staged:
        return intake.from_staged(Path.cwd())
    if args.base:
        return intake.from_range(Path.cwd(), args.base, args.head)
    if not args.paths:
        raise InputError("nothing to review: pass files, --diff FILE (or - for stdin), --staged or --base REV")
    return intake.from_files(expand_paths(args.paths), Path.cwd())


def run_review(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .engine import ReviewEngine
    from .progress import ProgressBar
    from .report import render
    from .report.text import use_color, write_notes

    loaded = load_settings(Path.cwd(), overrides=overrides_from(args), config_file=args.config)
    settings = loaded.settings
    for warning in loaded.warnings:
        sys.stderr.write(f"gemma-review: warning: {warning}\n")
    changes = gather(args, Path.cwd())
    # `review` is the one front end where `auto` may fall back to the demo model.
    engine = ReviewEngine(settings, root=loaded.root, allow_demo=True)
    quiet = args.quiet
    bar = ProgressBar(enabled=None if not quiet else False)
    engine.on_text = bar.on_text
    try:
        if any(not c.skip_reason for c in changes):
            engine.backend  # choose it now so its notice (smoke model) comes before the report
            if engine.backend_notice and not quiet:
                sys.stderr.write(f"gemma-review: {engine.backend_notice}\n")
                sys.stderr.flush()
        result = engine.review(changes, on_progress=bar.update)
    finally:
        bar.finish()
        engine.close()
    out_stream = sys.stdout
    color = args.output is None and use_color(sys.stdout, args.color)
    report = render(args.format, result, color=color, show_fixes=args.show_fixes and args.format == "text")
    if args.show_fixes and args.format != "text":
        from .report.text import fixes_as_diff

        sys.stderr.write("\n".join(fixes_as_diff(result)) + "\n")
    if args.output is not None:
        try:
            args.output.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {args.output}: {exc.strerror}") from None
    else:
        out_stream.write(report)
    if not quiet:
        write_notes(result)
        for path, reason in result.skipped:
            if reason not in ("no reviewable lines",):
                sys.stderr.write(f"gemma-review: skipped {path}: {reason}\n")
    remaining = result.findings
    if args.fix:
        remaining = apply_all_fixes(result)
    if settings.fail_on == "never":
        return EXIT_OK
    return EXIT_FINDINGS if any(f.at_least(settings.fail_on) for f in remaining) else EXIT_OK


def apply_all_fixes(result) -> list:
    from .fixes import apply_fixes

    remaining = []
    for path, change in result.files.items():
        fixes = [f.fix for f in result.findings if f.path == path and f.fix is not None]
        if not fixes:
            continue
        if change.abspath is None:
            sys.stderr.write(f"gemma-review: {path}: not a working-tree file; fixes not applied\n")
            continue
        outcome = apply_fixes(change.abspath, path, fixes)
        if outcome.refused:
            sys.stderr.write(f"gemma-review: {outcome.refused}\n")
        elif outcome.applied:
            sys.stderr.write(
                f"gemma-review: fixed {outcome.applied} finding{'s' if outcome.applied != 1 else ''} in {path}\n"
            )
    fixed_paths = set()
    for f in result.findings:
        if f.fix is None or result.files[f.path].abspath is None:
            remaining.append(f)
        else:
            fixed_paths.add(f.path)
    return remaining


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:
        # The hook has its own parser (and its own --help); pass everything through untouched.
        from hooks.pre_commit import main as hook_main

        try:
            return hook_main(argv[1:])
        except GemmaReviewError as exc:
            sys.stderr.write(f"gemma-review: error: {exc}\n")
            return exc.exit_code
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: report, don't exit the caller
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "review":
            return run_review(args)
        if args.command == "lsp":
            from lsp_server.server import main as lsp_main

            return lsp_main(args)
        if args.command in ("install-hook", "uninstall-hook"):
            from hooks import install

            return install.main(args)
        if args.command == "doctor":
            from .doctor import main as doctor_main

            return doctor_main(args)
        if args.command == "bench":
            from .bench import main as bench_main

            return bench_main(args)
        if args.command == "cache":
            return run_cache(args)
        parser.print_help()
        return EXIT_USAGE
    except GemmaReviewError as exc:
        sys.stderr.write(f"gemma-review: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gemma-review: interrupted\n")
        return 130
    except BrokenPipeError:
        # `gemma-review review ... | head`: the reader left; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


def run_cache(args: argparse.Namespace) -> int:
    from .cache import ReviewCache, default_cache_dir
    from .config import load_settings

    settings = load_settings(Path.cwd()).settings
    cache = ReviewCache(Path(settings.cache_dir) if settings.cache_dir else default_cache_dir())
    if args.action == "clear":
        cache.clear()
        print(f"cleared {cache.path}")
    else:
        stats = cache.stats()
        print(f"{stats['path']}: {stats['entries']} entries, {stats['bytes'] / 1024:.0f} KiB")
    return EXIT_OK
