"""One place for the unexpected: every command runs inside :func:`guarded`.

As in pre-commit's ``error_handler``: an error the user can act on is one line and its
exit code; a bug is one line naming a log file that holds the traceback and versions,
and exit code 4 (never 1, which means "findings" and would block a commit). Ctrl-C is
130 without a traceback; a reader that left (``| head``) is a quiet exit 141.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

from .errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, GemmaReviewError
from .terminal import one_line

LOG_NAME = "gemma-review.log"


def log_dir() -> Path:
    """The cache dir (settings may be what failed, so only the environment is consulted)."""
    configured = os.environ.get("GEMMA_REVIEW_CACHE_DIR")
    if configured:
        return Path(configured)
    from .cache import default_cache_dir

    return default_cache_dir()


def _versions() -> str:
    from . import __version__

    return (
        f"gemma-review {__version__}\npython {sys.version.split()[0]} ({sys.executable})\n"
        f"platform {platform.platform()}\nargv {sys.argv!r}\n"
    )


def write_log(exc: BaseException) -> Path | None:
    """Append the traceback and versions to the log; the path, or None if nowhere was writable."""
    entry = (
        f"### {time.strftime('%Y-%m-%d %H:%M:%S')}\n{_versions()}\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        + "\n"
    )
    for folder in (log_dir(), Path(tempfile.gettempdir())):
        path = folder / LOG_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(entry)
            return path
        except OSError:
            continue
    return None


def describe(exc: BaseException) -> str:
    what = one_line(str(exc))
    name = type(exc).__name__
    what = f"{name}: {what}" if what else name
    return what if len(what) <= 300 else what[:297] + "..."


def internal_error_line(exc: BaseException, prefix: str = "gemma-review: internal error") -> str:
    log = write_log(exc)
    where = f"details in {log}" if log is not None else "no log could be written"
    return f"{prefix}: {describe(exc)}; {where}"


def _say(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed too: nothing left to tell
        pass


def _silence_stdout() -> None:
    """The reader left: point fd 1 at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _safe_streams() -> None:
    # Lone surrogates (file names that are not UTF-8) print as \udcff rather than raising.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def guarded(run: Callable[[], int]) -> int:
    """``run()``'s exit code; every exception becomes one line on stderr and an exit code."""
    _safe_streams()
    code = _classified(run)
    # Flush here, not at interpreter exit, so a reader that left cannot cause an
    # "Exception ignored ... BrokenPipeError" after the exit code is decided.
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (OSError, ValueError):
        pass
    return code


def _classified(run: Callable[[], int]) -> int:
    try:
        return run()
    except GemmaReviewError as exc:
        _say(f"gemma-review: error: {one_line(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("gemma-review: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `gemma-review review ... | head`: the reader left. Quietly, but not 0: the
        # findings were not all delivered, so "no findings" would be a lie (a hook would pass).
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - this is the one place for the unexpected
        _say(internal_error_line(exc))
        return EXIT_INTERNAL
