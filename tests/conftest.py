"""Shared fixtures: an isolated cache and environment for every test, the fake Ollama server,
a work folder holding streak.py, a machine where no backend is available.

Plain helpers live in tests/helpers.py; test modules never import one another."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gemma_review import smoke_model
from gemma_review.backends import embedded, ollama
from tests.fake_ollama import FakeOllama, Reply  # noqa: F401 - re-exported for tests
# Session fixtures defined once here so every module shares one model file and one server.
from tests.real_model import llama_server, smoke_gguf  # noqa: F401
from tests.helpers import SAMPLES


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the user's cache, config or Ollama host."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GEMMA_REVIEW_CACHE_DIR", str(cache))
    monkeypatch.setenv("OLLAMA_MODELS", str(cache / "no-ollama-models"))  # never a developer's pulled models
    monkeypatch.setenv("GEMMA_REVIEW_CONFIG", str(cache / "user-config.toml"))  # absent unless a test writes it
    for var in ("OLLAMA_HOST", "GEMMA_REVIEW_MODEL", "GEMMA_REVIEW_HOST", "GEMMA_REVIEW_BACKEND",
                "GEMMA_REVIEW_MODEL_FILE", "GEMMA_REVIEW_SKIP", "GEMMA_REVIEW_ALLOW_REMOTE", "GEMMA_REVIEW_TIMEOUT", "SKIP", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake_ollama() -> FakeOllama:
    with FakeOllama() as server:
        yield server


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder, holding a copy of samples/streak.py."""
    shutil.copy(SAMPLES / "streak.py", tmp_path / "streak.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def streak(tmp_path: Path) -> Path:
    """A copy of samples/streak.py (the current folder is left alone)."""
    path = tmp_path / "streak.py"
    path.write_text((SAMPLES / "streak.py").read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Nothing available: no Ollama, an empty Ollama store, no smoke model. Tests add things."""
    state: dict[str, Any] = {"ollama": None, "smoke": None, "xllamacpp": True}
    monkeypatch.setattr(ollama, "probe_ollama", lambda host, timeout=1.0: state["ollama"])
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama-models"))
    monkeypatch.setattr(smoke_model, "smoke_model_installed", lambda: state["smoke"] is not None)
    monkeypatch.setattr(smoke_model, "smoke_model_path", lambda cache_dir=None: state["smoke"])
    monkeypatch.setattr(embedded, "embedded_available", lambda: state["xllamacpp"])
    state["store"] = tmp_path / "ollama-models"
    state["gguf"] = tmp_path / "file.gguf"
    state["gguf"].write_bytes(b"GGUF" + bytes(16))
    return state
