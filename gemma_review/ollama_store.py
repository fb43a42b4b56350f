"""Find the GGUF file that ``ollama pull`` stored for a model name, without Ollama running.

Layout (Ollama's own): ``$OLLAMA_MODELS`` or ``~/.ollama/models``; the manifest for
``gemma4:e4b`` is ``manifests/registry.ollama.ai/library/gemma4/e4b``; its layer with
media type ``application/vnd.ollama.image.model`` names the blob
``blobs/sha256-<hex>``, which is the GGUF weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import ModelError, ModelNotFoundError

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class OllamaName:
    """``[host/][namespace/]model[:tag]`` with Ollama's defaults filled in."""

    host: str
    namespace: str
    model: str
    tag: str

    def manifest_parts(self) -> tuple[str, str, str, str]:
        return (self.host, self.namespace, self.model, self.tag)


def parse_name(name: str) -> OllamaName:
    """``gemma4:e4b``, ``user/model:tag``, ``host:port/ns/model:tag`` -> parts."""
    text = name.strip()
    if "@" in text:  # a pinned digest: the manifest is still stored under the tag
        text = text.split("@", 1)[0]
    path, tag = text, DEFAULT_TAG
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:  # a colon after the last slash is the tag, not a host port
        path, tag = text[:colon], text[colon + 1 :] or DEFAULT_TAG
    parts = [p for p in path.split("/")]
    if not path or any(not p or p in (".", "..") for p in parts) or len(parts) > 3 or not tag or "/" in tag:
        raise ModelNotFoundError(f"'{name}' is not an Ollama model name such as gemma4:e4b")
    if len(parts) == 1:
        return OllamaName(DEFAULT_REGISTRY, DEFAULT_NAMESPACE, parts[0], tag)
    if len(parts) == 2:
        return OllamaName(DEFAULT_REGISTRY, parts[0], parts[1], tag)
    return OllamaName(parts[0], parts[1], parts[2], tag)


def models_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where Ollama keeps models: ``$OLLAMA_MODELS`` or ``~/.ollama/models``."""
    env = os.environ if env is None else env
    custom = env.get("OLLAMA_MODELS")
    return Path(custom).expanduser() if custom else Path.home() / ".ollama" / "models"


def _display(path: Path) -> str:
    """``~/.ollama/models`` rather than ``/home/me/.ollama/models`` in messages."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def _manifest_path(root: Path, name: OllamaName) -> Path | None:
    exact = root.joinpath("manifests", *name.manifest_parts())
    if exact.is_file():
        return exact
    # Ollama matches names case-insensitively and stores them lower-cased.
    lower = root.joinpath("manifests", *(p.lower() for p in name.manifest_parts()))
    return lower if lower.is_file() else None


def find_model(name: str, root: Path | None = None) -> Path | None:
    """The GGUF blob for ``name``, or None when it was never pulled.

    Raises ``ModelError`` when a manifest exists but is broken or points at a missing
    or non-GGUF blob: that is worth telling the user rather than falling back silently.
    """
    root = models_dir() if root is None else root
    parsed = parse_name(name)
    manifest = _manifest_path(root, parsed)
    if manifest is None:
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        layers = data["layers"]
        digest = next(
            layer["digest"] for layer in layers if layer.get("mediaType") == MODEL_MEDIA_TYPE
        )
    except (OSError, ValueError, KeyError, TypeError, StopIteration, AttributeError):
        raise ModelError(
            f"the Ollama manifest for {name} ({_display(manifest)}) is unreadable or has no model "
            f"layer; run `ollama pull {name}` again"
        ) from None
    algo, _, hexdigest = str(digest).partition(":")
    if not hexdigest or not hexdigest.isalnum():
        raise ModelError(f"the Ollama manifest for {name} has a malformed digest {digest!r}; run `ollama pull {name}` again")
    blob = root / "blobs" / f"{algo}-{hexdigest}"
    try:
        with blob.open("rb") as fh:
            magic = fh.read(4)
    except OSError:
        raise ModelNotFoundError(
            f"the weights of {name} are missing from {_display(root / 'blobs')}; run `ollama pull {name}` again"
        ) from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"the Ollama blob for {name} is not a GGUF file; pass --model-file PATH.gguf instead")
    return blob


def resolve_model(name: str, root: Path | None = None) -> Path:
    """Like :func:`find_model`, but a model that was never pulled is an error."""
    root = models_dir() if root is None else root
    blob = find_model(name, root)
    if blob is None:
        raise ModelNotFoundError(
            f"model {name} is not in {_display(root)}; run `ollama pull {name}` "
            "or pass --model-file PATH.gguf"
        )
    return blob
