"""Intake: diffs, the git index, ranges and editor buffers, built with real `git` in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gemma_review.errors import InputError
from tests.scratch_repo import Repo
from gemma_review.intake import (
    FileChange,
    from_buffer,
    from_diff,
    from_range,
    from_staged,
    parse_diff,
    to_ranges,
)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def by_path(changes: list[FileChange]) -> dict[str, FileChange]:
    return {c.path: c for c in changes}


PY = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(10))


# --- parse_diff and from_diff over real git diffs -------------------------------------

# Each case: files before, files after (None = deleted), and per path what intake must say:
# ("changed", ranges) or ("skip", reason substring).
CASES = {
    "modified line": (
        {"a.py": PY}, {"a.py": PY.replace("x + 3", "x - 3")}, {"a.py": ("changed", [(11, 11)])},
    ),
    "added lines": (
        {"a.py": PY}, {"a.py": PY.replace("    return x + 5\n", "    y = x\n    return y + 5\n")},
        {"a.py": ("changed", [(17, 18)])},
    ),
    "new file": (
        {}, {"n.py": "x = 1\ny = 2\n"}, {"n.py": ("changed", [(1, 2)])},
    ),
    "new file without final newline": (
        {}, {"n.py": "x = 1\ny = 2"}, {"n.py": ("changed", [(1, 2)])},
    ),
    "no newline at end, last line edited": (
        {"a.py": "x = 1\ny = 2"}, {"a.py": "x = 1\ny = 3"}, {"a.py": ("changed", [(2, 2)])},
    ),
    "newline added at end": (
        {"a.py": "x = 1\ny = 2"}, {"a.py": "x = 1\ny = 2\n"}, {"a.py": ("changed", [(2, 2)])},
    ),
    "deleted file": (
        {"a.py": PY, "b.py": "x = 1\n"}, {"a.py": PY, "b.py": None}, {"b.py": ("skip", "deleted")},
    ),
    "pure deletion in the middle": (
        # line 11 ("    return x + 3") removed: the line now at that point (old 12, blank) is changed
        {"a.py": PY}, {"a.py": PY.replace("    return x + 3\n", "", 1)}, {"a.py": ("changed", [(11, 11)])},
    ),
    "pure deletion at the end": (
        {"a.py": "a = 1\nb = 2\nc = 3\n"}, {"a.py": "a = 1\nb = 2\n"}, {"a.py": ("changed", [(2, 2)])},
    ),
    "pure deletion at the start": (
        {"a.py": "a = 1\nb = 2\nc = 3\n"}, {"a.py": "b = 2\nc = 3\n"}, {"a.py": ("changed", [(1, 1)])},
    ),
    "binary file": (
        {"b.bin": b"\x00\x01\x02abc"}, {"b.bin": b"\x00\x01\x03abc"}, {"b.bin": ("skip", "binary")},
    ),
    "new binary file": (
        {}, {"logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00"}, {"logo.png": ("skip", "binary")},
    ),
    "CRLF file": (
        {"w.py": "a = 1\r\nb = 2\r\nc = 3\r\n"}, {"w.py": "a = 1\r\nb = 20\r\nc = 3\r\n"},
        {"w.py": ("changed", [(2, 2)])},
    ),
    "tab-indented file": (
        {"t.go": "package t\n\nfunc F() int {\n\tx := 1\n\treturn x\n}\n"},
        {"t.go": "package t\n\nfunc F() int {\n\tx := 2\n\treturn x\n}\n"},
        {"t.go": ("changed", [(4, 4)])},
    ),
    "path with a space": (
        {"my dir/a b.py": "x = 1\n"}, {"my dir/a b.py": "x = 2\n"}, {"my dir/a b.py": ("changed", [(1, 1)])},
    ),
    "non-ASCII path (git quotes it)": (
        {"café.py": "x = 1\n"}, {"café.py": "x = 2\n"}, {"café.py": ("changed", [(1, 1)])},
    ),
    "name containing the gitlink mode": (
        {"data_160000.py": "x = 1\n"}, {"data_160000.py": "x = 2\n"}, {"data_160000.py": ("changed", [(1, 1)])},
    ),
}


def _apply(repo: Repo, files: dict[str, str | bytes | None]) -> None:
    for rel, data in files.items():
        if data is None:
            (repo.root / rel).unlink()
        else:
            repo.write(rel, data)


def _check(changes: list[FileChange], expected: dict[str, tuple[str, object]], after: dict) -> None:
    got = by_path(changes)
    for rel, (kind, value) in expected.items():
        assert rel in got, f"{rel} missing from {sorted(got)}"
        change = got[rel]
        if kind == "skip":
            assert change.skipped and value in change.skip_reason, change
            assert change.text is None
        else:
            assert not change.skipped, change.skip_reason
            assert change.changed == value
            data = after[rel]
            assert change.text == (data.decode() if isinstance(data, bytes) else data)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_diff_and_index_intake(repo: Repo, case: str) -> None:
    """The same change read from `git diff` (with and without context, with --binary) and the index."""
    before, after, expected = CASES[case]
    _apply(repo, before)
    repo.commit("before")
    _apply(repo, after)
    repo.git("add", "-A")
    for flags in (["-U0"], ["-U3"], ["-U3", "--binary"]):
        diff = repo.diff("--cached", "-M", *flags)
        if "binary" in case:
            assert ("GIT binary patch" if "--binary" in flags else "Binary files") in diff
        _check(from_diff(diff, repo.root), expected, after)
    _check(from_staged(repo.root), expected, after)


@pytest.mark.parametrize(
    "before, after, status",
    [
        (None, "x = 1\n", "added"),
        ("x = 1\n", "y = 0\nx = 1\n", "modified"),  # -U0: a hunk at line 0 of a kept file
        ("y = 0\nx = 1\n", "x = 1\n", "modified"),
    ],
    ids=["new file", "insert at top", "delete at top"],
)
def test_status(repo: Repo, before: str | None, after: str, status: str) -> None:
    repo.write("keep.txt", "k\n")
    if before is not None:
        repo.write("a.py", before)
    repo.commit()
    repo.write("a.py", after)
    repo.git("add", "-A")
    (change,) = from_staged(repo.root)
    assert (change.status, change.skip_reason, change.changed) == (status, None, [(1, 1)])


@pytest.mark.parametrize("edit", [False, True], ids=["pure rename", "rename with edit"])
def test_renames(repo: Repo, edit: bool) -> None:
    body = "".join(f"line_{i} = {i}\n" for i in range(30))
    repo.write("old/name.py", body)
    repo.commit()
    repo.git("mv", "old/name.py", "new_name.py")
    if edit:
        repo.write("new_name.py", body.replace("line_7 = 7", "line_7 = 70"))
    repo.git("add", "-A")
    diff = repo.diff("--cached", "-M")
    assert "rename from old/name.py" in diff
    for changes in (from_diff(diff, repo.root), from_staged(repo.root)):
        (change,) = changes
        assert change.path == "new_name.py"
        assert change.status == "renamed"
        if edit:
            assert change.changed == [(8, 8)] and not change.skipped
        else:
            assert change.skip_reason == "renamed without changes"


def test_mode_only_change(repo: Repo) -> None:
    repo.write("run.sh", "#!/bin/sh\necho hi\n")
    repo.commit()
    os.chmod(repo.root / "run.sh", 0o755)
    repo.git("add", "-A")
    diff = repo.diff("--cached")
    assert "new mode 100755" in diff
    for changes in (from_diff(diff, repo.root), from_staged(repo.root)):
        assert [(c.path, c.skip_reason) for c in changes] == [("run.sh", "mode change only")]


def test_mode_change_with_edit_is_reviewed(repo: Repo) -> None:
    repo.write("run.sh", "#!/bin/sh\necho hi\n")
    repo.commit()
    repo.write("run.sh", "#!/bin/sh\necho bye\n")
    os.chmod(repo.root / "run.sh", 0o755)
    repo.git("add", "-A")
    (change,) = from_staged(repo.root)
    assert change.changed == [(2, 2)] and not change.skipped


@pytest.mark.parametrize("staged_as", ["new", "updated"])
def test_submodule_is_skipped(repo: Repo, staged_as: str) -> None:
    repo.write("a.py", "x = 1\n")
    repo.commit()
    sha1 = repo.git("rev-parse", "HEAD").strip()
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sha1},vendor/lib")
    if staged_as == "updated":
        repo.git("commit", "-q", "-m", "add submodule")
        repo.write("a.py", "x = 2\n")
        repo.git("add", "a.py")
        repo.git("commit", "-q", "-m", "second")
        sha2 = repo.git("rev-parse", "HEAD").strip()
        repo.git("update-index", "--cacheinfo", f"160000,{sha2},vendor/lib")
    diff = repo.diff("--cached")
    assert "Subproject commit" in diff
    for changes in (from_diff(diff, repo.root), from_staged(repo.root)):
        assert [(c.path, c.skip_reason) for c in changes] == [("vendor/lib", "submodule")]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"x = '\xe9t\xe9'\n", "not valid UTF-8"),  # Latin-1 source
        (b"\xff\xfex\x00 \x00=\x00", "binary"),  # UTF-16 with a BOM: NULs, so git says binary too
    ],
    ids=["latin-1", "utf-16"],
)
def test_non_utf8_is_skipped_with_reason(repo: Repo, data: bytes, reason: str) -> None:
    repo.write("ok.py", "a = 1\n")
    repo.commit()
    repo.write("legacy.py", data)
    repo.write("ok.py", "a = 2\n")
    repo.git("add", "-A")
    for changes in (from_diff(repo.diff("--cached"), repo.root), from_staged(repo.root)):
        got = by_path(changes)
        assert reason in (got["legacy.py"].skip_reason or "")
        assert got["ok.py"].changed == [(1, 1)]


def test_large_file(repo: Repo) -> None:
    text = "".join(f"value_{i} = {i}\n" for i in range(5000))
    repo.write("big.py", text)
    repo.commit()
    edited = text.replace("value_99 = 99\n", "value_99 = -99\n").replace("value_4999 = 4999\n", "value_4999 = 0\n")
    repo.write("big.py", edited)
    repo.git("add", "-A")
    (change,) = from_staged(repo.root)
    assert change.text == edited
    assert change.changed == [(100, 100), (5000, 5000)]


def test_empty_diff() -> None:
    assert parse_diff("") == []
    assert parse_diff("\n  \n") == []
    assert from_diff("", Path("/nonexistent")) == []


def test_staged_nothing(repo: Repo) -> None:
    repo.write("a.py", "x = 1\n")
    repo.commit()
    assert from_staged(repo.root) == []


@pytest.mark.parametrize(
    "text",
    [
        "hello world\nthis is prose, not a diff\n",
        "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n",  # hunk shorter than its header says
        "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n*b\n+c\n",  # a line that is no diff line
        "--- a/x.py\n@@ -1 +1 @@\n-a\n+b\n",  # no +++ header
    ],
    ids=["prose", "short hunk", "bad body line", "missing +++"],
)
def test_malformed_diff_is_one_clear_line(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_diff(text)
    message = str(info.value)
    assert "\n" not in message
    assert "diff" in message


def test_from_diff_missing_file_is_skipped(tmp_path: Path) -> None:
    diff = "--- a/gone.py\n+++ b/gone.py\n@@ -1 +1 @@\n-a\n+b\n"
    (change,) = from_diff(diff, tmp_path)
    assert change.skipped and "not found" in change.skip_reason


def test_from_diff_reads_the_working_tree(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("a = 1\nb = 2\n")
    diff = "--- a/x.py\t2024-01-01 00:00:00\n+++ b/x.py\t2024-01-02 00:00:00\n@@ -1,2 +1,2 @@\n a = 1\n-b = 3\n+b = 2\n"
    (change,) = from_diff(diff, tmp_path)
    assert change.text == "a = 1\nb = 2\n"
    assert change.changed == [(2, 2)]
    assert change.abspath == tmp_path / "x.py"


# --- the index, not the working tree ------------------------------------------------

def test_staged_reads_index_blobs_not_the_working_tree(repo: Repo) -> None:
    repo.write("a.py", "def f():\n    return 1\n")
    repo.commit()
    staged = "def f():\n    return 2\n"
    repo.write("a.py", staged)
    repo.git("add", "a.py")
    repo.write("a.py", "def f():\n    return 3  # not staged\n\n\nprint('extra')\n")
    (change,) = from_staged(repo.root)
    assert change.text == staged
    assert change.changed == [(2, 2)]


def test_staged_new_file_then_deleted_from_worktree(repo: Repo) -> None:
    repo.write("a.py", "x = 1\n")
    repo.commit()
    repo.write("n.py", "y = 2\n")
    repo.git("add", "n.py")
    (repo.root / "n.py").unlink()
    (change,) = from_staged(repo.root)
    assert (change.path, change.text, change.status) == ("n.py", "y = 2\n", "added")


def test_staged_first_commit(repo: Repo) -> None:
    repo.write("main.py", "print('hi')\n")
    repo.write("pkg/mod.py", "X = 1\nY = 2\n")
    repo.git("add", "-A")
    got = by_path(from_staged(repo.root))
    assert set(got) == {"main.py", "pkg/mod.py"}
    assert got["pkg/mod.py"].changed == [(1, 2)] and got["pkg/mod.py"].status == "added"


def test_staged_from_a_subdirectory(repo: Repo) -> None:
    repo.write("pkg/mod.py", "X = 1\n")
    repo.commit()
    repo.write("pkg/mod.py", "X = 2\n")
    repo.git("add", "-A")
    (change,) = from_staged(repo.root / "pkg")
    assert change.path == "pkg/mod.py"
    assert change.abspath == repo.root / "pkg" / "mod.py"


@pytest.mark.parametrize("setting", ["diff.noprefix=true", "diff.mnemonicPrefix=true", "core.quotePath=true"])
def test_staged_ignores_user_diff_config(repo: Repo, setting: str) -> None:
    repo.write("b/inner.py", "X = 1\n")  # a folder named like a diff prefix
    repo.commit()
    repo.write("b/inner.py", "X = 2\n")
    repo.git("add", "-A")
    key, value = setting.split("=")
    repo.git("config", key, value)
    (change,) = from_staged(repo.root)
    assert change.path == "b/inner.py" and change.text == "X = 2\n"


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside a git repository"):
        from_staged(tmp_path)


# --- ranges ----------------------------------------------------------------------------

@pytest.fixture
def branched(repo: Repo) -> Repo:
    repo.write("a.py", "def f():\n    return 1\n")
    repo.write("b.py", "B = 1\n")
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("a.py", "def f():\n    return 2\n")
    repo.commit("feature work")
    repo.git("checkout", "-q", "main")
    repo.write("b.py", "B = 2\n")  # main moves on: not part of feature's change
    repo.commit("main work")
    repo.git("checkout", "-q", "feature")
    return repo


def test_range_with_head_reads_head_blobs(branched: Repo) -> None:
    branched.write("a.py", "def f():\n    return 3  # uncommitted\n")
    (change,) = from_range(branched.root, "main", "feature")
    assert change.path == "a.py"
    assert change.text == "def f():\n    return 2\n"
    assert change.changed == [(2, 2)]
    assert change.abspath is None  # a commit's blob: --fix must not write it


def test_range_without_head_uses_merge_base_and_working_tree(branched: Repo) -> None:
    branched.write("a.py", "def f():\n    x = 3\n    return x\n")
    got = by_path(from_range(branched.root, "main"))
    assert set(got) == {"a.py"}  # main's own change to b.py is not ours
    assert got["a.py"].text == "def f():\n    x = 3\n    return x\n"
    assert got["a.py"].changed == [(2, 3)]
    assert got["a.py"].abspath == branched.root / "a.py"


@pytest.mark.parametrize("base, head", [("nope", None), ("main", "nope"), ("nope", "feature")])
def test_range_unknown_revision(branched: Repo, base: str, head: str | None) -> None:
    with pytest.raises(InputError) as info:
        from_range(branched.root, base, head)
    assert str(info.value) == "'nope' is not a known git revision"


# --- editor buffers --------------------------------------------------------------------

BASE = "def f(x):\n    a = 1\n    b = 2\n    return a + b\n"


@pytest.mark.parametrize(
    "text, changed",
    [
        (BASE, []),
        (BASE.replace("b = 2", "b = 3"), [(3, 3)]),
        (BASE.replace("    a = 1\n", ""), [(2, 2)]),  # deletion: the line now there
        (BASE + "\n\nprint(f(1))\n", [(5, 7)]),
        (BASE.replace("    return a + b\n", ""), [(3, 3)]),  # deletion at the end: the last line
        (BASE.replace("\n", "\r\n"), []),  # line endings alone change nothing git counts
    ],
    ids=["same", "edit", "delete middle", "append", "delete end", "crlf"],
)
def test_from_buffer(text: str, changed: list[tuple[int, int]]) -> None:
    change = from_buffer("f.py", text, BASE)
    assert change.changed == changed
    assert change.text == text


def test_from_buffer_without_base_is_whole_file() -> None:
    change = from_buffer("new.py", "x = 1\n", None)
    assert change.changed is None and change.changed_lines() is None and change.status == "added"


def test_to_ranges() -> None:
    assert to_ranges([5, 1, 2, 3, 9, 10, 2]) == [(1, 3), (5, 5), (9, 10)]
    assert to_ranges([]) == []


# --- removed lines --------------------------------------------------------------------

from gemma_review.intake import parse_diff  # noqa: E402

REMOVAL_DIFF = """\
diff --git a/m.py b/m.py
--- a/m.py
+++ b/m.py
@@ -1,5 +1,5 @@
 def put(self, item):
     self.lock.acquire()
     self.items.append(item)
-    self.lock.release()
+    log(item)
     return True
@@ -10,2 +9,0 @@
-tail_one()
-tail_two()
"""


def test_diff_keeps_removed_lines_where_they_were() -> None:
    (df,) = parse_diff(REMOVAL_DIFF)
    # -U0 deletion-only hunk: "+9,0" is the line before the deletion, so it stood above line 10.
    assert df.removed == {4: ["    self.lock.release()"], 10: ["tail_one()", "tail_two()"]}
    assert (4, 4) in df.changed


@pytest.mark.parametrize("context", [0, 3])
def test_git_diff_removed_lines_with_and_without_context(tmp_path: Path, context: int) -> None:
    old = "a = 1\nguard()\nb = 2\nc = 3\nlast()\n"
    new = "a = 1\nb = 2\nc = 3\n"
    (tmp_path / "old.py").write_text(old)
    (tmp_path / "new.py").write_text(new)
    out = subprocess.run(
        ["git", "diff", "--no-index", f"-U{context}", "old.py", "new.py"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    (df,) = parse_diff(out)
    assert df.removed == {2: ["guard()"], 4: ["last()"]}


def test_buffer_removed_lines() -> None:
    change = from_buffer("m.py", "a\nx\nc\n", "a\nb\nc\nd\n")
    assert change.removed == {2: ["b"], 4: ["d"]}  # replaced b (above the new x), deleted d at the end
