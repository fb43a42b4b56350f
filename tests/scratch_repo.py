"""Scratch git repositories for the commit hook's tests: a hermetic git environment, the
``gemma-review`` commands and pre-commit run in them, the hook repository pre-commit installs
from (built once per session by tests/test_hook.py's ``hook_repo`` fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_ollama import FakeOllama

PYTHON_BIN = Path(sys.executable).parent


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.invalid",
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        PATH=f"{PYTHON_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    (home / "gitconfig").touch()
    pip_env = home / "pip.env"  # written by the hook_repo fixture once its wheelhouse exists
    if pip_env.is_file():
        env.update(json.loads(pip_env.read_text(encoding="utf-8")))
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, input=stdin, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=240, check=False)


def must(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{proc.stdout}"
    return proc


@dataclass
class HookRepo:
    path: Path
    rev: str
    home: Path  # holds PRE_COMMIT_HOME and the git config


def config_yaml(repo: HookRepo, args: list[str] | None = None) -> str:
    lines = ["repos:", f"  - repo: {repo.path}", f"    rev: {repo.rev}", "    hooks:", "      - id: gemma-review"]
    if args:
        lines.append(f"        args: [{', '.join(json.dumps(a) for a in args)}]")
    return "\n".join(lines) + "\n"


@dataclass
class Scratch:
    path: Path
    env: dict[str, str]
    fake: FakeOllama
    hook_repo: HookRepo | None = None
    hook_types: list[str] = field(default_factory=list)

    def git(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["git", *args], self.path, self.env, stdin)

    def write(self, name: str, content: str | bytes) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode("utf-8"))
        return target

    def commit(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(["git", "commit", "-m", "change", *args], self.path, {**self.env, **env})

    def hook(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`gemma-review hook` as pre-commit calls it, without pre-commit around it."""
        return run([str(PYTHON_BIN / "gemma-review"), "hook", "--", *args], self.path, {**self.env, **env})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([str(PYTHON_BIN / "gemma-review"), *args], self.path, self.env)

    def pre_commit(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-m", "pre_commit", *args], self.path, {**self.env, **env})

    def use_pre_commit(self, args: list[str] | None = None, hook_types: tuple[str, ...] = ("pre-commit",)) -> None:
        assert self.hook_repo is not None
        self.write(".pre-commit-config.yaml", config_yaml(self.hook_repo, args))
        must(self.git("add", ".pre-commit-config.yaml"))
        must(self.git("commit", "-q", "--no-verify", "-m", "use pre-commit"))
        must(self.pre_commit("install", *[f"--hook-type={t}" for t in hook_types]))

    def use_plain_hook(self, stage: str = "pre-commit") -> None:
        must(self.cli("install-hook", "--stage", stage))

    def use(self, driver: str) -> None:
        if driver == "pre-commit":
            self.use_pre_commit()
        else:
            self.use_plain_hook()

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the working tree, byte for byte (outside .git)."""
        return {
            str(p.relative_to(self.path)): p.read_bytes()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.path).parts
        }

    def index(self) -> str:
        return self.git("ls-files", "-s").stdout

    def prompts(self) -> list[str]:
        return [m["content"] for body in self.fake.requests for m in body.get("messages", []) if m.get("role") == "user"]


def make_scratch(path: Path, home: Path, fake: FakeOllama, hook_repo: HookRepo | None) -> Scratch:
    env = git_env(home)
    env.update(OLLAMA_HOST=fake.url, GEMMA_REVIEW_BACKEND="ollama", NO_COLOR="1")
    env["GEMMA_REVIEW_CACHE_DIR"] = os.environ["GEMMA_REVIEW_CACHE_DIR"]  # the test's own cache
    path.mkdir(parents=True, exist_ok=True)
    s = Scratch(path, env, fake, hook_repo)
    must(s.git("init", "-q", "-b", "main"))
    s.write("README.md", "scratch\n")
    must(s.git("add", "README.md"))
    must(s.git("commit", "-q", "--no-verify", "-m", "initial"))
    return s


class Repo:
    """A scratch repository driven by the real git binary, isolated from the user's config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=self.env, capture_output=True, check=True
        )
        return done.stdout.decode("utf-8", "surrogateescape")

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        return path

    def commit(self, message: str = "c") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def diff(self, *args: str) -> str:
        return self.git("diff", "--no-color", *args)
