"""What the hook reviews: the index (pre-commit) or the commits being pushed (pre-push).

Everything is read through the ``git`` program, never the working tree, so a partially
staged file is reviewed as it will be committed and unstaged edits stay untouched. Using
``git`` itself (not GitPython's index reader) also honours ``GIT_INDEX_FILE``, which git
points at a temporary index during ``git commit -a`` and ``git commit <paths>``; and it
keeps the hook's start-up light.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from gemma_review.errors import InputError
from gemma_review.intake import FileChange, parse_diff

ZERO_SHA_CHARS = "0"
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
# Plain, parseable output whatever the user's git config says.
DIFF_FLAGS = (
    "-M", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=none",
    "--src-prefix=a/", "--dst-prefix=b/",
)


def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    cmd = ["git", "--no-optional-locks", "-c", "core.quotePath=false", *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed or not on PATH") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"git {args[0]} failed: {err[-1] if err else f'exit {proc.returncode}'}")
    return proc.stdout


def repo_root(start: Path) -> Path:
    try:
        out = run_git(start, "rev-parse", "--show-toplevel")
    except InputError:
        raise InputError(f"{start} is not inside a git work tree; the hook reviews what git is about to commit") from None
    return Path(out.decode("utf-8", "surrogateescape").strip())


def rev_exists(root: Path, rev: str) -> bool:
    try:
        run_git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        return True
    except InputError:
        return False


def empty_tree(root: Path) -> str:
    # Computed, not hard-coded: SHA-256 repositories have a different empty tree.
    return run_git(root, "hash-object", "-t", "tree", "/dev/null").decode().strip()


@dataclass
class RawEntry:
    new_mode: str
    new_sha: str


def _raw_entries(root: Path, spec: tuple[str, ...]) -> dict[str, RawEntry]:
    """New mode and blob per path, from ``git diff --raw -z`` (exact, unquoted paths)."""
    out = run_git(root, "diff", "--raw", "-z", "--no-abbrev", *DIFF_FLAGS, *spec)
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    entries: dict[str, RawEntry] = {}
    i = 0
    while i < len(fields) and fields[i].startswith(":"):
        meta = fields[i][1:].split(" ")
        status = meta[4] if len(meta) > 4 else "M"
        npaths = 2 if status[:1] in ("R", "C") else 1
        paths = fields[i + 1 : i + 1 + npaths]
        if len(meta) >= 4 and paths:
            entries[paths[-1]] = RawEntry(new_mode=meta[1], new_sha=meta[3])
        i += 1 + npaths
    return entries


def _read_blobs(root: Path, names: list[str]) -> dict[str, bytes | None]:
    """Contents of many objects with one ``git cat-file --batch``."""
    if not names:
        return {}
    out = run_git(root, "cat-file", "--batch", stdin="".join(f"{n}\n" for n in names).encode("utf-8", "surrogateescape"))
    blobs: dict[str, bytes | None] = {}
    pos = 0
    for name in names:
        eol = out.index(b"\n", pos)
        header = out[pos:eol].split(b" ")
        pos = eol + 1
        if len(header) != 3 or header[1] != b"blob":
            blobs[name] = None  # "<name> missing" or not a blob
            continue
        size = int(header[2])
        blobs[name] = out[pos : pos + size]
        pos += size + 1  # the content is followed by a newline
    return blobs


def changes_between(
    root: Path, spec: tuple[str, ...], blob_prefix: str, wanted: set[str] | None
) -> list[FileChange]:
    """The changes ``git diff <spec>`` shows, with the new side read from git objects.

    ``blob_prefix`` names the new side for paths the raw listing missed (``":"`` for the
    index, ``"<rev>:"`` for a commit). ``wanted`` keeps only those repo-relative paths.
    """
    from gemma_review.textfile import NotText, decode

    patch = run_git(root, "diff", "-p", "-U0", *DIFF_FLAGS, *spec).decode("utf-8", "surrogateescape")
    diff_files = [df for df in parse_diff(patch) if wanted is None or df.path in wanted]
    if not diff_files:
        return []
    raw = _raw_entries(root, spec)
    out: list[FileChange] = []
    to_read: dict[str, str] = {}
    for df in diff_files:
        entry = raw.get(df.path)
        if df.skip_reason:
            out.append(FileChange(df.path, skip_reason=df.skip_reason, status=df.status))
        elif entry is not None and entry.new_mode == SYMLINK_MODE:
            out.append(FileChange(df.path, skip_reason="symlink", status=df.status))
        elif entry is not None and entry.new_mode == SUBMODULE_MODE:
            out.append(FileChange(df.path, skip_reason="submodule", status=df.status))
        elif entry is not None and entry.new_sha.strip(ZERO_SHA_CHARS) == "":
            out.append(FileChange(df.path, skip_reason="not staged (intent to add)", status=df.status))
        else:
            to_read[df.path] = entry.new_sha if entry is not None else f"{blob_prefix}{df.path}"
            out.append(FileChange(df.path, changed=df.changed, status=df.status))
    blobs = _read_blobs(root, list(dict.fromkeys(to_read.values())))
    for change in out:
        if change.path not in to_read:
            continue
        data = blobs.get(to_read[change.path])
        if data is None:
            change.changed, change.skip_reason = None, "not found in git"
            continue
        try:
            change.text = decode(data)
        except NotText as exc:
            change.changed, change.skip_reason = None, str(exc)
    return out


def staged(root: Path, wanted: set[str] | None) -> list[FileChange]:
    """What ``git commit`` would record: the index against HEAD (or the empty tree)."""
    base = "HEAD" if rev_exists(root, "HEAD") else empty_tree(root)
    return changes_between(root, ("--cached", base), ":", wanted)


def commit_range(root: Path, base: str, head: str, wanted: set[str] | None) -> list[FileChange]:
    """``base...head``: what ``head`` adds since it forked from ``base``, head's blobs."""
    return changes_between(root, (f"{base}...{head}",), f"{head}:", wanted)


def whole_commit(root: Path, head: str, wanted: set[str] | None) -> list[FileChange]:
    """Every file of ``head`` as new (pushing a history from its root commit)."""
    return changes_between(root, (empty_tree(root), head), f"{head}:", wanted)


# --- pushes ----------------------------------------------------------------------------


@dataclass
class PushRange:
    """One ref git is about to push: review ``base...head``, or all of ``head`` when base is None."""

    ref: str
    head: str
    base: str | None


def push_ranges(root: Path, remote: str, stdin: str) -> list[PushRange]:
    """Git's pre-push stdin (``<local ref> <local sha> <remote ref> <remote sha>``) as ranges.

    Same rules as pre-commit: a branch the remote already has is compared with the
    remote's tip; a new branch with its first commit the remote does not have.
    """
    ranges: list[PushRange] = []
    for line in stdin.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        local_ref, local_sha, _remote_ref, remote_sha = parts
        if local_sha.strip(ZERO_SHA_CHARS) == "":
            continue  # deleting a remote branch: nothing to review
        if remote_sha.strip(ZERO_SHA_CHARS) and rev_exists(root, remote_sha):
            ranges.append(PushRange(local_ref, local_sha, remote_sha))
            continue
        new = run_git(root, "rev-list", local_sha, "--topo-order", "--reverse", "--not", f"--remotes={remote}")
        first = new.decode().split()
        if not first:
            continue  # every commit is already on the remote
        parent = run_git(root, "rev-list", "--parents", "-n", "1", first[0]).decode().split()[1:]
        ranges.append(PushRange(local_ref, local_sha, parent[0] if parent else None))
    return ranges


# --- choosing ---------------------------------------------------------------------------


@dataclass
class Target:
    """The changes to review and what git does with them if the hook passes."""

    action: str  # "commit" | "push"
    changes: list[FileChange] = field(default_factory=list)


def normalize_paths(files: Iterable[str], root: Path) -> set[str]:
    """Repo-relative POSIX paths, whatever the caller's working directory."""
    real_root = os.path.realpath(root)
    out: set[str] = set()
    for name in files:
        absolute = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(name))), os.path.basename(name))
        rel = os.path.relpath(absolute, real_root)
        out.add(Path(rel).as_posix())
    return out


def supported_only(changes: list[FileChange]) -> list[FileChange]:
    """The plain git hook has no pre-commit ``types`` filter: keep the reviewed languages."""
    from gemma_review.languages import EXTENSIONS

    return [c for c in changes if Path(c.path).suffix.lower() in EXTENSIONS]


def from_pre_commit(root: Path, files: list[str], env: Mapping[str, str]) -> Target:
    """Called by the pre-commit framework: review its file list at the stage it runs."""
    wanted = normalize_paths(files, root)
    from_ref, to_ref = env.get("PRE_COMMIT_FROM_REF"), env.get("PRE_COMMIT_TO_REF")
    if from_ref and to_ref:
        # pre-push (or `pre-commit run --from-ref A --to-ref B`): the commits being pushed.
        return Target("push", commit_range(root, from_ref, to_ref, wanted))
    if env.get("PRE_COMMIT_REMOTE_BRANCH") or env.get("PRE_COMMIT_LOCAL_BRANCH"):
        # pre-push of a history that starts at its root commit: pre-commit passes every file.
        local = env.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
        head = local if rev_exists(root, local) else "HEAD"
        return Target("push", whole_commit(root, head, wanted))
    return Target("commit", staged(root, wanted))


def from_git_hook(root: Path, stage: str, remote: str | None, stdin: str) -> Target:
    """Called by a plain git hook (``gemma-review install-hook``): no file list."""
    if stage == "pre-push":
        changes: list[FileChange] = []
        seen: set[str] = set()
        for r in push_ranges(root, remote or "origin", stdin):
            found = commit_range(root, r.base, r.head, None) if r.base else whole_commit(root, r.head, None)
            for change in supported_only(found):
                if change.path not in seen:  # one branch's version of a file is enough
                    seen.add(change.path)
                    changes.append(change)
        return Target("push", changes)
    return Target("commit", supported_only(staged(root, None)))
