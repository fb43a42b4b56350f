"""The one place that talks to git: the repository root, revisions, merge bases, what
changed between two trees (or the index), and the blobs themselves.

``review --staged/--base/--head``, the hook and the language server's HEAD text all read
git through :class:`GitRepo`, so they agree on paths, renames, modes and the empty tree.

Mechanism: the ``git`` program through one small runner (:meth:`GitRepo.run`), not
GitPython — ``import git`` alone costs 56-60 ms warm, 150 ms cold (``python -X
importtime``) on every hook run, and only ``git`` itself honours ``GIT_INDEX_FILE`` (the temporary index of
``git commit -a``) and the user's object stores exactly as ``git commit`` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from .errors import InputError

ZERO_SHA_CHARS = "0"
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
# Plain, parseable output whatever the user's git config says: renames on, no colour, no
# external diff or textconv driver, a/ b/ prefixes (diff.noprefix, diff.mnemonicPrefix).
DIFF_FLAGS = (
    "-M", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=none",
    "--src-prefix=a/", "--dst-prefix=b/",
)


class GitError(InputError):
    """A git command failed; ``str()`` is one line, ``detail`` git's own last line."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last[len("fatal: "):] if last.startswith("fatal: ") else last


def run_git(cwd: Path, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None,
            ok: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git <args>`` read-only (no optional locks, unquoted UTF-8 paths); its stdout.

    Raises :class:`GitError` (an InputError) when git exits with a status not in ``ok``.
    """
    cmd = ["git", "--no-optional-locks", "-c", "core.quotePath=false", *args]
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=False, env=full_env)
    except (FileNotFoundError, NotADirectoryError):
        if not os.path.isdir(cwd):
            raise GitError(f"{cwd} is not a folder", 128, "not a folder") from None
        raise InputError("git is not installed or not on PATH") from None
    if proc.returncode not in ok:
        detail = _last_line(proc.stderr)
        raise GitError(f"git {args[0]} failed: {detail or f'exit {proc.returncode}'}", proc.returncode, detail)
    return proc.stdout


def find_root(start: Path) -> Path | None:
    """The work tree holding ``start`` (a folder), or None outside one."""
    try:
        out = run_git(start, "rev-parse", "--show-toplevel")
    except InputError:  # not a repository, or no git program at all: either way, no root
        return None
    text = out.decode("utf-8", "surrogateescape").strip()
    return Path(text) if text else None  # empty inside .git itself


@dataclass
class RawEntry:
    """One line of ``git diff --raw``: what a path's new side is."""

    status: str  # A, M, D, R100, T, ...
    new_mode: str
    new_sha: str

    @property
    def intent_to_add(self) -> bool:
        """``git add -N``: in the index by name only, no content staged."""
        return self.new_sha.strip(ZERO_SHA_CHARS) == "" and not self.status.startswith("D")


class GitRepo:
    """A git work tree, read with the ``git`` program."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._empty_tree: str | None = None

    @classmethod
    def find(cls, start: Path, not_found: str | None = None) -> GitRepo:
        """The repository holding ``start``; InputError (``not_found`` or a default) outside one."""
        folder = start if start.is_dir() else start.parent
        root = find_root(folder)
        if root is None:
            raise InputError(not_found or f"{start} is not inside a git repository; review files or pass --diff")
        return cls(root)

    def run(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None,
            ok: tuple[int, ...] = (0,)) -> bytes:
        return run_git(self.root, *args, stdin=stdin, env=env, ok=ok)

    # --- revisions ------------------------------------------------------------------

    def rev_exists(self, rev: str) -> bool:
        """Whether ``rev`` names a commit."""
        if rev.startswith("-"):
            return False  # an option, not a revision
        try:
            self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
            return True
        except GitError:
            return False

    def has_head(self) -> bool:
        """False in a repository with no commit yet (an unborn HEAD)."""
        return self.rev_exists("HEAD")

    def resolve(self, rev: str) -> str:
        """The commit ``rev`` names; InputError naming it otherwise."""
        if rev.startswith("-"):  # never let a "revision" become an option of a git command
            raise InputError(f"'{rev}' is not a known git revision")
        try:
            out = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except GitError:
            raise InputError(f"'{rev}' is not a known git revision") from None
        return out.decode().strip()

    def empty_tree(self) -> str:
        """The empty tree's id: computed, not hard-coded (SHA-256 repositories differ)."""
        if self._empty_tree is None:
            self._empty_tree = self.run("hash-object", "-t", "tree", "/dev/null").decode().strip()
        return self._empty_tree

    def head_or_empty_tree(self) -> str:
        """What the index is compared with: HEAD, or the empty tree before the first commit."""
        return "HEAD" if self.has_head() else self.empty_tree()

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").decode().strip() == "true"

    def merge_base(self, base: str, head: str) -> str:
        """Their common ancestor; InputError when there is none (or a shallow clone hides it)."""
        out = self.run("merge-base", base, head, ok=(0, 1))
        if out.strip():
            return out.decode().strip()
        # Exit 1 and silence: no common ancestor in the history this clone has.
        if self.is_shallow():
            raise InputError(
                f"no merge base of '{base}' and {head} in this shallow clone; fetch more history: "
                f"git fetch --deepen=100 (or git fetch --unshallow)"
            )
        raise InputError(f"'{base}' and {head} have no common history; nothing to compare")

    def rev_list(self, *args: str) -> list[str]:
        return self.run("rev-list", *args).decode().split()

    # --- the index ------------------------------------------------------------------

    def git_path(self, name: str) -> Path:
        """``git rev-parse --git-path``, absolute (honours worktrees, GIT_INDEX_FILE, core.hooksPath)."""
        out = Path(self.run("rev-parse", "--git-path", name).decode("utf-8", "surrogateescape").strip())
        return out if out.is_absolute() else self.root / out

    def unmerged_paths(self) -> list[str]:
        out = self.run("ls-files", "-u", "-z").decode("utf-8", "surrogateescape")
        return list(dict.fromkeys(entry.split("\t", 1)[-1] for entry in out.split("\0") if entry))

    def check_merged(self) -> None:
        """Refuse during a conflict: the index holds three versions, the file conflict markers."""
        paths = self.unmerged_paths()
        if paths:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            raise InputError(
                f"unmerged path{'s' if len(paths) > 1 else ''} {shown}: resolve the conflict first (edit, then git add)"
            )

    @contextlib.contextmanager
    def private_index(self) -> Iterator[dict[str, str]]:
        """An environment pointing git at a throw-away copy of the index.

        ``git diff <rev>`` against the working tree refreshes the index's stat data and
        writes it back (``--no-optional-locks`` does not stop that); a review must leave
        the index alone.
        """
        index = self.git_path("index")
        with tempfile.TemporaryDirectory(prefix="gemma-review-") as tmp:
            copy = Path(tmp) / "index"
            if index.is_file():
                shutil.copyfile(index, copy)
            yield {"GIT_INDEX_FILE": str(copy)}

    # --- changes and blobs ----------------------------------------------------------

    def staged_paths(self) -> list[str]:
        """Paths whose staged content differs from HEAD (all of them before the first commit)."""
        out = self.run("diff", "--cached", "--name-only", "-z", "--no-renames", self.head_or_empty_tree())
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    def diff_patch(self, *spec: str, env: Mapping[str, str] | None = None) -> str:
        """``git diff -U0 <spec>`` as text (undecodable path bytes kept as surrogates)."""
        out = self.run("diff", "-p", "-U0", *DIFF_FLAGS, *spec, env=env)
        return out.decode("utf-8", "surrogateescape")

    def diff_raw(self, *spec: str, env: Mapping[str, str] | None = None) -> dict[str, RawEntry]:
        """New mode and blob per (new) path, from ``git diff --raw -z`` (exact, unquoted paths)."""
        out = self.run("diff", "--raw", "-z", "--no-abbrev", *DIFF_FLAGS, *spec, env=env)
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        entries: dict[str, RawEntry] = {}
        i = 0
        while i < len(fields) and fields[i].startswith(":"):
            meta = fields[i][1:].split(" ")
            status = meta[4] if len(meta) > 4 else "M"
            npaths = 2 if status[:1] in ("R", "C") else 1
            paths = fields[i + 1 : i + 1 + npaths]
            if len(meta) >= 4 and paths:
                entries[paths[-1]] = RawEntry(status=status, new_mode=meta[1], new_sha=meta[3])
            i += 1 + npaths
        return entries

    def read_blobs(self, names: list[str]) -> dict[str, bytes | None]:
        """Contents of many objects (``<sha>``, ``:<path>``, ``<rev>:<path>``) with one
        ``git cat-file --batch``; None for a missing name or one that is not a blob."""
        names = [n for n in dict.fromkeys(names) if "\n" not in n]
        if not names:
            return {}
        out = self.run("cat-file", "--batch", stdin="".join(f"{n}\n" for n in names).encode("utf-8", "surrogateescape"))
        blobs: dict[str, bytes | None] = {}
        pos = 0
        for name in names:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split(b" ")
            pos = eol + 1
            if len(header) != 3 or header[1] != b"blob":
                blobs[name] = None  # "<name> missing", "ambiguous" or not a blob
                continue
            size = int(header[2])
            blobs[name] = out[pos : pos + size]
            pos += size + 1  # the content is followed by a newline
        return blobs

    def read_blob(self, name: str) -> bytes | None:
        return self.read_blobs([name]).get(name)


def head_blob(path: Path) -> bytes | None:
    """A work-tree file's bytes at HEAD; None when untracked, outside a repository, or
    before the first commit. ``HEAD:./name`` is relative to the file's own folder, so
    no root lookup is needed (one ``git`` call)."""
    if "\n" in path.name or not path.parent.is_dir():
        return None
    try:
        out = run_git(path.parent, "cat-file", "--batch",
                      stdin=f"HEAD:./{path.name}\n".encode("utf-8", "surrogateescape"))
    except InputError:
        return None  # not in a repository (or no git): everything is new
    header, _, rest = out.partition(b"\n")
    parts = header.split(b" ")
    if len(parts) != 3 or parts[1] != b"blob":
        return None
    return rest[: int(parts[2])]
