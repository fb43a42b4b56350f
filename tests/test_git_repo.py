"""The one git adapter: review --staged and the hook read the same index the same way."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from gemma_review.errors import InputError
from gemma_review.git_repo import GitRepo, find_root, head_blob
from gemma_review.hooks import targets
from gemma_review.intake import FileChange, from_range, from_staged, head_text

from tests.scratch_repo import Repo

PY = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(10))
# A file name that is not UTF-8 (Latin-1 "café"): Linux file systems allow it, macOS does not.
LATIN1_NAME = "caf\udce9.py"


def without_abspath(changes: list[FileChange]) -> list[FileChange]:
    return [dataclasses.replace(c, abspath=None) for c in changes]


def mixed_index(repo: Repo, first_commit: bool) -> set[str]:
    """Stage one of everything; the paths the list must hold."""
    if not first_commit:
        repo.write("mod.py", PY)
        repo.write("gone.py", "import os\nprint(os.getcwd())\n")
        repo.write("old/name.py", PY.replace("f", "g"))
        repo.write("moved.py", PY.replace("f", "h"))
        repo.write("run.sh", "#!/bin/sh\necho hi\n")
        repo.write("blob.bin", b"\x00\x01\x02abc")
        repo.write("tail.py", "a = 1\nb = 2\nc = 3\n")
        repo.commit("before")
        repo.write("mod.py", PY.replace("x + 3", "x - 3"))
        (repo.root / "gone.py").unlink()
        repo.git("mv", "old/name.py", "renamed.py")  # pure rename
        repo.git("mv", "moved.py", "moved_edited.py")
        repo.write("moved_edited.py", PY.replace("f", "h").replace("x + 7", "x * 7"))
        os.chmod(repo.root / "run.sh", 0o755)
        repo.write("blob.bin", b"\x00\x01\x03abc")
        repo.write("tail.py", "a = 1\nb = 2\n")  # deletion at the end: clamped to the last line
    repo.write("new.py", "x = 1\ny = 2")
    repo.write("my dir/a b.py", "z = 3\n")
    repo.write("latin.py", b"x = '\xe9t\xe9'\n")
    repo.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    expected = {"new.py", "my dir/a b.py", "latin.py", "logo.png", "link.py"}
    if sys.platform.startswith("linux"):
        repo.write(LATIN1_NAME, "w = 4\n")
        expected.add(LATIN1_NAME)
    (repo.root / "link.py").symlink_to("new.py")
    repo.git("add", "-A")
    repo.write("later.py", "q = 1\n")
    repo.git("add", "-N", "later.py")  # intent to add: no content staged, not listed
    repo.write("new.py", "x = 1\ny = 2\nunstaged = 3\n")  # never seen: the index is read
    if not first_commit:
        expected |= {"mod.py", "gone.py", "renamed.py", "moved_edited.py", "run.sh", "blob.bin", "tail.py"}
    return expected


@pytest.mark.parametrize("first_commit", [False, True], ids=["with-head", "unborn-head"])
def test_review_staged_and_hook_see_the_same_changes(tmp_path: Path, first_commit: bool) -> None:
    repo = Repo(tmp_path / "repo")
    expected = mixed_index(repo, first_commit)
    index = (repo.root / ".git" / "index").read_bytes()
    reviewed = from_staged(repo.root)
    hooked = targets.staged(targets.repo_root(repo.root / "my dir"), None)
    assert without_abspath(reviewed) == hooked
    assert (repo.root / ".git" / "index").read_bytes() == index  # neither touched the index

    got = {c.path: c for c in hooked}
    assert set(got) == expected
    assert got["new.py"].text == "x = 1\ny = 2" and got["new.py"].status == "added"
    assert got["latin.py"].skip_reason and "UTF-8" in got["latin.py"].skip_reason
    assert got["link.py"].skip_reason == "symlink"
    assert "later.py" not in got
    assert got["my dir/a b.py"].changed == [(1, 1)]
    if LATIN1_NAME in expected:
        assert got[LATIN1_NAME].text == "w = 4\n"
    if not first_commit:
        assert got["mod.py"].changed == [(11, 11)]
        assert got["gone.py"].skip_reason == "deleted"
        assert (got["renamed.py"].status, got["renamed.py"].skip_reason) == ("renamed", "renamed without changes")
        assert got["moved_edited.py"].status == "renamed" and got["moved_edited.py"].changed == [(23, 23)]
        assert got["run.sh"].skip_reason == "mode change only"
        assert got["blob.bin"].skip_reason == "binary file"
        assert got["tail.py"].changed == [(2, 2)]
    # --fix writes what review --staged read: the work-tree path of every reviewed file.
    assert all((c.abspath == repo.root / c.path) == (c.text is not None) for c in reviewed)


def test_range_and_pushed_commits_agree(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    mixed_index(repo, first_commit=False)
    repo.git("rm", "-q", "--cached", "later.py")
    repo.commit("after")
    root = targets.repo_root(repo.root)
    assert from_range(repo.root, "HEAD~1", "HEAD") == targets.commit_range(root, "HEAD~1", "HEAD", None)


def test_root_is_found_one_way(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    (repo.root / "pkg").mkdir()
    assert find_root(repo.root / "pkg") == repo.root.resolve()
    assert find_root(tmp_path) is None
    assert find_root(tmp_path / "missing") is None
    with pytest.raises(InputError, match="not inside a git repository"):
        GitRepo.find(tmp_path)
    with pytest.raises(InputError, match="not inside a git work tree"):
        targets.repo_root(tmp_path)


def test_revisions(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    git = GitRepo(repo.root)
    assert not git.has_head() and git.head_or_empty_tree() == git.empty_tree()
    assert git.empty_tree() == repo.git("hash-object", "-t", "tree", "/dev/null").strip()
    repo.write("a.py", "x = 1\n")
    repo.commit()
    assert git.has_head() and git.head_or_empty_tree() == "HEAD"
    assert git.resolve("main") == repo.git("rev-parse", "HEAD").strip()
    for bad in ("nope", "--output=/tmp/x", "main\nHEAD"):
        with pytest.raises(InputError) as info:
            git.resolve(bad)
        assert str(info.value) == f"'{bad}' is not a known git revision"
        assert not git.rev_exists(bad)


def test_head_text(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("pkg/a.py", "x = 1\n")
    assert head_text(repo.root, repo.root / "pkg" / "a.py") is None  # no commit yet
    repo.commit()
    repo.write("pkg/a.py", "x = 2\n")
    assert head_text(repo.root, repo.root / "pkg" / "a.py") == "x = 1\n"
    assert head_text(repo.root, repo.root / "pkg" / "new.py") is None
    assert head_blob(tmp_path / "outside.py") is None
    assert head_blob(tmp_path / "no" / "such" / "folder.py") is None
