"""The Ollama backend through the real ``ollama`` client against the fake server."""

from __future__ import annotations

import threading
import time

import pytest

from gemma_review.backends.base import ModelRequest
from gemma_review.backends.ollama import OllamaBackend, probe_ollama
from gemma_review.config import Settings
from gemma_review.errors import ModelNotFoundError, ModelUnavailableError
from gemma_review.prompt import REVIEW_SCHEMA
from tests.fake_ollama import FakeOllama, Reply

REQUEST = ModelRequest(
    messages=[{"role": "system", "content": "review"}, {"role": "user", "content": "x = 1"}],
    schema=REVIEW_SCHEMA, num_ctx=4096, num_predict=64, timeout=30,
)


def backend(url: str, model: str = "gemma4:e4b") -> OllamaBackend:
    return OllamaBackend(Settings(host=url, model=model, backend="ollama"))


@pytest.mark.parametrize("cancellable", [False, True])
def test_stream_and_metrics_in_seconds(fake_ollama: FakeOllama, cancellable: bool) -> None:
    fake_ollama.set_reply(Reply(text='{"findings": []}', chunk_chars=3, first_token_delay=0.05))
    chunks = list(backend(fake_ollama.url).stream_chat(REQUEST, threading.Event() if cancellable else None))
    assert "".join(c.text for c in chunks) == '{"findings": []}'
    m = chunks[-1].metrics
    assert chunks[-1].done and m is not None
    assert m.prompt_tokens > 0 and m.output_tokens == 6
    assert 0.04 < m.prefill_seconds < 5  # nanoseconds converted
    assert m.time_to_first_token is not None and m.time_to_first_token >= 0.04
    body = fake_ollama.requests[-1]
    assert body["think"] is False and body["options"]["num_ctx"] == 4096 and body["format"] == REVIEW_SCHEMA


def test_cancel_during_prefill_hangs_up_at_once(fake_ollama: FakeOllama) -> None:
    """Ollama sends nothing before the first token: cancelling must still close the request."""
    fake_ollama.set_reply(Reply(text='{"findings": []}', first_token_delay=4.0))
    cancel = threading.Event()
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.extend(backend(fake_ollama.url).stream_chat(REQUEST, cancel)))
    worker.start()
    assert fake_ollama.wait(lambda f: len(f.requests) == 1, timeout=5)
    started = time.monotonic()
    cancel.set()
    worker.join(timeout=3)
    assert not worker.is_alive(), "the stream kept waiting for the first token after cancel"
    assert time.monotonic() - started < 3 and got == []
    assert fake_ollama.wait(lambda f: f.cancelled >= 1, timeout=8)


def test_errors_are_one_line(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^model 'nope:1b' is not pulled; run `ollama pull nope:1b`$"):
        list(backend(fake_ollama.url, "nope:1b").stream_chat(REQUEST))
    fake_ollama.set_reply(Reply(disconnect=True))
    with pytest.raises(ModelUnavailableError, match="ollama serve"):
        list(backend(fake_ollama.url).stream_chat(REQUEST))


def test_probe(fake_ollama: FakeOllama) -> None:
    assert probe_ollama(fake_ollama.url) == "0.21.1"
    assert probe_ollama("http://127.0.0.1:9", timeout=0.5) is None
