"""Which engine reviews a document, with which settings, and what it is shown.

Settings come from the configuration file nearest the document, the environment and
the editor (highest). Engines are shared by every document with the same settings and
root, so the model client and its connection are reused; they use the same on-disk
cache as the CLI and the hook. An engine replaced by a settings change is closed once
the reviews still using it have finished.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping

from gemma_review.config import LoadedSettings, Settings, editor_setting_name, load_settings
from gemma_review.engine import ReviewEngine
from gemma_review.git_repo import find_root
from gemma_review.intake import FileChange, from_buffer, head_text
from gemma_review.languages import language_of

from .lines import for_engine
from .options import EditorOptions

# LSP languageIds (the names VS Code and Neovim use) -> a file name suffix, so an untitled
# buffer is reviewed, and its findings silenced, in the language the editor says it is.
LANGUAGE_SUFFIXES = {
    "python": ".py", "javascript": ".js", "javascriptreact": ".jsx", "typescript": ".ts",
    "typescriptreact": ".tsx", "go": ".go", "rust": ".rs", "c": ".c", "cpp": ".cpp", "csharp": ".cs",
    "java": ".java", "kotlin": ".kt", "ruby": ".rb", "php": ".php", "shellscript": ".sh", "sh": ".sh",
    "bash": ".sh", "lua": ".lua", "sql": ".sql", "swift": ".swift", "scala": ".scala", "haskell": ".hs",
    "elixir": ".ex", "perl": ".pl", "r": ".r", "julia": ".jl", "dart": ".dart", "zig": ".zig",
}


@dataclass(frozen=True)
class Target:
    """A document as the engine sees it."""

    path: Path | None  # on disk; None for untitled buffers
    shown: str  # the path the model and the findings use (repository-relative when possible)
    repo: Path | None  # the git work tree holding it


def git_root(path: Path) -> Path | None:
    """The work tree holding ``path``, found as review --staged and the hook find it
    (git itself), spelled like ``path`` (git answers with the real path)."""
    root = find_root(path.parent)
    if root is None:
        return None
    real = os.path.realpath(root)
    for folder in path.parents:
        if os.path.realpath(folder) == real:
            return folder
    return root


def target_for(path: Path | None, name: str, workspace_roots: list[Path]) -> Target:
    if path is None:
        return Target(None, name, None)
    repo = git_root(path)
    for base in ([repo] if repo else []) + workspace_roots:
        try:
            return Target(path, path.relative_to(base).as_posix(), repo)
        except ValueError:
            continue
    return Target(path, path.name, repo)


def untitled_name(uri: str, language_id: str | None) -> str:
    """The name an unsaved buffer is reviewed under: ``Untitled-1`` + its language's suffix."""
    name = uri.split(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1] or "untitled"
    suffix = LANGUAGE_SUFFIXES.get((language_id or "").lower())
    if suffix is None:
        return name
    wanted = language_of(f"x{suffix}")
    if (wanted is not None and language_of(name) != wanted) or (wanted is None and PurePosixPath(name).suffix.lower() != suffix):
        name += suffix  # the editor's language wins over what the name looks like
    return name


def document_change(target: Target, text: str, scope: str) -> FileChange:
    """The buffer as a change: against HEAD in git (unsaved edits included), else the whole file.

    ``text`` is the buffer as the engine sees it (``lines.for_engine``); HEAD's text is
    read the same way so the two compare line for line.
    """
    base = None
    if scope == "changes" and target.repo is not None and target.path is not None:
        base = head_text(target.repo, target.path)
        if base is not None:
            base = for_engine(base)
    return from_buffer(target.shown, text, base, target.path)


class EngineHub:
    def __init__(self, workspace_roots: list[Path], env: Mapping[str, str] | None = None) -> None:
        self.workspace_roots = workspace_roots
        self.env = env
        self._lock = threading.Lock()
        self._engines: dict[tuple[str, str], ReviewEngine] = {}
        self._users: dict[int, int] = {}
        self._retired: list[ReviewEngine] = []

    def settings_for(self, target: Target, editor: EditorOptions) -> LoadedSettings:
        """Defaults < configuration file < environment < editor. Raises ConfigError."""
        if target.path is not None:
            start = target.path.parent
        elif self.workspace_roots:
            start = self.workspace_roots[0]
        else:
            start = Path.cwd()
        if not start.is_dir():
            start = Path.cwd()
        return load_settings(start, env=self.env, overrides=editor.values, override_name=editor_setting_name)

    def root_for(self, loaded: LoadedSettings, target: Target) -> Path:
        """Where guidelines are looked up: the config file's folder, the repository, the workspace."""
        if loaded.config_file is not None:
            return loaded.root
        if target.repo is not None:
            return target.repo
        if target.path is not None:
            for root in self.workspace_roots:
                if root in target.path.parents:
                    return root
        return loaded.root

    def acquire(self, settings: Settings, root: Path) -> ReviewEngine:
        key = (str(root), repr(settings))
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = ReviewEngine(settings, root=root)
                self._engines[key] = engine
            self._users[id(engine)] = self._users.get(id(engine), 0) + 1
            return engine

    def release(self, engine: ReviewEngine) -> None:
        with self._lock:
            left = self._users.get(id(engine), 1) - 1
            self._users[id(engine)] = left
            close = left <= 0 and engine in self._retired
            if close:
                self._retired.remove(engine)
                self._users.pop(id(engine), None)
        if close:
            engine.close()

    def retire_all(self) -> None:
        """Settings changed: new reviews get new engines; old ones close when unused."""
        with self._lock:
            old = list(self._engines.values())
            self._engines.clear()
            idle = [e for e in old if self._users.get(id(e), 0) <= 0]
            self._retired.extend(e for e in old if e not in idle)
        for engine in idle:
            self._users.pop(id(engine), None)
            engine.close()

    def close(self) -> None:
        with self._lock:
            engines = list(self._engines.values()) + self._retired
            self._engines.clear()
            self._retired.clear()
        for engine in engines:
            engine.close()
