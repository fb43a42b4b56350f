"""Embedded backend: llama.cpp inside this process through ``xllamacpp``, no daemon.

The model is loaded once per process and reused. Requests go to llama.cpp's own server
loop through a private Unix socket (a 0700 temporary folder; no TCP port) rather than
``Server.handle_chat_completions``: that in-process call cannot be interrupted before the
first token, so a cancelled review of a long unit would hold the model for the whole
prefill, while over the socket llama.cpp notices the closed connection and stops within
one batch. Where Unix sockets are unavailable the server listens on a random loopback
port guarded by a random API key.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx

from ..config import Settings
from ..errors import ModelError, ModelNotFoundError
from ..smoke_model import install_advice
from . import gguf_tokenizer
from .base import BackendInfo, Chunk, ModelRequest
from .openai import OpenAIChatClient

INSTALL_HINT = "the embedded backend needs: pip install 'gemma-review[embedded]'"
GGUF_MAGIC = b"GGUF"
# Prompt batches of this size: llama.cpp checks for cancellation between batches.
N_BATCH = 512

USE_UNIX_SOCKET = hasattr(socket, "AF_UNIX") and os.name != "nt"


def import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError:
        raise ModelError(INSTALL_HINT) from None
    return xllamacpp


def embedded_available() -> bool:
    """True when ``xllamacpp`` can be imported (the ``embedded`` extra is installed)."""
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


def check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        # Nothing is downloaded at run time: say where a model file comes from.
        raise ModelNotFoundError(
            f"model file {path} does not exist; gemma-review never downloads models: point "
            "--model-file (model_file) at a GGUF on this disk, `ollama pull` one, or install the "
            f"demo model with {install_advice()}"
        ) from None
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file")


@dataclass
class LoadedModel:
    """One llama.cpp server living in this process."""

    path: Path
    n_ctx: int
    server: Any
    base_url: str
    api_key: str | None
    socket_path: str | None
    socket_dir: str | None
    version: str = ""

    def transport(self) -> httpx.BaseTransport | None:
        return httpx.HTTPTransport(uds=self.socket_path) if self.socket_path else None

    def unload(self) -> None:
        server, self.server = self.server, None
        del server  # the C++ destructor stops the server loop and frees the model
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


class ModelHost:
    """The process-wide model: loaded on first use, reused, replaced when the file or the
    context size changes (one model in memory at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def get(self, path: Path, n_ctx: int) -> LoadedModel:
        path = path.resolve()
        with self._lock:
            current = self._loaded
            if current is not None and current.path == path and current.n_ctx == n_ctx:
                return current
            if current is not None:
                self._loaded = None
                current.unload()
            self._loaded = self._load(path, n_ctx)
            return self._loaded

    def _load(self, path: Path, n_ctx: int) -> LoadedModel:
        xlc = import_xllamacpp()
        check_gguf(path)
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.n_batch = N_BATCH
        params.verbosity = 0  # llama.cpp's loading chatter would land in the user's terminal
        params.endpoint_slots = False
        params.endpoint_metrics = True  # private socket; used below to sync with the loop
        params.ui = False
        socket_dir = socket_path = api_key = None
        if USE_UNIX_SOCKET:
            socket_dir = tempfile.mkdtemp(prefix="gemma-review-")  # mode 0700: only this user
            socket_path = os.path.join(socket_dir, "llama.sock")
            params.hostnames = [socket_path]
        else:
            params.hostnames = ["127.0.0.1"]
            params.port = 0
            api_key = secrets.token_urlsafe(24)
            params.api_keys = [api_key]
        try:
            server = xlc.Server(params)
        except (RuntimeError, ValueError):
            if socket_dir:
                shutil.rmtree(socket_dir, ignore_errors=True)
            raise ModelError(
                f"llama.cpp could not load {path}: the file may be damaged, its architecture "
                "unsupported by this xllamacpp, or memory short"
            ) from None
        # xllamacpp's Server() returns just before its loop thread starts; deleting it in
        # that window loses the stop request and hangs the process at exit. A metrics
        # query is answered by the loop itself, so once it returns the loop is running.
        server.handle_metrics()
        base_url = "http://localhost" if socket_path else str(server.listening_address)
        return LoadedModel(
            path=path,
            n_ctx=n_ctx,
            server=server,
            base_url=base_url,
            api_key=api_key,
            socket_path=socket_path,
            socket_dir=socket_dir,
            version=str(getattr(xlc, "__version__", "")),
        )

    def unload(self) -> None:
        with self._lock:
            current, self._loaded = self._loaded, None
        if current is not None:
            current.unload()


MODEL_HOST = ModelHost()


class LocalTokenizers:
    """The GGUF's tokenizer in this process (see ``gguf_tokenizer``), per model file.

    Built in a background thread on first use; until it is ready, and for good when it
    cannot be built or its first count differs from llama.cpp's, counts come from ``/tokenize``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[Path, Any] = {}  # path -> "loading" | tokenizer | None (not usable)
        self._ready: dict[Path, threading.Event] = {}
        self._checked: set[Path] = set()

    def get(self, path: Path, cache_dir: Path, wait: bool = False) -> Any:
        with self._lock:
            if path not in self._state:
                self._state[path] = "loading"
                self._ready[path] = done = threading.Event()
                threading.Thread(target=self._load, args=(path, cache_dir, done), daemon=True).start()
            ready = self._ready[path]
        if wait:
            ready.wait()
        got = self._state.get(path)
        return None if got == "loading" else got

    def _load(self, path: Path, cache_dir: Path, done: threading.Event) -> None:
        try:
            got = gguf_tokenizer.load(path, cache_dir) if gguf_tokenizer.tokenizers_available() else None
        except Exception:  # noqa: BLE001 - an unsupported vocab keeps /tokenize
            got = None
        self._state[path] = got
        done.set()

    def checked(self, path: Path) -> bool:
        return path in self._checked

    def verdict(self, path: Path, same: bool) -> None:
        """The first in-process count agreed with llama.cpp's (or not: never used again)."""
        with self._lock:
            self._checked.add(path)
            if not same:
                self._state[path] = None


LOCAL_TOKENIZERS = LocalTokenizers()
# Stop llama.cpp's threads before the interpreter tears down the objects they use.
atexit.register(MODEL_HOST.unload)


def resolve_model_path(settings: Settings) -> Path:
    """``settings.model_file`` if set, else the GGUF that ``ollama pull`` stored."""
    if settings.model_file:
        return Path(settings.model_file).expanduser()
    from ..ollama_store import resolve_model

    return resolve_model(settings.model)


class EmbeddedBackend:
    """llama.cpp in this process. Construction is cheap (it checks the file); the model
    loads on the first request or on :meth:`load`."""

    name = "embedded"

    def __init__(self, settings: Settings, host: ModelHost | None = None) -> None:
        import_xllamacpp()
        self.settings = settings
        self.path = resolve_model_path(settings)
        check_gguf(self.path)
        # The model actually used names the results (and their cache entries).
        self.model = self.path.name if settings.model_file else settings.model
        self._host = host or MODEL_HOST
        self._client: OpenAIChatClient | None = None
        self._client_for: LoadedModel | None = None
        self._lock = threading.Lock()

    def load(self, n_ctx: int | None = None) -> LoadedModel:
        """Load the model now (the first review would otherwise pay for it)."""
        return self._host.get(self.path, n_ctx or self.settings.num_ctx)

    def _client_for_model(self, loaded: LoadedModel) -> OpenAIChatClient:
        with self._lock:
            if self._client is None or self._client_for is not loaded:
                if self._client is not None:
                    self._client.close()
                self._client = OpenAIChatClient(
                    loaded.base_url,
                    model=self.model,
                    api_key=loaded.api_key,
                    transport=loaded.transport(),
                    where=f"the embedded llama.cpp ({self.path.name})",
                    ctx_hint="raise num_ctx or review a smaller change",
                    unreachable_hint="the in-process model stopped; run the review again",
                )
                self._client_for = loaded
            return self._client

    def stream_chat(self, request: ModelRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        loaded = self.load(request.num_ctx)
        yield from self._client_for_model(loaded).stream(request, cancel)

    def local_tokenizer(self, wait: bool = False) -> Any:
        """The GGUF's tokenizer in this process (None while it loads, or when unusable)."""
        from ..smoke_model import models_dir

        return LOCAL_TOKENIZERS.get(self.path.resolve(), models_dir(self.settings.cache_dir), wait)

    def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """llama.cpp's counts: from the GGUF's tokenizer in this process once it is ready and
        its first count matched llama.cpp's ``/tokenize`` (over the private socket), which
        answers until then (it costs about 20 µs per token, the local one about 1)."""
        local = self.local_tokenizer()
        if local is not None and LOCAL_TOKENIZERS.checked(self.path.resolve()):
            return gguf_tokenizer.count(local, messages)
        served = self._client_for_model(self.load()).count_tokens(messages)
        if local is not None and served is not None:
            LOCAL_TOKENIZERS.verdict(self.path.resolve(), gguf_tokenizer.count(local, messages) == served)
        return served

    def context_size(self) -> tuple[int | None, str]:
        return self.settings.num_ctx, "the embedded llama.cpp loads num_ctx"

    def info(self) -> BackendInfo:
        loaded = self._host.loaded
        is_this = loaded is not None and loaded.path == self.path.resolve()
        detail: dict[str, Any] = {
            "path": str(self.path),
            "size_mb": round(self.path.stat().st_size / 2**20, 1),
            "loaded": is_this,
        }
        if is_this and loaded is not None:
            detail["n_ctx"] = loaded.n_ctx
            detail["xllamacpp"] = loaded.version
        return BackendInfo(name=self.name, model=self.model, detail=detail)

    def close(self) -> None:
        """Closes this backend's connection; the model stays loaded for the process."""
        with self._lock:
            client, self._client, self._client_for = self._client, None, None
        if client is not None:
            client.close()
