"""What the hook reviews: the index (pre-commit) or the commits being pushed (pre-push).

Everything is read from git objects through the engine's one git adapter
(:mod:`gemma_review.git_repo`, the same reads as ``review --staged``), never the working
tree, so a partially staged file is reviewed as it will be committed and unstaged edits
stay untouched; git itself honours ``GIT_INDEX_FILE``, which it points at a temporary index
during ``git commit -a`` and ``git commit <paths>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from gemma_review import git_repo
from gemma_review.errors import InputError
from gemma_review.git_repo import ZERO_SHA_CHARS, GitRepo
from gemma_review.intake import FileChange, commit_changes, range_changes, staged_changes

def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """``git <args>`` in ``cwd`` through the engine's one git runner; InputError on failure."""
    return git_repo.run_git(cwd, *args, stdin=stdin)


def repo_root(start: Path) -> Path:
    root = git_repo.find_root(start)
    if root is None:
        raise InputError(f"{start} is not inside a git work tree; the hook reviews what git is about to commit")
    return root


def rev_exists(root: Path, rev: str) -> bool:
    return GitRepo(root).rev_exists(rev)


def staged(root: Path, wanted: set[str] | None) -> list[FileChange]:
    """What ``git commit`` would record: the same changes as ``review --staged``."""
    return staged_changes(GitRepo(root), wanted)


def commit_range(root: Path, base: str, head: str, wanted: set[str] | None) -> list[FileChange]:
    """``base...head``: what ``head`` adds since it forked from ``base``, head's blobs."""
    return range_changes(GitRepo(root), base, head, wanted)


def whole_commit(root: Path, head: str, wanted: set[str] | None) -> list[FileChange]:
    """Every file of ``head`` as new (pushing a history from its root commit)."""
    return commit_changes(GitRepo(root), head, wanted)


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
