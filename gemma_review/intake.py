"""Intake: what changed. Diffs (unidiff), git (through :mod:`.git_repo`), files and editor buffers.

Every source becomes a list of :class:`FileChange`: the new text of a file and the
lines that changed in it. Deletions, binary files, mode-only changes, renames without
edits and submodules are kept with a ``skip_reason`` instead of crashing.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .errors import InputError
from .textfile import NotText, decode, file_kind, split_lines

if TYPE_CHECKING:
    from .git_repo import GitRepo

LineRanges = list[tuple[int, int]]
# Lines the change deleted, keyed by the new-side line they stood just above
# (the file's line count + 1 for a deletion at the end).
RemovedLines = dict[int, list[str]]


@dataclass
class FileChange:
    path: str  # as shown to the user (repo-relative for git and diffs)
    text: str | None = None  # the new content; None when skipped
    changed: LineRanges | None = None  # 1-based inclusive ranges; None = whole file
    skip_reason: str | None = None
    abspath: Path | None = None  # where --fix writes; None for index/commit blobs
    status: str = "modified"  # added | modified | renamed
    removed: RemovedLines = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    def changed_lines(self) -> set[int] | None:
        if self.changed is None:
            return None
        return {n for a, b in self.changed for n in range(a, b + 1)}


@dataclass
class DiffFile:
    """What a diff says about one file, before its new text is looked up."""

    path: str
    changed: LineRanges = field(default_factory=list)
    skip_reason: str | None = None
    status: str = "modified"
    removed: RemovedLines = field(default_factory=dict)


def to_ranges(lines: Iterable[int]) -> LineRanges:
    ranges: LineRanges = []
    for n in sorted(set(lines)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    return ranges


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_HEADER_NEW = re.compile(r"^new file mode ", re.MULTILINE)
_HEADER_DELETED = re.compile(r"^deleted file mode ", re.MULTILINE)
# A gitlink (submodule) mode on a header line; a bare "160000" could be part of a file name.
# The new side is a symbolic link: its "content" is the target path, not code.
_SYMLINK_MODE = re.compile(r"^(?:new file mode|new mode|index \S+) 120000$", re.MULTILINE)
# A diff saved with CRLF line endings: its file headers end in CR too.
_CRLF_HEADER = re.compile(r"^(?:\+\+\+|---|diff --git) [^\n]*\r$", re.MULTILINE)
SYMLINK = "symlink"
_SUBMODULE_MODE = re.compile(r"^(?:(?:new|deleted) file mode|old mode|new mode|index \S+) 160000$", re.MULTILINE)


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual names: ``"caf\\303\\251.py"`` -> ``café.py``."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    body, out, i = path[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if len(body) >= i + 4 and all(c in "01234567" for c in body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
        out.extend(ch.encode("utf-8", "surrogateescape"))
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _strip_prefix(path: str | None) -> str:
    if path is None:
        return ""
    path = _unquote(path)
    for prefix in ("a/", "b/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def parse_diff(diff_text: str) -> list[DiffFile]:
    """Changed line ranges per file of a unified diff (git or plain)."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    if not diff_text.strip():
        return []
    if _CRLF_HEADER.search(diff_text):
        # Saved by a Windows editor: without this every path gets a trailing "\r".
        diff_text = diff_text.replace("\r\n", "\n")
    hint = "pass a unified diff such as `git diff` prints"
    try:
        patch = PatchSet(io.StringIO(diff_text))
    except UnidiffParseError as exc:
        detail = " ".join(str(exc).split())  # unidiff quotes the offending line, newline included
        raise InputError(f"the diff cannot be parsed ({detail}); {hint}") from None
    if not len(patch):
        raise InputError(f"the input is not a diff (no file headers found); {hint}")
    files: list[DiffFile] = []
    for pf in patch:
        target = _strip_prefix(pf.target_file)
        source = _strip_prefix(pf.source_file)
        path = target if target and target != "/dev/null" else source
        header = "\n".join(getattr(pf, "patch_info", None) or [])
        entry = DiffFile(path=path)
        # Not unidiff's is_added_file/is_removed_file: they guess from a hunk at line 0,
        # which with -U0 is also an insertion or deletion at the top of a kept file.
        added = source == "/dev/null" or _HEADER_NEW.search(header) is not None
        removed = target == "/dev/null" or _HEADER_DELETED.search(header) is not None
        if added:
            entry.status = "added"
        elif pf.is_rename:
            entry.status = "renamed"
        if _SUBMODULE_MODE.search(header) or any(
            line.value.startswith("Subproject commit") for hunk in pf for line in hunk
        ):
            entry.skip_reason = "submodule"
        elif _SYMLINK_MODE.search(header) and not removed:
            entry.skip_reason = SYMLINK
        elif pf.is_binary_file:
            entry.skip_reason = "binary file"
        elif removed:
            entry.skip_reason = "deleted"
        else:
            changed: set[int] = set()
            for hunk in pf:
                pending_removal = False
                gone: list[str] = []  # removed lines not yet placed above a new-side line
                last_target: int | None = None
                for line in hunk:
                    if line.is_removed:
                        pending_removal = True
                        gone.append(line.value.rstrip("\r\n"))
                        continue
                    if line.is_added:
                        changed.add(line.target_line_no)
                    if line.target_line_no is not None:
                        if pending_removal and not line.is_added:
                            # A deletion changes the code around it: review where it was.
                            changed.add(line.target_line_no)
                        if gone:
                            entry.removed.setdefault(line.target_line_no, []).extend(gone)
                            gone = []
                        last_target = line.target_line_no
                    pending_removal = False
                if gone:
                    # With -U0 a deletion-only hunk's target_start is the line before the deletion.
                    at = last_target + 1 if last_target is not None else hunk.target_start + 1
                    entry.removed.setdefault(at, []).extend(gone)
                if pending_removal:
                    # With -U0 a deletion-only hunk's target_start is the line *before* the
                    # deletion point; the line now at that point is the next one (clamped to
                    # the file's end in _resolve), the same line a diff with context marks.
                    changed.add(last_target or hunk.target_start + hunk.target_length + 1)
            entry.changed = to_ranges(changed)
            if not entry.changed:
                if pf.is_rename:
                    entry.skip_reason = "renamed without changes"
                elif "old mode" in header or "new mode" in header:
                    entry.skip_reason = "mode change only"
                else:
                    entry.skip_reason = "no changed lines"
        files.append(entry)
    return files


class Skip(str):
    """Returned by a reader instead of bytes: the file is skipped for this reason."""


def read_worktree(root: Path, path: str) -> bytes | Skip | None:
    """A working-tree file's bytes; never a symlink's target, nothing outside ``root``, no FIFO."""
    top = os.path.abspath(root)
    full = Path(os.path.normpath(os.path.join(top, path)))
    if os.path.commonpath([top, full]) != top:
        return Skip("outside the repository")  # a diff naming /etc/passwd or ../../x
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return Skip(SYMLINK)
    if not stat.S_ISREG(st.st_mode):
        return Skip(f"not a regular file ({file_kind(st.st_mode)})")
    # A folder on the way may be a link that leads out of the repository.
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(full)]) != real_root:
        return Skip(SYMLINK)
    try:
        from .textfile import read_regular

        return read_regular(full)
    except OSError as exc:
        return Skip(f"cannot read: {exc.strerror or exc}")


def _resolve(
    diff_files: list[DiffFile], read: Callable[[str], bytes | Skip | None], root: Path | None
) -> list[FileChange]:
    out: list[FileChange] = []
    for df in diff_files:
        abspath = (root / df.path) if root is not None else None
        if df.skip_reason:
            out.append(FileChange(df.path, skip_reason=df.skip_reason, status=df.status))
            continue
        data = read(df.path)
        if isinstance(data, Skip):
            out.append(FileChange(df.path, skip_reason=str(data), status=df.status))
            continue
        if data is None:
            out.append(FileChange(df.path, skip_reason="not found (apply the diff first, or run from the repository root)"))
            continue
        try:
            text = decode(data)
        except NotText as exc:
            out.append(FileChange(df.path, skip_reason=str(exc)))
            continue
        n_lines = len(split_lines(text))
        changed = to_ranges(min(n, max(n_lines, 1)) for a, b in df.changed for n in range(a, b + 1))
        removed = clamp_removed(df.removed, n_lines)
        out.append(FileChange(df.path, text, changed, abspath=abspath, status=df.status, removed=removed))
    return out


def clamp_removed(removed: RemovedLines, n_lines: int) -> RemovedLines:
    """Removed lines keyed within 1..n_lines+1 (a diff may not match the text exactly)."""
    out: RemovedLines = {}
    for at, lines in sorted(removed.items()):
        out.setdefault(min(max(at, 1), n_lines + 1), []).extend(lines)
    return out


def from_diff(diff_text: str, root: Path) -> list[FileChange]:
    """Changes of a diff whose new side is the working tree under ``root``."""

    return _resolve(parse_diff(diff_text), lambda path: read_worktree(root, path), root)


def from_files(paths: Iterable[Path], display_root: Path | None = None) -> list[FileChange]:
    out: list[FileChange] = []
    for p in paths:
        shown = str(p)
        if display_root is not None:
            try:
                shown = str(p.resolve().relative_to(display_root.resolve()))
            except ValueError:
                pass
        text = _file_text(p)
        if isinstance(text, Skip):  # one rule: a named file that cannot be reviewed is a skip, not a stop
            out.append(FileChange(shown, skip_reason=str(text)))
        else:
            out.append(FileChange(shown, text, None, abspath=p))
    return out


def _file_text(path: Path) -> str | Skip:
    """A named file's text, or why it cannot be reviewed; a path that does not exist is an input error."""
    from .textfile import NotARegularFile, read_regular

    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except NotARegularFile as exc:
        return Skip(f"not a regular file ({exc})")
    except IsADirectoryError:
        return Skip("a directory")
    except OSError as exc:
        return Skip(f"cannot read: {exc.strerror or exc}")
    try:
        return decode(data)
    except NotText as exc:
        return Skip(str(exc))


# --- git: read through gemma_review.git_repo, shared with the hook ----------------------

def open_repo(start: Path) -> GitRepo:
    """The repository holding ``start``; InputError outside one."""
    from .git_repo import GitRepo

    return GitRepo.find(start)


def git_changes(
    repo: GitRepo, spec: tuple[str, ...], blob_prefix: str, wanted: set[str] | None = None
) -> list[FileChange]:
    """The changes ``git diff <spec>`` shows, the new side read from git objects.

    ``blob_prefix`` names the new side for paths the raw listing missed (``":"`` for the
    index, ``"<rev>:"`` for a commit). ``wanted`` keeps only those repo-relative paths.
    The texts are blobs, never the working tree: ``abspath`` is None.
    """
    from .git_repo import SUBMODULE_MODE, SYMLINK_MODE

    diff_files = [df for df in parse_diff(repo.diff_patch(*spec)) if wanted is None or df.path in wanted]
    if not diff_files:
        return []
    raw = repo.diff_raw(*spec)
    out: list[FileChange] = []
    to_read: dict[str, str] = {}
    for df in diff_files:
        entry = raw.get(df.path)
        if df.skip_reason:
            out.append(FileChange(df.path, skip_reason=df.skip_reason, status=df.status))
        elif entry is not None and entry.new_mode == SYMLINK_MODE:
            out.append(FileChange(df.path, skip_reason=SYMLINK, status=df.status))
        elif entry is not None and entry.new_mode == SUBMODULE_MODE:
            out.append(FileChange(df.path, skip_reason="submodule", status=df.status))
        elif entry is not None and entry.intent_to_add:
            out.append(FileChange(df.path, skip_reason="not staged (intent to add)", status=df.status))
        else:
            to_read[df.path] = entry.new_sha if entry is not None else f"{blob_prefix}{df.path}"
            out.append(FileChange(df.path, changed=df.changed, status=df.status, removed=df.removed))
    blobs = repo.read_blobs(list(to_read.values()))
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
            continue
        n_lines = len(split_lines(change.text))
        change.changed = to_ranges(min(n, max(n_lines, 1)) for a, b in change.changed or [] for n in range(a, b + 1))
        change.removed = clamp_removed(change.removed, n_lines)
    return out


def staged_changes(repo: GitRepo, wanted: set[str] | None = None) -> list[FileChange]:
    """What ``git commit`` would record: the index against HEAD (the empty tree before the
    first commit). Git reads the index, so ``GIT_INDEX_FILE`` is honoured: during
    ``git commit -a`` or ``git commit <paths>`` hooks see a temporary index."""
    return git_changes(repo, ("--cached", repo.head_or_empty_tree()), ":", wanted)


def range_changes(repo: GitRepo, base: str, head: str, wanted: set[str] | None = None) -> list[FileChange]:
    """``base...head``: what ``head`` adds since it forked from ``base``, head's blobs."""
    repo.merge_base(base, head)  # a clear error when there is none (shallow clone, unrelated)
    return git_changes(repo, (f"{base}...{head}",), f"{head}:", wanted)


def commit_changes(repo: GitRepo, head: str, wanted: set[str] | None = None) -> list[FileChange]:
    """Every file of ``head`` as new (a history pushed from its root commit)."""
    return git_changes(repo, (repo.empty_tree(), head), f"{head}:", wanted)


def from_staged(start: Path) -> list[FileChange]:
    """What ``git commit`` would record: index blobs, never the working tree.

    The same changes the hook reviews; ``abspath`` is set so ``--fix`` can write the file.
    """
    repo = open_repo(start)
    repo.check_merged()
    changes = staged_changes(repo)
    for change in changes:
        if change.text is not None:
            change.abspath = repo.root / change.path
    return changes


def from_range(start: Path, base: str, head: str | None = None) -> list[FileChange]:
    """``base...head`` (head's blobs) or, without head, ``merge-base(base, HEAD)`` against the working tree."""
    from .git_repo import GitError

    repo = open_repo(start)
    root = repo.root
    if not repo.has_head():
        raise InputError("the repository has no commits yet, so there is no base to compare with; use --staged or review files")
    for rev in (base, head):
        # Check each revision first so the message names the bad one (git's own is cryptic).
        if rev is not None:
            repo.resolve(rev)
    try:
        if head is None:
            repo.check_merged()
            merge_base = repo.merge_base(base, "HEAD")
            with repo.private_index() as env:
                diff = repo.diff_patch(merge_base, env=env)
            return _resolve(parse_diff(diff), lambda path: read_worktree(root, path), root)
        return range_changes(repo, base, head)
    except GitError as exc:
        raise InputError(f"cannot compare with '{base}': {exc.detail or f'git exited with status {exc.status}'}") from None


def head_text(repo_root: Path, path: Path) -> str | None:
    """The file's text at HEAD, or None when untracked/new (then everything is changed).

    ``repo_root`` is kept for callers; git finds the repository from the file's folder.
    """
    from .git_repo import head_blob

    data = head_blob(path)
    if data is None:
        return None
    try:
        return decode(data)
    except NotText:
        return None


def from_buffer(path: str, text: str, base_text: str | None, abspath: Path | None = None) -> FileChange:
    """An editor buffer against a base text (HEAD): only differing lines are changed."""
    if base_text is None:
        return FileChange(path, text, None, abspath=abspath, status="added")
    from .linediff import matched_lines

    old, new = split_lines(base_text), split_lines(text)
    changed: set[int] = set()
    removed: RemovedLines = {}
    pi = pj = 0
    # Near-linear (patience diff): difflib alone is quadratic on a big buffer.
    for i, j in [*matched_lines(old, new), (len(old), len(new))]:
        if i > pi:  # lines the change deleted or replaced, shown where they were
            removed.setdefault(pj + 1, []).extend(old[pi:i])
        if j > pj:  # replaced or inserted lines
            changed.update(range(pj + 1, j + 1))
        elif i > pi and new:  # a deletion: review where it was
            changed.add(min(pj + 1, len(new)))
        pi, pj = i + 1, j + 1
    return FileChange(path, text, to_ranges(changed), abspath=abspath, removed=clamp_removed(removed, len(new)))
