"""The commit hook end to end: the real ``pre-commit`` program and plain git hooks, in
scratch git repositories, against the fake Ollama server.

One pre-commit hook environment is built per session from a committed copy of this
working tree (pre-commit installs hook repositories from git commits), and shared by
every test through ``PRE_COMMIT_HOME``.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path
import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import closed_port_url
from tests.scratch_repo import PYTHON_BIN, HookRepo, Scratch, config_yaml, git_env, make_scratch, must, run

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
BUGGY = (SAMPLES / "streak.py").read_text(encoding="utf-8")
BUG_LINES = '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]\n'
FIXED = BUGGY.replace(BUG_LINES, '    for current in sorted({event["date"] for event in events}):\n')
WARNING_SAMPLE = (SAMPLES / "settings_loader.py").read_text(encoding="utf-8")
FINDING_TITLE = "Deduplicate dates before counting the streak"
# Not copied into the hook repository: the editor extension and its node_modules are large.
NOT_COPIED = ("vscode-extension/", ".ci-venv/")

assert FIXED != BUGGY


# --- the hook repository and its pre-commit environment (once per session) -------------


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> HookRepo:
    home = tmp_path_factory.mktemp("hook-home")
    env = git_env(home)
    dest = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in listed:
        src = REPO / name
        if not name or name.startswith(NOT_COPIED) or "/node_modules/" in name or not src.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    must(run(["git", "init", "-q", "-b", "main"], dest, env))
    must(run(["git", "add", "-A"], dest, env))
    must(run(["git", "commit", "-q", "--no-verify", "-m", "hook repository snapshot"], dest, env))
    rev = must(run(["git", "rev-parse", "HEAD"], dest, env)).stdout.strip()
    # Resolve the dependencies once into a wheelhouse: the session's hook environment and
    # try-repo's own (it always builds a fresh one) then install offline from it.
    wheels = home / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), str(dest), "setuptools>=68"], dest, env)
    if built.returncode == 0:
        (home / "pip.env").write_text(json.dumps({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}), encoding="utf-8")
        env = git_env(home)
    repo = HookRepo(dest, rev, home)
    # Build the hook's environment now, so no single test pays for it.
    warm = tmp_path_factory.mktemp("warm")
    must(run(["git", "init", "-q", "-b", "main"], warm, env))
    (warm / ".pre-commit-config.yaml").write_text(config_yaml(repo), encoding="utf-8")
    must(run([sys.executable, "-m", "pre_commit", "install-hooks"], warm, env))
    return repo


# --- scratch repositories ------------------------------------------------------------------


@pytest.fixture
def plain(tmp_path: Path, fake_ollama: FakeOllama) -> Scratch:
    """A scratch repository for plain-hook tests (no pre-commit environment needed)."""
    home = tmp_path / "home"
    home.mkdir()
    return make_scratch(tmp_path / "work", home, fake_ollama, None)


@pytest.fixture
def scratch(tmp_path: Path, fake_ollama: FakeOllama, hook_repo: HookRepo) -> Scratch:
    return make_scratch(tmp_path / "work", hook_repo.home, fake_ollama, hook_repo)


@pytest.fixture(params=["pre-commit", "plain"])
def driven(request: pytest.FixtureRequest, tmp_path: Path, fake_ollama: FakeOllama) -> Scratch:
    """A scratch repository gated by pre-commit or by the plain git hook."""
    if request.param == "pre-commit":
        hook_repo = request.getfixturevalue("hook_repo")
        s = make_scratch(tmp_path / "work", hook_repo.home, fake_ollama, hook_repo)
    else:
        home = tmp_path / "home"
        home.mkdir()
        s = make_scratch(tmp_path / "work", home, fake_ollama, None)
    s.use(request.param)
    return s


def head(s: Scratch) -> str:
    return s.git("rev-parse", "HEAD").stdout.strip()


# --- pre-commit try-repo -------------------------------------------------------------------


def test_try_repo(scratch: Scratch, hook_repo: HookRepo) -> None:
    """Exactly what a user trying the hook does (try-repo builds its own environment: one run only)."""
    scratch.write("streak.py", BUGGY)
    scratch.write("clean.py", FIXED.replace("calculate_streak", "clean_streak"))
    must(scratch.git("add", "streak.py", "clean.py"))
    proc = scratch.pre_commit("try-repo", str(hook_repo.path), "gemma-review", "--ref", hook_repo.rev)
    assert proc.returncode == 1, proc.stdout
    assert "streak.py:13:5: error [bug] " + FINDING_TITLE in proc.stdout
    assert "Found 1 finding (1 error) in 2 files" in proc.stdout
    assert "clean.py:" not in proc.stdout
    # Two small new files share one request (packing), each under its own "File:" header.
    (request,) = scratch.fake.requests
    prompt = request["messages"][-1]["content"]
    assert "File: streak.py" in prompt and "File: clean.py" in prompt


# --- the commit gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "args", "blocked", "shown"),
    [
        ({"streak.py": BUGGY}, [], True, "streak.py:13:5: error [bug] " + FINDING_TITLE),
        ({"streak.py": FIXED}, [], False, "No findings in 1 file"),
        ({"app/streak.py": BUGGY, "notes.txt": BUGGY}, [], True, "app/streak.py:13:5"),
        ({"loader.py": WARNING_SAMPLE}, ["--fail-on", "warning"], True, "warning [bug] Close the settings file"),
    ],
    ids=["bug-blocks", "clean-passes", "subfolder-and-types", "args-fail-on"],
)
def test_commit_gate(scratch: Scratch, files: dict[str, str], args: list[str], blocked: bool, shown: str) -> None:
    scratch.use_pre_commit(args)
    for name, text in files.items():
        scratch.write(name, text)
    must(scratch.git("add", *files))
    before = head(scratch)
    proc = scratch.commit()
    assert (proc.returncode != 0) == blocked, proc.stdout
    assert (head(scratch) == before) == blocked
    assert shown in proc.stdout
    # Only the reviewed languages reach the model: notes.txt is filtered out by the hook's types.
    assert len(scratch.fake.requests) == 1
    assert all("notes.txt" not in p for p in scratch.prompts())


@pytest.mark.parametrize(
    ("args", "config", "code"),
    [
        ([], None, 0),
        (["--fail-on", "warning"], None, 1),
        ([], 'fail_on = "warning"\n', 1),
        ([], '[tool.gemma-review]\nfail_on = "info"\n', 1),
        (["--fail-on", "error"], 'fail_on = "info"\n', 0),
        (["--fail-on", "never"], None, 0),
    ],
    ids=["default-error", "args", "config", "pyproject", "args-beat-config", "never"],
)
def test_fail_on(plain: Scratch, args: list[str], config: str | None, code: int) -> None:
    if config is not None:
        plain.write("pyproject.toml" if config.startswith("[tool") else ".gemma-review.toml", config)
    plain.write("loader.py", WARNING_SAMPLE)
    must(plain.git("add", "loader.py"))
    proc = plain.hook(*args, "loader.py")
    assert proc.returncode == code, proc.stdout
    assert "loader.py:16:9: warning [bug] Close the settings file" in proc.stdout


@pytest.mark.parametrize(("staged", "unstaged", "blocked"), [(BUGGY, FIXED, True), (FIXED, BUGGY, False)],
                         ids=["staged-bug", "unstaged-bug"])
def test_partial_staging(driven: Scratch, staged: str, unstaged: str, blocked: bool) -> None:
    s = driven
    s.write("streak.py", staged)
    must(s.git("add", "streak.py"))
    s.write("streak.py", unstaged + "# an unstaged comment\n")
    s.write("scratch_notes.py", "x = 1\n")  # untracked: neither reviewed nor touched
    tree, index = s.snapshot(), s.index()
    proc = s.commit()
    assert (proc.returncode != 0) == blocked, proc.stdout
    assert s.snapshot() == tree
    if blocked:
        assert s.index() == index
        assert FINDING_TITLE in proc.stdout
    prompts = "\n".join(s.prompts())
    assert "an unstaged comment" not in prompts and "scratch_notes" not in prompts
    assert ('key=lambda e: e["date"]' in prompts) == blocked


@pytest.mark.parametrize("driver", ["pre-commit", "plain"])
def test_renamed_deleted_and_binary_files(scratch: Scratch, driver: str) -> None:
    s = scratch
    s.write("old_name.py", FIXED)
    s.write("gone.py", FIXED.replace("calculate_streak", "gone"))
    must(s.git("add", "."))
    must(s.git("commit", "-q", "--no-verify", "-m", "base"))
    s.use(driver)
    must(s.git("mv", "old_name.py", "new_name.py"))
    must(s.git("rm", "-q", "gone.py"))
    s.write("blob.py", b"\x00\x01\x02 not text \xff\n")
    s.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    must(s.git("add", "blob.py", "logo.png"))
    proc = s.commit()
    assert proc.returncode == 0, proc.stdout
    assert s.fake.requests == []
    assert "skipped blob.py: binary file" in proc.stdout
    assert "skipped logo.png" not in proc.stdout  # not a reviewed language: not even listed
    # A rename with an edit is reviewed, under its new name.
    must(s.git("mv", "new_name.py", "moved.py"))
    s.write("moved.py", BUGGY)
    must(s.git("add", "moved.py"))
    assert s.git("diff", "--cached", "-M", "--name-status").stdout.startswith("R")
    proc = s.commit()
    assert proc.returncode != 0 and "moved.py:13:5" in proc.stdout, proc.stdout
    assert len(s.fake.requests) == 1


# --- model down, time budget ---------------------------------------------------------------


@pytest.mark.parametrize(("args", "blocked", "line"), [
    ([], False, "gemma-review: warning: the model is unavailable: cannot reach Ollama at"),
    (["--strict"], True, "gemma-review: error: the model is unavailable: cannot reach Ollama at"),
], ids=["default-warns", "strict-fails"])
def test_model_down(scratch: Scratch, args: list[str], blocked: bool, line: str) -> None:
    scratch.env["OLLAMA_HOST"] = closed_port_url()
    scratch.use_pre_commit(args)
    scratch.write("streak.py", BUGGY)
    must(scratch.git("add", "streak.py"))
    proc = scratch.commit()
    assert (proc.returncode != 0) == blocked, proc.stdout
    warnings = [ln for ln in proc.stdout.splitlines() if ln.startswith("gemma-review: ")]
    assert len(warnings) == 1 and warnings[0].startswith(line), proc.stdout
    assert "not reviewed: streak.py (1 of 1 unit)" in warnings[0]


@pytest.mark.parametrize(("args", "reply", "line"), [
    (["--model", "gemma9:absent"], None,
     "gemma-review: warning: the model is unavailable: model 'gemma9:absent' is not pulled; run `ollama pull gemma9:absent`"),
    ([], Reply(status=500, error="out of memory"),
     "gemma-review: warning: the model failed: Ollama at "),
], ids=["not-pulled", "server-error"])
def test_model_failures_warn(plain: Scratch, args: list[str], reply: Reply | None, line: str) -> None:
    if reply is not None:
        plain.fake.set_reply(reply)
    plain.write("streak.py", BUGGY)
    must(plain.git("add", "streak.py"))
    proc = plain.hook(*args, "streak.py")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith(line) and len(proc.stdout.splitlines()) == 1, proc.stdout
    assert proc.stdout.rstrip().endswith("not reviewed: streak.py (1 of 1 unit); "
                                         "letting the commit through (pass --strict to block instead)")


def hang_unless_streak(fake: FakeOllama):
    def respond(body: dict) -> Reply:
        prompt = body["messages"][-1]["content"]
        return fake.oracle(body) if "calculate_streak" in prompt else Reply(hang=True)

    return respond


OTHER = FIXED.replace("calculate_streak", "other")


@pytest.mark.parametrize(("files", "args", "code", "shown"), [
    ({"b_other.py": OTHER}, ["--timeout", "1.5"], 0,
     "gemma-review: warning: the 1.5s time budget ran out (--timeout); not reviewed: b_other.py (1 of 1 unit); letting"),
    ({"b_other.py": OTHER}, ["--timeout", "1.5", "--strict"], 3,
     "gemma-review: error: the 1.5s time budget ran out (--timeout); not reviewed: b_other.py (1 of 1 unit); blocking"),
    ({"a_streak.py": BUGGY, "b_other.py": OTHER}, ["--timeout", "3"], 1,
     "not reviewed: b_other.py (1 of 2 units); the commit is blocked by the findings above"),
], ids=["warns", "strict", "reviewed-part-counts"])
def test_time_budget(plain: Scratch, files: dict[str, str], args: list[str], code: int, shown: str) -> None:
    plain.fake.set_reply(hang_unless_streak(plain.fake))
    for name, text in files.items():
        plain.write(name, text)
    must(plain.git("add", *files))
    if "a_streak.py" in files:
        # Reviewed earlier (so the outcome does not depend on how fast this machine is).
        assert plain.hook("a_streak.py").returncode == 1
    proc = plain.hook(*args, *files)
    assert proc.returncode == code, proc.stdout
    assert shown in proc.stdout
    assert (FINDING_TITLE in proc.stdout) == ("a_streak.py" in files)
    # a_streak.py went to the model once, then came from the cache.
    assert sum("calculate_streak" in p for p in plain.prompts()) == ("a_streak.py" in files)


def test_time_budget_under_pre_commit(scratch: Scratch) -> None:
    scratch.fake.set_reply(Reply(hang=True))
    scratch.use_pre_commit(["--timeout", "1"])
    scratch.write("streak.py", BUGGY)
    must(scratch.git("add", "streak.py"))
    proc = scratch.commit()
    assert proc.returncode == 0, proc.stdout
    assert "the 1s time budget ran out" in proc.stdout


# --- the cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["cli", "earlier-attempt"])
def test_reviewed_change_costs_no_model_call(scratch: Scratch, first: str) -> None:
    scratch.use_pre_commit()
    scratch.write("streak.py", BUGGY)
    must(scratch.git("add", "streak.py"))
    if first == "cli":
        assert scratch.cli("review", "--staged").returncode == 1
    else:
        assert scratch.commit().returncode != 0
    assert len(scratch.fake.requests) == 1
    proc = scratch.commit()
    assert proc.returncode != 0 and FINDING_TITLE in proc.stdout and "1 cached" in proc.stdout
    assert len(scratch.fake.requests) == 1


# --- pre-push -------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["pre-commit", "plain"])
def test_pre_push(scratch: Scratch, driver: str) -> None:
    s = scratch
    remote = s.path.parent / "remote.git"
    must(run(["git", "init", "-q", "--bare", str(remote)], s.path.parent, s.env))
    must(s.git("remote", "add", "origin", str(remote)))
    if driver == "pre-commit":
        s.use_pre_commit(hook_types=("pre-commit", "pre-push"))
    else:
        s.use_plain_hook("pre-push")

    def commit_streak(text: str) -> None:
        s.write("streak.py", text)
        must(s.git("add", "streak.py"))
        must(s.git("commit", "-q", "--no-verify", "-m", "streak"))
        # The push reviews the commits, never the working tree.
        s.write("streak.py", FIXED if text == BUGGY else BUGGY)

    def push(blocked: bool) -> None:
        proc = s.git("push", "origin", "main")
        assert (proc.returncode != 0) == blocked, proc.stdout
        assert (FINDING_TITLE in proc.stdout) == blocked, proc.stdout
        remote_head = run(["git", "rev-parse", "--verify", "-q", "main"], remote, s.env).stdout.strip()
        assert (remote_head == head(s)) != blocked

    commit_streak(BUGGY)
    push(blocked=True)  # a first push: the whole history from its root commit
    commit_streak(FIXED)
    push(blocked=False)
    commit_streak(BUGGY)
    push(blocked=True)  # the remote has a base: only the new commit
    must(s.git("reset", "-q", "--soft", "HEAD~1"))
    commit_streak(FIXED.replace("longest = 0", "longest = 0  # best run so far"))
    push(blocked=False)
    must(s.git("push", "-q", "origin", "main:other"))  # nothing new: nothing to review
    must(s.git("push", "-q", "origin", ":other"))  # deleting a branch: nothing to review
    assert len(s.fake.requests) == 4


# --- bypass ---------------------------------------------------------------------------------


def test_bypass(driven: Scratch) -> None:
    driven.write("streak.py", BUGGY)
    must(driven.git("add", "streak.py"))
    assert driven.commit(GEMMA_REVIEW_SKIP="0", SKIP="other-hook").returncode != 0  # the gate is on
    assert len(driven.fake.requests) == 1
    for bypass in ({"SKIP": "gemma-review"}, {"SKIP": "other-hook,gemma-review"}, {"GEMMA_REVIEW_SKIP": "1"}):
        proc = driven.commit(**bypass)
        assert proc.returncode == 0, (bypass, proc.stdout)
        must(driven.git("reset", "-q", "--soft", "HEAD~1"))  # the same change, staged again
    assert len(driven.fake.requests) == 1


# --- the plain git hook ---------------------------------------------------------------------


def test_plain_hook_gates_commits(plain: Scratch) -> None:
    proc = plain.cli("install-hook")
    assert proc.returncode == 0 and "installed the gemma-review pre-commit hook" in proc.stdout
    hook = plain.path / ".git" / "hooks" / "pre-commit"
    assert hook.stat().st_mode & stat.S_IXUSR
    # A repository with its own `hooks` package must not shadow gemma-review's.
    plain.write("hooks/__init__.py", "")
    plain.write("hooks/pre_commit.py", "raise SystemExit('the repository hooks package was imported')\n")
    plain.write("streak.py", BUGGY)
    must(plain.git("add", "streak.py"))
    proc = plain.commit()
    assert proc.returncode == 1 and FINDING_TITLE in proc.stdout
    # `git commit -a` stages into a temporary index (GIT_INDEX_FILE): that is what is reviewed.
    plain.write("streak.py", FIXED)
    proc = plain.commit("-a")
    assert proc.returncode == 0, proc.stdout
    assert must(plain.git("show", "HEAD:streak.py")).stdout == FIXED
    plain.write("streak.py", BUGGY)
    proc = plain.commit("streak.py")  # `git commit <path>`: another temporary index
    assert proc.returncode == 1 and FINDING_TITLE in proc.stdout
    assert "updated" in must(plain.cli("install-hook")).stdout
    proc = plain.cli("uninstall-hook")
    assert proc.returncode == 0 and not hook.exists()
    assert plain.commit("-a").returncode == 0
    assert "nothing to remove" in must(plain.cli("uninstall-hook")).stdout


@pytest.mark.parametrize("foreign", [
    "#!/bin/sh\necho my own hook\n",
    "#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\nexit 0\n",
], ids=["user-hook", "pre-commit-framework"])
@pytest.mark.parametrize("stage", ["pre-commit", "pre-push"])
def test_installer_keeps_foreign_hooks(plain: Scratch, foreign: str, stage: str) -> None:
    hook = plain.path / ".git" / "hooks" / stage
    hook.write_text(foreign, encoding="utf-8")
    hook.chmod(0o755)
    proc = plain.cli("install-hook", "--stage", stage)
    assert proc.returncode == 2 and "was not written by gemma-review" in proc.stdout and "--force" in proc.stdout
    assert ("pre-commit-config.yaml" in proc.stdout) == ("pre-commit.com" in foreign)
    assert len(proc.stdout.strip().splitlines()) == 1
    assert hook.read_text(encoding="utf-8") == foreign
    proc = plain.cli("uninstall-hook", "--stage", stage)
    assert proc.returncode == 2 and "left it in place" in proc.stdout
    assert hook.read_text(encoding="utf-8") == foreign
    proc = plain.cli("install-hook", "--force", "--stage", stage)
    assert proc.returncode == 0 and "previous hook is kept" in proc.stdout
    assert "gemma-review" in hook.read_text(encoding="utf-8")
    proc = plain.cli("uninstall-hook", "--stage", stage)
    assert proc.returncode == 0 and "restored the previous one" in proc.stdout
    assert hook.read_text(encoding="utf-8") == foreign
    assert hook.stat().st_mode & stat.S_IXUSR


def test_installer_follows_core_hooks_path(plain: Scratch) -> None:
    must(plain.git("config", "core.hooksPath", "githooks"))
    must(plain.cli("install-hook"))
    assert (plain.path / "githooks" / "pre-commit").is_file()
    assert not (plain.path / ".git" / "hooks" / "pre-commit").exists()
    plain.write("streak.py", BUGGY)
    must(plain.git("add", "streak.py"))
    assert plain.commit().returncode == 1
    must(plain.cli("uninstall-hook"))
    assert not (plain.path / "githooks" / "pre-commit").exists()


def test_installer_outside_a_repository(tmp_path: Path, plain: Scratch) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    proc = run([str(PYTHON_BIN / "gemma-review"), "install-hook"], outside, {**plain.env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert proc.returncode == 2 and "not inside a git repository" in proc.stdout


def test_plain_hook_survives_a_removed_installation(plain: Scratch) -> None:
    must(plain.cli("install-hook"))
    hook = plain.path / ".git" / "hooks" / "pre-commit"
    text = hook.read_text(encoding="utf-8")
    recorded = str(PYTHON_BIN / "gemma-review")
    assert f"GEMMA_REVIEW={recorded}\n" in text
    hook.write_text(text.replace(recorded, "/nonexistent/gemma-review"), encoding="utf-8")
    plain.write("streak.py", BUGGY)
    must(plain.git("add", "streak.py"))
    proc = plain.commit()
    assert proc.returncode == 1 and FINDING_TITLE in proc.stdout  # found `gemma-review` on PATH
    plain.env["PATH"] = "/usr/bin:/bin"
    proc = plain.commit()
    assert proc.returncode == 0 and "not installed any more" in proc.stdout


# --- the entry point itself -----------------------------------------------------------------


def test_no_files_is_nothing_to_do(tmp_path: Path, plain: Scratch) -> None:
    proc = run([str(PYTHON_BIN / "gemma-review"), "hook", "--"], tmp_path, plain.env)
    # Issue 23: run by hand, it says so in one line instead of nothing.
    assert proc.returncode == 0
    assert proc.stdout == "gemma-review: nothing to review: no files given (pre-commit passes the staged files)\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "0", "a.py"], "--timeout must be a positive number"),
    (["--fail-on", "fatal", "a.py"], "argument --fail-on: invalid choice"),
    (["--bogus", "a.py"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line(plain: Scratch, args: list[str], message: str) -> None:
    proc = plain.hook(*args)
    assert proc.returncode == 2 and message in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


def test_files_not_staged_are_not_reviewed(plain: Scratch) -> None:
    plain.write("streak.py", BUGGY)  # on disk but never staged
    proc = plain.hook("streak.py")
    assert proc.returncode == 0 and proc.stdout == "gemma-review: nothing to review: nothing is staged\n"
    assert plain.fake.requests == []


def test_paths_from_a_subfolder(plain: Scratch) -> None:
    plain.write("pkg/streak.py", BUGGY)
    must(plain.git("add", "pkg/streak.py"))
    proc = run([str(PYTHON_BIN / "gemma-review"), "hook", "--", "streak.py"], plain.path / "pkg", plain.env)
    assert proc.returncode == 1 and "pkg/streak.py:13:5" in proc.stdout
