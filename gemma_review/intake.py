"""Intake: what changed. Diffs (unidiff), git (GitPython), files and editor buffers.

Every source becomes a list of :class:`FileChange`: the new text of a file and the
lines that changed in it. Deletions, binary files, mode-only changes, renames without
edits and submodules are kept with a ``skip_reason`` instead of crashing.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import InputError
from .textfile import NotText, decode, file_kind, read_text, split_lines

LineRanges = list[tuple[int, int]]


@dataclass
class FileChange:
    path: str  # as shown to the user (repo-relative for git and diffs)
    text: str | None = None  # the new content; None when skipped
    changed: LineRanges | None = None  # 1-based inclusive ranges; None = whole file
    skip_reason: str | None = None
    abspath: Path | None = None  # where --fix writes; None for index/commit blobs
    status: str = "modified"  # added | modified | renamed

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
                last_target: int | None = None
                for line in hunk:
                    if line.is_added:
                        changed.add(line.target_line_no)
                    elif line.is_removed:
                        pending_removal = True
                        continue
                    if line.target_line_no is not None:
                        if pending_removal:
                            # A deletion changes the code around it: review where it was.
                            changed.add(line.target_line_no)
                        last_target = line.target_line_no
                    pending_removal = False
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
        out.append(FileChange(df.path, text, changed, abspath=abspath, status=df.status))
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
        out.append(FileChange(shown, read_text(p), None, abspath=p))
    return out


# --- git ---------------------------------------------------------------------------

def open_repo(start: Path):  # -> git.Repo
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
        # Read-only: take no optional locks, so the user's own git commands never find our
        # index.lock (working-tree diffs also get a private index: see _private_index).
        repo.git.update_environment(GIT_OPTIONAL_LOCKS="0")
        return repo
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(f"{start} is not inside a git repository; review files or pass --diff") from None
    except git.GitCommandNotFound:  # pragma: no cover - git missing
        raise InputError("git is not installed; review files or pass --diff") from None


def _git_diff(repo, *args: str, env: dict[str, str] | None = None) -> str:
    import git

    try:
        # -M: renames; --no-ext-diff/--no-color/prefixes: plain a/ b/ output whatever the
        # user's config says (diff.noprefix and diff.mnemonicPrefix change the path prefixes).
        return repo.git.diff(
            *args, "-M", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/", "-U0",
            strip_newline_in_stdout=False, env=env,
        )
    except git.GitCommandError as exc:
        raise InputError(f"git diff failed: {_git_error(exc)}") from None


def _git_error(exc) -> str:
    """The last line git printed, without GitPython's ``stderr: '...'`` wrapping."""
    err = str(exc.stderr or "").strip()
    if err.startswith("stderr:"):
        err = err[len("stderr:"):].strip().strip("'")
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    if not lines:
        return f"git exited with status {exc.status}"
    last = lines[-1]
    return last[len("fatal: "):] if last.startswith("fatal: ") else last


def _head_exists(repo) -> bool:
    try:
        repo.head.commit
        return True
    except ValueError:
        return False


@contextlib.contextmanager
def _private_index(repo) -> Iterator[dict[str, str]]:
    """An environment pointing git at a throw-away copy of the index.

    ``git diff <rev>`` against the working tree refreshes the index's stat data and writes
    it back (GIT_OPTIONAL_LOCKS does not stop that); a review must leave the index alone.
    """
    index = Path(repo.git.rev_parse("--git-path", "index"))
    if not index.is_absolute():
        index = Path(repo.working_tree_dir or ".") / index
    with tempfile.TemporaryDirectory(prefix="gemma-review-") as tmp:
        copy = Path(tmp) / "index"
        if index.is_file():
            shutil.copyfile(index, copy)
        yield {"GIT_INDEX_FILE": str(copy)}


def _check_merged(repo) -> None:
    """Refuse during a conflict: the index holds three versions, the file conflict markers."""
    out = repo.git.ls_files("-u", "-z", strip_newline_in_stdout=False)
    paths = list(dict.fromkeys(entry.split("\t", 1)[-1] for entry in out.split("\0") if entry))
    if paths:
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        raise InputError(f"unmerged path{'s' if len(paths) > 1 else ''} {shown}: resolve the conflict first (edit, then git add)")


def _merge_base(repo, base: str, head: str) -> str:
    import git

    try:
        return repo.git.merge_base(base, head)
    except git.GitCommandError as exc:
        if exc.status != 1 or (exc.stderr or "").strip():
            raise
    # Exit 1 and silence: no common ancestor in the history this clone has.
    if repo.git.rev_parse("--is-shallow-repository").strip() == "true":
        raise InputError(
            f"no merge base of '{base}' and {head} in this shallow clone; fetch more history: "
            f"git fetch --deepen=100 (or git fetch --unshallow)"
        ) from None
    raise InputError(f"'{base}' and {head} have no common history; nothing to compare") from None


def from_staged(start: Path) -> list[FileChange]:
    """What ``git commit`` would record: index blobs, never the working tree."""
    import git

    repo = open_repo(start)
    root = Path(repo.working_tree_dir or start)
    _check_merged(repo)
    if not _head_exists(repo):
        # No commit yet: compare the index with the empty tree.
        empty = repo.git.hash_object("-t", "tree", "/dev/null")
        diff = _git_diff(repo, "--cached", empty)
    else:
        diff = _git_diff(repo, "--cached")

    def read(path: str) -> bytes | None:
        # Ask git itself (not GitPython's index parser) so GIT_INDEX_FILE is honoured: during
        # `git commit -a` or `git commit <paths>` hooks see a temporary index.
        try:
            return repo.git.cat_file("blob", f":{path}", stdout_as_string=False, strip_newline_in_stdout=False)
        except git.GitCommandError:
            return None

    return _resolve(parse_diff(diff), read, root)


def _blob_reader(repo, rev: str) -> Callable[[str], bytes | None]:
    commit = repo.commit(rev)

    def read(path: str) -> bytes | None:
        try:
            return (commit.tree / path).data_stream.read()
        except KeyError:
            return None

    return read


def from_range(start: Path, base: str, head: str | None = None) -> list[FileChange]:
    """``base...head`` (head's blobs) or, without head, ``merge-base(base, HEAD)`` against the working tree."""
    import git

    repo = open_repo(start)
    root = Path(repo.working_tree_dir or start)
    if not _head_exists(repo):
        raise InputError("the repository has no commits yet, so there is no base to compare with; use --staged or review files")
    for rev in (base, head):
        # Check each revision first so the message names the bad one (git's own is cryptic).
        if rev is not None:
            try:
                repo.commit(rev)
            except (git.BadName, ValueError, git.GitCommandError):
                raise InputError(f"'{rev}' is not a known git revision") from None
    try:
        if head is None:
            _check_merged(repo)
            merge_base = _merge_base(repo, base, "HEAD")
            with _private_index(repo) as env:
                diff = _git_diff(repo, merge_base, env=env)
            return _resolve(parse_diff(diff), lambda path: read_worktree(root, path), root)
        _merge_base(repo, base, head)
        diff = _git_diff(repo, f"{base}...{head}")
        return _resolve(parse_diff(diff), _blob_reader(repo, head), None)
    except git.GitCommandError as exc:
        raise InputError(f"cannot compare with '{base}': {_git_error(exc)}") from None
    except (git.BadName, ValueError):
        raise InputError(f"'{head or base}' is not a known git revision") from None


def head_text(repo_root: Path, path: Path) -> str | None:
    """The file's text at HEAD, or None when untracked/new (then everything is changed)."""
    import git

    try:
        repo = git.Repo(repo_root, search_parent_directories=True)
        rel = path.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
        data = (repo.head.commit.tree / rel).data_stream.read()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, KeyError):
        return None
    try:
        return decode(data)
    except NotText:
        return None


def from_buffer(path: str, text: str, base_text: str | None, abspath: Path | None = None) -> FileChange:
    """An editor buffer against a base text (HEAD): only differing lines are changed."""
    if base_text is None:
        return FileChange(path, text, None, abspath=abspath, status="added")
    import difflib

    from .textfile import split_lines

    old, new = split_lines(base_text), split_lines(text)
    changed: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            changed.update(range(j1 + 1, j2 + 1))
        elif tag == "delete" and new:
            changed.add(min(j1 + 1, len(new)))
    return FileChange(path, text, to_ranges(changed), abspath=abspath)
