"""Bad input as users meet it: ``gemma-review`` and its hook run as subprocesses.

Every case asserts the exit code, that stderr is empty or one line naming the problem
(never a traceback, never "Exception ignored"), and that every file in and around the
repository, the index and the refs are byte-identical afterwards. One fake Ollama server
and one template repository are shared by the whole module so the catalogue stays fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import GIT_ENV, git

# --- the model ---------------------------------------------------------------------------

HOSTILE_MARKER = "hostile_marker"
HANG_MARKER = "hang_marker"
SECRET = "TOP_SECRET_TOKEN_41"  # in files outside the repository, behind symlinks
# What a model (or a man in the middle) might write to take over a terminal: an OSC title,
# SGR colours, a screen clear, BEL, a C1 CSI, a bidi override, and a lone surrogate.
EVIL = "\x1b]0;owned\x07\x1b[31mred\x1b[0m \x1b[2J\x07\x9b6n \u202e \ud800"
TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

HOSTILE_SOURCE = "def divide(a, b):\n    return a / b  # hostile_marker\n"
HOSTILE_FINDING = {
    "line": 2, "end_line": 2, "severity": "error", "category": "bug",
    "title": f"Division by zero {EVIL}", "explanation": f"When b is 0 this raises.{EVIL}\nsecond line {EVIL}",
    "existing_code": "    return a / b  # hostile_marker",
    "suggested_code": "    return a / b if b else 0  # hostile_marker",
    "confidence": 0.9,
}


def respond(body: dict) -> Reply | str:
    prompt = json.dumps(body)
    if HANG_MARKER in prompt:
        return Reply(hang=True)
    if HOSTILE_MARKER in prompt:
        # ensure_ascii: the surrogate travels as the escape "\ud800", as a model would write it.
        return json.dumps({"findings": [HOSTILE_FINDING]}, ensure_ascii=True)
    return '{"findings": []}'


@pytest.fixture(scope="module")
def server() -> FakeOllama:
    with FakeOllama(responder=respond) as fake:
        yield fake


# --- the repository ----------------------------------------------------------------------

APP = "def add(a, b):\n    return a + b\n"


def commit_all(cwd: Path, message: str = "c") -> None:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-qm", message)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small repository: two commits on main, and a secret outside it."""
    base = tmp_path_factory.mktemp("template")
    (base / "outside").mkdir()
    (base / "outside" / "secret.py").write_text(f"API_KEY = '{SECRET}'\n")
    repo = base / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text(APP)
    (repo / "hostile.py").write_text("def divide(a, b):\n    return a\n")
    commit_all(repo, "first")
    (repo / "app.py").write_text(APP + "\n\ndef sub(a, b):\n    return a - b\n")
    commit_all(repo, "second")
    return base


# --- running -----------------------------------------------------------------------------


@dataclass
class Case:
    argv: list[str]  # after `gemma-review`
    code: int  # expected exit code
    err: str | None  # regex the single stderr line must match; None: stderr stays empty
    setup: Callable[[Path], Path | None] | None = None  # may return another folder to run in
    env: dict[str, str | None] = field(default_factory=dict)  # None removes the variable
    stdin: bytes | str = b""  # "closed": fd 0 closed; "diff"/"crlf-diff": the repo's `git diff` (saved with CRLF)
    out: str | None = None  # regex stdout must match
    stdout_closed: bool = False  # the reader is gone before anything is written (`| true`)
    crash: bool = False  # a review run raises: the unexpected, as a bug would
    sees: str | None = None  # the model must have been asked about this
    never_sees: str | None = SECRET  # ... and never about this
    writes_log: bool = False


CRASH = (
    "import sys\n"
    "import gemma_review.run as run\n"
    "def execute(*args, **kwargs):\n"
    "    raise RuntimeError('simulated bug')\n"
    "run.ReviewRun.execute = execute\n"
    "from gemma_review.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def snapshot(base: Path) -> dict[str, object]:
    """Every file, link and special file under ``base`` (outside .git), the index and the refs."""
    state: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in [*filenames, *dirnames]:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = os.fsencode(p.relative_to(base))
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                state[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
            elif not stat.S_ISDIR(st.st_mode):
                state[rel] = ("special", stat.S_IFMT(st.st_mode))
        if Path(dirpath) != base and (Path(dirpath) / ".git").is_dir():
            gitdir = Path(dirpath) / ".git"
            index = gitdir / "index"
            state[f"{dirpath}:index"] = index.read_bytes() if index.exists() else None
            state[f"{dirpath}:HEAD"] = (gitdir / "HEAD").read_text()
            state[f"{dirpath}:refs"] = git(Path(dirpath), "for-each-ref", "--format=%(refname) %(objectname)")
    return state


def run_case(case: Case, cwd: Path, server: FakeOllama, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the case's command in ``cwd``; ``case.stdin`` is bytes or "closed" by now."""
    env = {**os.environ, **GIT_ENV, "GEMMA_REVIEW_BACKEND": "ollama", "GEMMA_REVIEW_HOST": server.url,
           "GEMMA_REVIEW_CACHE_DIR": str(tmp_path / "cache"), "PYTHONWARNINGS": "error::ResourceWarning"}
    env.pop("COLUMNS", None)
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.replace("{server}", server.url)
    cmd = [sys.executable, *(["-c", CRASH] if case.crash else ["-m", "gemma_review"]), *case.argv]
    stdin: bytes | None = case.stdin  # type: ignore[assignment]
    if case.stdin == "closed":
        cmd = ["sh", "-c", 'exec "$@" <&-', "sh", *cmd]
        stdin = None
    stdout: int = subprocess.PIPE
    read_end = None
    if case.stdout_closed:
        read_end, stdout = os.pipe()
        os.close(read_end)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE if stdin is not None else None,
                                stdout=stdout, stderr=subprocess.PIPE)
    finally:
        if case.stdout_closed:
            os.close(stdout)
    out, err = proc.communicate(stdin, timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, out or b"", err)


# --- setups ------------------------------------------------------------------------------


def write(rel: str, content: str | bytes, commit: bool = False) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        if commit:
            commit_all(repo)

    return setup


def chain(*steps: Callable[[Path], Path | None]) -> Callable[[Path], Path | None]:
    def setup(repo: Path) -> Path | None:
        where = None
        for step in steps:
            where = step(where or repo) or where
        return where

    return setup


def run_git(*args: str) -> Callable[[Path], None]:
    return lambda repo: (git(repo, *args), None)[1]


def edit_app(repo: Path) -> None:
    (repo / "app.py").write_text(APP + "\n\ndef mul(a, b):\n    return a * b\n")


def fifo(rel: str) -> Callable[[Path], None]:
    return lambda repo: os.mkfifo(repo / rel)


def unix_socket(rel: str) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        # AF_UNIX paths are limited to about 100 bytes: bind from inside the folder.
        here = os.getcwd()
        os.chdir(repo)
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(rel)
            sock.close()  # the socket file stays
        finally:
            os.chdir(here)

    return setup


def link(rel: str, target: str) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / rel)

    return setup


def plain_diff(rel: str, body: str = "+x = 1\n") -> Callable[[Path], None]:
    """A diff file ``change.patch`` that adds lines to ``rel`` (not made by git: no modes)."""
    return write("change.patch", f"--- a/{rel}\n+++ b/{rel}\n@@ -0,0 +1 @@\n{body}")


def conflict(repo: Path) -> None:
    git(repo, "checkout", "-qb", "other", "HEAD~1")
    (repo / "app.py").write_text(APP + "# other side\n")
    commit_all(repo, "other")
    git(repo, "checkout", "-q", "main")
    (repo / "app.py").write_text(APP + "# main side\n")
    commit_all(repo, "main side")
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True)
    assert git(repo, "ls-files", "-u")


def shallow_clone(repo: Path) -> Path:
    git(repo, "checkout", "-qb", "feature", "HEAD~1")
    (repo / "feature.py").write_text("x = 1\n")
    commit_all(repo, "feature")
    git(repo, "checkout", "-q", "main")
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", "--depth", "1", "--no-local", "-b", "main", f"file://{repo}", "clone")
    git(clone, "fetch", "-q", "--depth", "1", "origin", "feature:feature")
    return clone


def unrelated_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "lonely")
    (repo / "lonely.py").write_text("y = 2\n")
    commit_all(repo, "lonely")
    git(repo, "checkout", "-qf", "main")


def empty_repo(repo: Path) -> None:
    shutil.rmtree(repo / ".git")
    git(repo, "init", "-q", "-b", "main")


def crlf_diff(repo: Path) -> None:
    edit_app(repo)
    (repo / "change.patch").write_bytes(git(repo, "diff").replace("\n", "\r\n").encode())


LATIN1 = b"name = 'caf\xe9'\n"
APP_DIFF = ["review", "--diff", "change.patch"]
NON_REGULAR = r"not a regular file"

# --- the catalogue -------------------------------------------------------------------------

CASES: dict[str, Case] = {
    # Configuration: known tables given other types, folders, numbers, URLs, names, variables.
    "config/pyproject-tool-string": Case(["review", "app.py"], 2, r"pyproject\.toml: 'tool' must be a table",
                                         write("pyproject.toml", 'tool = "x"\n')),
    "config/own-file-tool-string": Case(["review", "app.py"], 2, r"\.gemma-review\.toml: 'tool' must be a table",
                                        write(".gemma-review.toml", 'tool = "x"\n')),
    "config/section-string": Case(["review", "app.py"], 2, r"\[tool\.gemma-review\] must be a table",
                                  write("pyproject.toml", '[tool]\ngemma-review = "x"\n')),
    "config/section-number": Case(["review", "app.py"], 2, r"\[tool\.gemma-review\] must be a table",
                                  write(".gemma-review.toml", "[tool]\ngemma-review = 3\n")),
    "config/user-file-tool-list": Case(["review", "app.py"], 2, r"user\.toml: 'tool' must be a table",
                                       write("../user.toml", "tool = [1, 2]\n"),
                                       env={"GEMMA_REVIEW_CONFIG": "../user.toml"}),
    "config/flag-names-folder": Case(["review", "app.py", "--config", "."], 2, r"--config \. is a folder; pass a TOML file"),
    "config/flag-missing-file": Case(["review", "app.py", "--config", "nope.toml"], 2, r"config file nope\.toml does not exist"),
    "config/invalid-toml": Case(["review", "app.py", "--config", "bad.toml"], 2, r"bad\.toml: invalid TOML",
                                write("bad.toml", "model = \n")),
    "config/timeout-nan": Case(["review", "app.py", "--timeout", "nan"], 2, r"--timeout must be a positive number.*got nan"),
    "config/timeout-inf": Case(["review", "app.py", "--timeout", "inf"], 2, r"--timeout must be a positive number.*got inf"),
    "config/timeout-1e400": Case(["review", "app.py", "--timeout", "1e400"], 2, r"--timeout must be a positive number.*got inf"),
    "config/timeout-huge": Case(["review", "app.py", "--timeout", "1e300"], 2, r"--timeout must be .* up to 604800"),
    "config/timeout-negative": Case(["review", "app.py", "--timeout", "-5"], 2, r"--timeout must be a positive number"),
    "config/timeout-zero": Case(["review", "app.py", "--timeout", "0"], 2, r"--timeout must be a positive number"),
    "config/timeout-word": Case(["review", "app.py", "--timeout", "soon"], 2, r"argument --timeout: invalid float value: 'soon'"),
    "config/num-ctx-negative": Case(["review", "app.py", "--num-ctx", "-1"], 2, r"--num-ctx must be a positive whole number"),
    "config/num-ctx-zero": Case(["review", "app.py", "--num-ctx", "0"], 2, r"--num-ctx must be a positive whole number"),
    "config/num-ctx-huge": Case(["review", "app.py", "--num-ctx", "99999999999999999999"], 2, r"--num-ctx must be .* up to 2147483647"),
    "config/num-ctx-toml-inf": Case(["review", "app.py"], 2, r"'num_ctx' must be a whole number, got inf",
                                    write(".gemma-review.toml", "num_ctx = inf\n")),
    "config/num-ctx-toml-fraction": Case(["review", "app.py"], 2, r"'num_ctx' must be a whole number, got 8192\.5",
                                         write(".gemma-review.toml", "num_ctx = 8192.5\n")),
    "config/num-ctx-toml-word": Case(["review", "app.py"], 2, r"'num_ctx' must be a whole number, got 'lots'",
                                     write(".gemma-review.toml", 'num_ctx = "lots"\n')),
    "config/num-predict-huge": Case(["review", "app.py", "--num-predict", "1e12"], 2, r"argument --num-predict: invalid int value"),
    "config/num-predict-toml-huge": Case(["review", "app.py"], 2, r"'num_predict' must be .* up to 2147483647",
                                         write(".gemma-review.toml", "num_predict = 4294967296\n")),
    "config/timeout-toml-nan": Case(["review", "app.py"], 2, r"'timeout' must be a positive number.*got nan",
                                    write(".gemma-review.toml", "timeout = nan\n")),
    "config/confidence-toml-nan": Case(["review", "app.py"], 2, r"'min_confidence' must be between 0 and 1",
                                       write(".gemma-review.toml", "min_confidence = nan\n")),
    "config/confidence-flag-inf": Case(["review", "app.py", "--min-confidence", "inf"], 2, r"--min-confidence must be between 0 and 1"),
    "config/host-unclosed-ipv6": Case(["review", "app.py", "--host", "http://[::1"], 2, r"'http://\[::1' is not an http\(s\) URL"),
    "config/host-space": Case(["review", "app.py", "--host", "http://local host:11434"], 2, r"is not an http\(s\) URL"),
    "config/host-newline": Case(["review", "app.py", "--host", "http://127.0.0.1\n:11434"], 2, r"is not an http\(s\) URL"),
    "config/host-ftp": Case(["review", "app.py", "--host", "ftp://127.0.0.1"], 2, r"is not an http\(s\) URL"),
    "config/host-bad-port": Case(["review", "app.py", "--host", "http://127.0.0.1:99999"], 2, r"has an invalid port"),
    "config/env-host-unclosed-ipv6": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_HOST: .*not an http\(s\) URL",
                                          env={"GEMMA_REVIEW_HOST": "http://[::1"}),
    "config/env-ollama-host": Case(["review", "app.py"], 2, r"environment variable OLLAMA_HOST: .*not an http\(s\) URL",
                                   env={"GEMMA_REVIEW_HOST": None, "OLLAMA_HOST": "http://[fe80::1"}),
    "config/model-newline": Case(["review", "app.py", "--model", "gemma4:e4b\nrm -rf /"], 2, r"--model .* contains '\\n'; model names have no spaces"),
    "config/model-empty": Case(["review", "app.py", "--model", ""], 2, r"--model is empty"),
    "config/model-toml-escape": Case(["review", "app.py"], 2, r"'model' .* contains '\\x1b'",
                                     write(".gemma-review.toml", 'model = "gemma\\u001b[2J"\n')),
    "config/model-toml-table": Case(["review", "app.py"], 2, r"\.gemma-review\.toml: 'model' must be a string",
                                    write(".gemma-review.toml", "model = {name = 1}\n")),
    "config/env-timeout-word": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_TIMEOUT must be a number, got 'soon'",
                                    env={"GEMMA_REVIEW_TIMEOUT": "soon"}),
    "config/env-timeout-nan": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_TIMEOUT must be a positive",
                                   env={"GEMMA_REVIEW_TIMEOUT": "nan"}),
    "config/env-timeout-negative": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_TIMEOUT must be a positive",
                                        env={"GEMMA_REVIEW_TIMEOUT": "-1"}),
    "config/env-allow-remote-maybe": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_ALLOW_REMOTE must be true or false",
                                          env={"GEMMA_REVIEW_ALLOW_REMOTE": "maybe"}),
    "config/env-backend": Case(["review", "app.py"], 2, r"environment variable GEMMA_REVIEW_BACKEND must be one of",
                               env={"GEMMA_REVIEW_BACKEND": "cloud"}),
    "config/categories-number": Case(["review", "app.py"], 2, r"'categories' must be a list of strings",
                                     write(".gemma-review.toml", "categories = 3\n")),
    "config/hook-timeout-nan": Case(["hook", "--", "--timeout", "nan", "app.py"], 2, r"--timeout must be a positive number", edit_app),
    "config/hook-timeout-inf": Case(["hook", "--", "--timeout", "inf", "app.py"], 2, r"--timeout must be a positive number", edit_app),
    "config/hook-pyproject-tool-string": Case(["hook", "--", "app.py"], 2, r"'tool' must be a table",
                                              chain(edit_app, write("pyproject.toml", 'tool = "x"\n'), run_git("add", "-A"))),
    # Streams and files.
    "streams/stdin-closed": Case(["review", "--diff", "-"], 2, r"--diff -: standard input is closed", stdin="closed"),
    "streams/stdin-not-a-diff": Case(["review", "--diff", "-"], 2, r"the input is not a diff", stdin=b"hello\n"),
    "streams/stdin-crlf-diff": Case(["review", "--diff", "-"], 0, None, edit_app, stdin="crlf-diff", sees="def mul",
                                    out=r"No findings in 1 file"),
    "streams/diff-file-crlf": Case(APP_DIFF, 0, None, crlf_diff, sees="def mul", out=r"No findings in 1 file"),
    "streams/stdout-closed-text": Case(["review", "app.py"], 141, None, stdout_closed=True),
    "streams/stdout-closed-json": Case(["review", "app.py", "--format", "json"], 141, None, stdout_closed=True),
    # argparse itself ignores a failed write of --help and --version: a quiet 0.
    "streams/stdout-closed-help": Case(["review", "--help"], 0, None, stdout_closed=True),
    "streams/stdout-closed-version": Case(["--version"], 0, None, stdout_closed=True),
    "streams/stdout-closed-cache-info": Case(["cache", "info"], 141, None, stdout_closed=True),
    "streams/stdout-closed-hook-findings": Case(["hook", "--", "hostile.py"], 141, None, stdout_closed=True,
                                                setup=chain(write("hostile.py", HOSTILE_SOURCE), run_git("add", "-A"))),
    "streams/hook-latin1-staged": Case(["hook", "--", "old.py", "app.py"], 0,
                                       r"skipped old\.py: not valid UTF-8 text; convert it to UTF-8 or exclude it",
                                       chain(edit_app, write("old.py", LATIN1), run_git("add", "-A")), sees="def mul"),
    "streams/review-fifo": Case(["review", "pipe.py"], 0, r"skipped pipe\.py: not a regular file \(a FIFO\)", fifo("pipe.py")),
    "streams/review-socket": Case(["review", "sock.py"], 0, r"skipped sock\.py: not a regular file \(a socket\)", unix_socket("sock.py")),
    "streams/review-dev-zero": Case(["review", "/dev/zero"], 0, r"skipped /dev/zero: not a regular file \(a character device\)"),
    "streams/review-dev-null": Case(["review", "/dev/null"], 0, r"skipped /dev/null: not a regular file \(a character device\)"),
    "streams/folder-with-fifo": Case(["review", "src"], 0, None, chain(fifo("pipe.py"), write("src/ok.py", "x = 1\n"),
                                     lambda r: os.mkfifo(r / "src" / "pipe.py")), sees="x = 1"),
    "streams/diff-is-fifo-without-writer": Case(["review", "--diff", "d.patch"], 0, r"nothing to review: the diff is empty",
                                                fifo("d.patch"), out=r"Nothing reviewed"),
    "streams/diff-is-socket": Case(["review", "--diff", "s.patch"], 2, r"cannot read the diff s\.patch: not a regular file \(a socket\)",
                                   unix_socket("s.patch")),
    "streams/diff-is-dev-zero": Case(["review", "--diff", "/dev/zero"], 2, r"not a regular file \(a character device\)"),
    "streams/diff-is-folder": Case(["review", "--diff", "."], 2, r"cannot read the diff \.: not a regular file \(a directory\)"),
    "streams/diff-in-worktree-is-fifo": Case(APP_DIFF, 0, r"skipped pipe\.py: not a regular file \(a FIFO\)",
                                             chain(fifo("pipe.py"), plain_diff("pipe.py"))),
    "streams/latin1-source": Case(["review", "old.py"], 0, r"skipped old\.py: not valid UTF-8 text; convert it to UTF-8 or exclude it",
                                  write("old.py", LATIN1)),
    "streams/latin1-source-in-diff": Case(APP_DIFF, 0, r"skipped old\.py: not valid UTF-8 text; convert it to UTF-8 or exclude it",
                                          chain(write("old.py", LATIN1), plain_diff("old.py"))),
    "streams/non-utf8-file-name": Case(["review", "src"], 0, None, write("src/caf\udce9.py", "z = 3\n"),
                                       sees="z = 3", out=r"No findings in 1 file"),
    "streams/non-utf8-file-name-hostile": Case(["review", "src"], 1, None, write("src/\udcff.py", HOSTILE_SOURCE),
                                               out=r"src/\\udcff\.py:2:"),
    # The verification pass sends the model's own text back: a lone surrogate in it must encode too.
    "streams/non-utf8-file-name-hostile-verify": Case(["review", "src", "--verify"], 1, None, write("src/\udcff.py", HOSTILE_SOURCE),
                                                      out=r"src/\\udcff\.py:2:"),
    "streams/non-utf8-file-name-staged": Case(["review", "--staged"], 0, None,
                                              chain(write("caf\udce9.py", "z = 3\n"), run_git("add", "-A")),
                                              sees="z = 3", out=r"No findings in 1 file"),
    "streams/non-utf8-file-name-diff": Case(["review", "--diff", "-"], 1, None,
                                            chain(write("\udcff.py", HOSTILE_SOURCE), run_git("add", "-N", "-A")),
                                            stdin="diff", out=r"\\udcff\.py:2:"),
    "streams/non-utf8-file-name-hook": Case(["hook", "--", "caf\udce9.py"], 0, None,
                                            chain(write("caf\udce9.py", "z = 3\n"), run_git("add", "-A")), sees="z = 3"),
    # One rule for inputs that cannot be reviewed: a skip, named; --strict fails a run that reviewed nothing.
    "streams/binary-source": Case(["review", "blob.py"], 0, r"skipped blob\.py: binary file",
                                  write("blob.py", b"\0\1\2"), out=r"Nothing reviewed: 1 file skipped"),
    "streams/binary-source-strict": Case(["review", "--strict", "blob.py"], 2, r"error: nothing reviewed: .*binary file",
                                         write("blob.py", b"\0\1\2")),
    # Symlinks: skipped, the target neither sent nor reviewed.
    "symlinks/diff-link-outside": Case(APP_DIFF, 0, r"skipped leak\.py: symlink",
                                       chain(link("leak.py", "../outside/secret.py"), plain_diff("leak.py"))),
    "symlinks/diff-link-inside": Case(APP_DIFF, 0, r"skipped alias\.py: symlink",
                                      chain(link("alias.py", "app.py"), plain_diff("alias.py")), never_sees="return a + b"),
    "symlinks/diff-through-linked-folder": Case(APP_DIFF, 0, r"skipped lib/secret\.py: symlink",
                                                chain(link("lib", "../outside"), plain_diff("lib/secret.py"))),
    "symlinks/diff-absolute-path": Case(APP_DIFF, 0, r"skipped \S*outside/secret\.py: outside the repository",
                                        lambda repo: plain_diff(str(repo.parent / "outside" / "secret.py"))(repo)),
    "symlinks/diff-dotdot-path": Case(APP_DIFF, 0, r"skipped \.\./outside/secret\.py: outside the repository",
                                      plain_diff("../outside/secret.py")),
    "symlinks/diff-git-mode": Case(["review", "--diff", "-"], 0, r"skipped leak\.py: symlink",
                                   chain(link("leak.py", "../outside/secret.py"), run_git("add", "-N", "leak.py")),
                                   stdin="diff", never_sees="outside/secret"),
    "symlinks/staged": Case(["review", "--staged"], 0, r"skipped leak\.py: symlink",
                            chain(link("leak.py", "../outside/secret.py"), run_git("add", "leak.py")),
                            never_sees="outside/secret"),
    "symlinks/base-worktree": Case(["review", "--base", "HEAD"], 0, r"skipped leak\.py: symlink",
                                   chain(link("leak.py", "../outside/secret.py"), run_git("add", "leak.py")),
                                   never_sees="outside/secret"),
    "symlinks/base-head-commits": Case(["review", "--base", "HEAD~1", "--head", "HEAD"], 0, r"skipped leak\.py: symlink",
                                       chain(link("leak.py", "../outside/secret.py"), commit_all),
                                       never_sees="outside/secret"),
    "symlinks/hook": Case(["hook", "--", "leak.py", "app.py"], 0, r"skipped leak\.py: symlink",
                          chain(edit_app, link("leak.py", "../outside/secret.py"), run_git("add", "-A")),
                          sees="def mul", never_sees="outside/secret"),
    # Git states.
    "git/staged-during-conflict": Case(["review", "--staged"], 2, r"unmerged path app\.py: resolve the conflict first", conflict),
    "git/base-during-conflict": Case(["review", "--base", "HEAD~1"], 2, r"unmerged path app\.py: resolve the conflict first", conflict),
    "git/shallow-no-merge-base": Case(["review", "--base", "feature"], 2,
                                      r"no merge base .*shallow clone; fetch more history: git fetch --deepen=", shallow_clone),
    "git/shallow-no-merge-base-head": Case(["review", "--base", "feature", "--head", "HEAD"], 2,
                                           r"shallow clone; fetch more history: git fetch --deepen=", shallow_clone),
    "git/unrelated-history": Case(["review", "--base", "lonely"], 2, r"'lonely' and HEAD have no common history", unrelated_branch),
    "git/unknown-revision": Case(["review", "--base", "nope"], 2, r"'nope' is not a known git revision"),
    "git/empty-repo-base": Case(["review", "--base", "main"], 2, r"no commits yet.*use --staged", empty_repo),
    "git/empty-repo-staged-nothing": Case(["review", "--staged"], 0, r"nothing to review: nothing is staged", empty_repo,
                                          out=r"Nothing reviewed"),
    "git/empty-repo-staged-file": Case(["review", "--staged"], 0, None, chain(empty_repo, run_git("add", "app.py")),
                                       sees="return a + b", out=r"No findings in 1 file"),
    "git/empty-repo-hook": Case(["hook", "--", "app.py"], 0, None, chain(empty_repo, run_git("add", "app.py")), sees="return a + b"),
    "git/detached-head-base": Case(["review", "--base", "main"], 0, None, chain(run_git("checkout", "-q", "--detach", "HEAD~1"), edit_app),
                                   sees="def mul"),
    "git/detached-head-staged": Case(["review", "--staged"], 0, None,
                                     chain(run_git("checkout", "-q", "--detach"), edit_app, run_git("add", "app.py")), sees="def mul"),
    "git/hook-detached-head": Case(["hook", "--", "app.py"], 0, None,
                                   chain(run_git("checkout", "-q", "--detach"), edit_app, run_git("add", "app.py")), sees="def mul"),
    "git/not-a-repository": Case(["review", "--staged"], 2, r"is not inside a git repository",
                                 lambda repo: repo.parent / "outside"),
    # Model text is untrusted; outputs survive lone surrogates.
    "model-text/text": Case(["review", "hostile.py"], 1, None, write("hostile.py", HOSTILE_SOURCE), out=r"Division by zero red"),
    "model-text/github": Case(["review", "hostile.py", "--format", "github"], 1, None, write("hostile.py", HOSTILE_SOURCE),
                              out=r"::error file=hostile\.py,line=2.*Division by zero red"),
    "model-text/show-fixes": Case(["review", "hostile.py", "--show-fixes"], 1, None, write("hostile.py", HOSTILE_SOURCE),
                                  out=r"Division by zero"),
    "model-text/json": Case(["review", "hostile.py", "--format", "json"], 1, None, write("hostile.py", HOSTILE_SOURCE), out=r'"title"'),
    "model-text/sarif": Case(["review", "hostile.py", "--format", "sarif"], 1, None, write("hostile.py", HOSTILE_SOURCE), out=r'"ruleId"'),
    "model-text/output-file": Case(["review", "hostile.py", "--format", "json", "-o", "../report.json"], 1, None,
                                   write("hostile.py", HOSTILE_SOURCE)),
    "model-text/hook": Case(["hook", "--", "hostile.py"], 1, None, chain(write("hostile.py", HOSTILE_SOURCE), run_git("add", "-A")),
                            out=r"Division by zero red"),
    # The unexpected: one line, a log, exit 4; the hook lets the commit through unless --strict.
    "internal/review": Case(["review", "app.py"], 4, r"^gemma-review: internal error: RuntimeError: simulated bug; details in \S+gemma-review\.log$",
                            crash=True, writes_log=True),
    "internal/hook": Case(["hook", "--", "app.py"], 0,
                          r"^gemma-review: warning: internal error: RuntimeError: simulated bug; details in \S+; letting the commit through",
                          chain(edit_app, run_git("add", "-A")), crash=True, writes_log=True),
    "internal/hook-strict": Case(["hook", "--", "--strict", "app.py"], 4,
                                 r"^gemma-review: error: internal error: RuntimeError: simulated bug; details in \S+; blocking the commit \(--strict\)",
                                 chain(edit_app, run_git("add", "-A")), crash=True, writes_log=True),
}

@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, template: Path, server: FakeOllama, tmp_path: Path) -> None:
    case = CASES[name]
    base = tmp_path / "w"
    shutil.copytree(template, base, symlinks=True)
    cwd = base / "repo"
    if case.setup is not None:
        cwd = case.setup(cwd) or cwd
    if case.stdin in ("diff", "crlf-diff"):  # before the snapshot: `git diff` may refresh the index
        diff = git(cwd, "diff")
        case = Case(**{**case.__dict__, "stdin": (diff.replace("\n", "\r\n") if case.stdin == "crlf-diff" else diff).encode()})
    seen_before = len(server.requests)
    before = snapshot(base)

    proc = run_case(case, cwd, server, tmp_path)

    out = proc.stdout.decode("utf-8", "surrogateescape")
    err = proc.stderr.decode("utf-8", "surrogateescape")
    assert proc.returncode == case.code, f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if case.err is None:
        assert err == "", err
    else:
        lines = err.splitlines()
        assert len(lines) == 1, f"stderr is not one line:\n{err}"
        assert re.search(case.err, lines[0]), lines[0]
        assert lines[0].startswith("gemma-review"), lines[0]
    if case.out is not None:
        assert re.search(case.out, out), out
    # Whatever the model wrote, no terminal control reaches an output (JSON escapes them as \u escapes).
    assert not TERMINAL_CONTROLS.search(out), repr(out)
    assert not TERMINAL_CONTROLS.search(err), repr(err)
    if ("json" in case.argv or "sarif" in case.argv) and not case.stdout_closed:
        report = (base / "report.json").read_text() if "-o" in case.argv else out
        doc = json.loads(report)  # valid JSON despite the lone surrogate
        assert "\ud800" in json.dumps(doc, ensure_ascii=False), "the model's text is kept, escaped"
    asked = json.dumps(server.requests[seen_before:])
    if case.sees is not None:
        assert case.sees in asked
    if case.never_sees is not None:
        assert case.never_sees not in asked
    if case.writes_log:
        log = Path(re.search(r"details in (\S+?gemma-review\.log)", err).group(1))
        text = log.read_text()
        assert "Traceback (most recent call last)" in text and "RuntimeError: simulated bug" in text
        assert "gemma-review " in text and "python " in text  # version info for a bug report
        log.unlink()  # the log lives in the case's cache dir, outside the snapshot
    after = snapshot(base)
    if "-o" in case.argv:
        after.pop(b"report.json")
    assert after == before, "a file, the index or a ref changed"


def test_catalogue_size() -> None:
    """The issue asks for at least 60 cases, several per class."""
    per_class: dict[str, int] = {}
    for name in CASES:
        per_class[name.split("/")[0]] = per_class.get(name.split("/")[0], 0) + 1
    assert len(CASES) >= 60
    assert all(n >= 3 for n in per_class.values()), per_class


# --- Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["review", "slow.py"], ["hook", "--", "slow.py"]], ids=["review", "hook"])
def test_ctrl_c_exits_130_without_traceback(argv: list[str], template: Path, server: FakeOllama, tmp_path: Path) -> None:
    base = tmp_path / "w"
    shutil.copytree(template, base, symlinks=True)
    repo = base / "repo"
    (repo / "slow.py").write_text(f"x = 1  # {HANG_MARKER}\n")
    git(repo, "add", "slow.py")
    before = snapshot(base)
    env = {**os.environ, "GEMMA_REVIEW_BACKEND": "ollama", "GEMMA_REVIEW_HOST": server.url,
           "GEMMA_REVIEW_CACHE_DIR": str(tmp_path / "cache")}
    seen = len(server.requests)
    proc = subprocess.Popen([sys.executable, "-m", "gemma_review", *argv], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.wait(lambda s: any(HANG_MARKER in json.dumps(r) for r in s.requests[seen:]), timeout=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.decode().splitlines() == ["gemma-review: interrupted"]
    assert snapshot(base) == before
