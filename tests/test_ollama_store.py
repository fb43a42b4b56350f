"""Resolving Ollama model names to the GGUF blobs that `ollama pull` stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemma_review.errors import ModelError, ModelNotFoundError
from gemma_review.ollama_store import (
    OllamaName,
    find_model,
    models_dir,
    parse_name,
    resolve_model,
)
from tests.helpers import write_model


@pytest.mark.parametrize(
    "name, expected",
    [
        ("gemma4:e4b", OllamaName("registry.ollama.ai", "library", "gemma4", "e4b")),
        ("gemma4", OllamaName("registry.ollama.ai", "library", "gemma4", "latest")),
        ("gemma4:", OllamaName("registry.ollama.ai", "library", "gemma4", "latest")),
        ("someone/coder:7b", OllamaName("registry.ollama.ai", "someone", "coder", "7b")),
        ("hf.co/org/model-GGUF:Q4_K_M", OllamaName("hf.co", "org", "model-GGUF", "Q4_K_M")),
        ("localhost:5000/team/model", OllamaName("localhost:5000", "team", "model", "latest")),
        ("localhost:5000/team/model:v2", OllamaName("localhost:5000", "team", "model", "v2")),
        ("gemma4:e4b@sha256:abc", OllamaName("registry.ollama.ai", "library", "gemma4", "e4b")),
    ],
)
def test_parse_name(name: str, expected: OllamaName) -> None:
    assert parse_name(name) == expected


@pytest.mark.parametrize("name", ["", "a/b/c/d", "../etc:passwd", "a//b", ":tag"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ModelNotFoundError, match="is not an Ollama model name such as gemma4:e4b"):
        parse_name(name)


@pytest.mark.parametrize(
    "name", ["gemma4:e4b", "gemma4", "someone/coder:7b", "hf.co/org/model-GGUF:Q4_K_M", "localhost:5000/team/model:v2"]
)
def test_resolve_finds_the_model_layer_blob(tmp_path: Path, name: str) -> None:
    blob = write_model(tmp_path, name)
    assert resolve_model(name, tmp_path) == blob
    assert find_model(name, tmp_path) == blob


def test_default_tag_is_latest(tmp_path: Path) -> None:
    blob = write_model(tmp_path, "gemma4:latest")
    assert resolve_model("gemma4", tmp_path) == blob


def test_names_match_case_insensitively_like_ollama(tmp_path: Path) -> None:
    blob = write_model(tmp_path, "gemma4:e4b", manifest_path="registry.ollama.ai/library/gemma4/e4b")
    assert resolve_model("Gemma4:E4B", tmp_path) == blob


def test_models_dir_honours_ollama_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models_dir({"OLLAMA_MODELS": str(tmp_path)}) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models_dir({}) == tmp_path / "home" / ".ollama" / "models"
    blob = write_model(tmp_path / "store", "gemma4:e4b")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "store"))
    assert resolve_model("gemma4:e4b") == blob


def test_missing_model_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    root = tmp_path / ".ollama" / "models"
    write_model(root, "gemma4:e2b")  # another tag is not enough
    assert find_model("gemma4:e4b", root) is None
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("gemma4:e4b", root)
    assert str(info.value) == (
        "model gemma4:e4b is not in ~/.ollama/models; run `ollama pull gemma4:e4b` "
        "or pass --model-file PATH.gguf"
    )


def test_missing_model_outside_home_shows_the_full_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=f"is not in {tmp_path}; run"):
        resolve_model("gemma4:e4b", tmp_path)


@pytest.mark.parametrize(
    "manifest",
    [
        "not json",
        json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:1"}]}),
        json.dumps({"config": {}}),
        json.dumps([1, 2]),
    ],
)
def test_broken_manifest_is_a_clear_error(tmp_path: Path, manifest: str) -> None:
    where = tmp_path / "manifests/registry.ollama.ai/library/gemma4/e4b"
    where.parent.mkdir(parents=True)
    where.write_text(manifest)
    with pytest.raises(ModelError, match=r"manifest for gemma4:e4b .* run `ollama pull gemma4:e4b` again"):
        find_model("gemma4:e4b", tmp_path)


def test_manifest_whose_blob_is_gone(tmp_path: Path) -> None:
    blob = write_model(tmp_path, "gemma4:e4b")
    blob.unlink()
    with pytest.raises(ModelNotFoundError, match="weights of gemma4:e4b are missing .* run `ollama pull gemma4:e4b` again"):
        find_model("gemma4:e4b", tmp_path)


def test_blob_that_is_not_gguf(tmp_path: Path) -> None:
    write_model(tmp_path, "gemma4:e4b", weights=b"\x00\x01 safetensors?")
    with pytest.raises(ModelError, match="is not a GGUF file; pass --model-file PATH.gguf instead"):
        find_model("gemma4:e4b", tmp_path)
