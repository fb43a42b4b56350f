"""Shared fixtures: an isolated cache and environment for every test, the fake Ollama server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply  # noqa: F401 - re-exported for tests
# Session fixtures defined once here so every module shares one model file and one server.
from tests.real_model import llama_server, smoke_gguf  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


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
