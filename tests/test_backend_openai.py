"""The OpenAI-compatible backend: wire format and errors on a mock transport, then end to
end against a real llama.cpp server running Gemma 3 270M."""

from __future__ import annotations

import json
import re
import socket
import threading
from typing import Any, Callable

import httpx
import pytest

from gemma_review.backends.base import ModelRequest
from gemma_review.backends.openai import OpenAIBackend, OpenAIChatClient, api_base, probe_openai
from gemma_review.config import Settings
from gemma_review.errors import ModelError, ModelNotFoundError, ModelUnavailableError, PromptTooLargeError
from tests.real_model import (  # noqa: F401 - fixtures
    OK_SCHEMA,
    REVIEW_MESSAGES,
    STORY_SCHEMA,
    TINY_SCHEMA,
    LlamaServer,
    check_real_reply,
)
from tests.helpers import free_port

SCHEMA = {"type": "object", "properties": {"findings": {"type": "array"}}, "required": ["findings"]}


def request(**kw: Any) -> ModelRequest:
    base: dict[str, Any] = dict(
        messages=[{"role": "user", "content": "review this"}], schema=SCHEMA, num_ctx=4096, num_predict=64
    )
    base.update(kw)
    return ModelRequest(**base)


def sse(*events: Any, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(e)}\n\n" if not isinstance(e, str) else e for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


LLAMA_TAIL = {
    "choices": [],
    "usage": {"prompt_tokens": 120, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 100}},
    "timings": {"cache_n": 100, "prompt_n": 20, "prompt_ms": 250.0, "predicted_n": 3, "predicted_ms": 60.0},
}


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], **kw: Any
) -> tuple[OpenAIChatClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return handler(req)

    client = OpenAIChatClient("http://llm.test:8080", model="gemma4:e4b", transport=httpx.MockTransport(record), **kw)
    return client, seen


def stream_ok(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda req: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


@pytest.mark.parametrize(
    "host, expected",
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://llm.example/openai", "https://llm.example/openai/v1"),
    ],
)
def test_api_base_accepts_host_with_or_without_v1(host: str, expected: str) -> None:
    assert api_base(host) == expected


def test_request_body_is_nested_json_schema_with_thinking_off() -> None:
    client, seen = mock_client(stream_ok(sse(delta('{"findings": []}', "stop"), LLAMA_TAIL)), api_key="sk-test")
    list(client.stream(request(temperature=0.0, seed=7, num_predict=99)))
    (sent,) = seen
    assert sent.url == "http://llm.test:8080/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = json.loads(sent.content)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": SCHEMA, "strict": True},
    }
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 7, 99)
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["model"] == "gemma4:e4b"
    assert "reasoning_format" not in body  # "none" would leak reasoning into the JSON content


@pytest.mark.parametrize("key", ["sk-from-env", ""])
def test_api_key_comes_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("MY_LLM_KEY", key)
    backend = OpenAIBackend(Settings(host="http://127.0.0.1:8080", backend="openai", api_key_env="MY_LLM_KEY"))
    headers = backend.client._get_client().headers
    assert headers.get("authorization") == (f"Bearer {key}" if key else None)
    backend.close()


def test_llama_cpp_usage_and_timings_become_metrics() -> None:
    body = sse(
        ": ping\n\n",
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        delta('{"findings"'),
        "event: message\n",
        delta(": []}"),
        delta("", "length"),
        LLAMA_TAIL,
    )
    client, _ = mock_client(stream_ok(body))
    chunks = list(client.stream(request()))
    assert "".join(c.text for c in chunks) == '{"findings": []}'
    assert [c.done for c in chunks] == [False, False, True]
    m = chunks[-1].metrics
    assert m is not None
    assert (m.prompt_tokens, m.cached_prompt_tokens, m.output_tokens) == (20, 100, 3)
    assert (m.prefill_seconds, m.decode_seconds) == (0.25, 0.06)  # milliseconds -> seconds
    assert m.truncated is True and m.requests == 1
    assert m.time_to_first_token is not None and m.total_seconds >= m.time_to_first_token


def test_servers_without_timings_get_usage_and_wall_clock_metrics() -> None:
    tail = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 2}}
    client, _ = mock_client(stream_ok(sse(delta("{"), delta("}", "stop"), tail)))
    m = list(client.stream(request()))[-1].metrics
    assert m is not None
    assert (m.prompt_tokens, m.cached_prompt_tokens, m.output_tokens, m.truncated) == (50, None, 2, False)
    assert m.prefill_seconds + m.decode_seconds == pytest.approx(m.total_seconds)


def test_stream_without_done_or_finish_reason_is_an_error() -> None:
    client, _ = mock_client(stream_ok(sse(delta('{"find'), done=False)))
    with pytest.raises(ModelUnavailableError, match="closed the stream before the reply was done"):
        list(client.stream(request()))


def test_finish_reason_without_done_marker_still_completes() -> None:
    client, _ = mock_client(stream_ok(sse(delta("{}", "stop"), done=False)))
    assert list(client.stream(request()))[-1].done


LLAMA_CTX_ERROR = {
    "error": {
        "code": 400,
        "message": "request (9000 tokens) exceeds the available context size (4096 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 9000,
        "n_ctx": 4096,
    }
}


@pytest.mark.parametrize(
    "status, payload, error, message",
    [
        (400, LLAMA_CTX_ERROR, PromptTooLargeError,
         "prompt too large for the context: 9000 tokens > n_ctx 4096; raise the server's context size"),
        (400, {"object": "error", "message": "This model's maximum context length is 8192 tokens. However, "
               "you requested 9000 tokens", "type": "BadRequestError", "code": 400},
         PromptTooLargeError, "prompt too large for the context: This model's maximum context length is 8192"),
        (404, {"object": "error", "message": "The model `gemma4:e4b` does not exist.", "type": "NotFoundError"},
         ModelNotFoundError, "model 'gemma4:e4b' is not served by the OpenAI-compatible server at "
         "http://llm.test:8080/v1: The model `gemma4:e4b` does not exist."),
        (404, "Not Found", ModelError, "has no /chat/completions (HTTP 404); is it an OpenAI-compatible server?"),
        (401, {"error": {"message": "Invalid API Key", "type": "authentication_error"}}, ModelError,
         "refused the request (HTTP 401): Invalid API Key; check the API key"),
        (500, {"error": {"code": 500, "message": "failed to parse grammar", "type": "server_error"}},
         ModelError, "answered HTTP 500: failed to parse grammar"),
        (503, {"error": "Loading model"}, ModelError, "answered HTTP 503: Loading model"),
    ],
)
def test_http_errors_become_one_clear_error(
    status: int, payload: Any, error: type[Exception], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gemma_review.backends.openai.RETRY_BASE", 0.001)  # 503 is retried: no real waits
    content = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    client, _ = mock_client(lambda req: httpx.Response(status, content=content))
    with pytest.raises(error) as info:
        list(client.stream(request()))
    assert type(info.value) is error
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_model_lists_what_the_server_serves() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "qwen3-8b"}, {"id": "gemma-3-4b"}]})
        return httpx.Response(404, json={"error": {"message": "model 'gemma4:e4b' not found", "type": "not_found_error"}})

    client, _ = mock_client(handler)
    with pytest.raises(ModelNotFoundError) as info:
        list(client.stream(request()))
    assert str(info.value).endswith("not found; it serves qwen3-8b, gemma-3-4b (set --model)")


def test_refused_api_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    backend = OpenAIBackend(Settings(host="http://llm.test:8080", backend="openai", api_key_env="MY_LLM_KEY"))
    backend.client._transport = httpx.MockTransport(
        lambda req: httpx.Response(401, json={"error": {"message": "Invalid API Key"}})
    )
    with pytest.raises(ModelError, match=r"\(HTTP 401\): Invalid API Key; put the key in \$MY_LLM_KEY$"):
        list(backend.stream_chat(request()))


def test_error_event_in_the_middle_of_the_stream() -> None:
    body = sse(delta("{"), {"error": {"code": 500, "message": "decode failed", "type": "server_error"}})
    client, _ = mock_client(stream_ok(body))
    with pytest.raises(ModelError, match="reported an error: decode failed"):
        list(client.stream(request()))


def test_strict_servers_that_reject_chat_template_kwargs_are_retried_without_it() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if "chat_template_kwargs" in json.loads(req.content):
            return httpx.Response(400, json={"error": {"message": "Unrecognized request argument supplied: "
                                                       "chat_template_kwargs", "type": "invalid_request_error"}})
        return httpx.Response(200, content=sse(delta("{}", "stop")))

    client, seen = mock_client(handler)
    assert list(client.stream(request()))[-1].done
    assert list(client.stream(request()))[-1].done
    assert len(seen) == 3  # the second review goes straight to the plain request


def test_connection_refused_is_model_unavailable() -> None:
    host = f"http://127.0.0.1:{free_port()}"
    backend = OpenAIBackend(Settings(host=host, backend="openai"))
    with pytest.raises(ModelUnavailableError) as info:
        list(backend.stream_chat(request()))
    assert str(info.value) == (
        f"cannot reach the OpenAI-compatible server at {host}/v1: connection refused; start it or fix --host"
    )
    assert probe_openai(host, timeout=0.5) is None


class SilentServer:
    """Answers headers for an SSE stream, then sends nothing (like a long prefill) and
    records when the client hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hung_up = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.settimeout(60)
            while True:
                try:
                    if not conn.recv(65536):
                        break
                except OSError:
                    break
            self.hung_up.set()

    def close(self) -> None:
        self.sock.close()


def test_cancel_while_waiting_for_the_first_token_hangs_up_at_once() -> None:
    server = SilentServer()
    try:
        backend = OpenAIBackend(Settings(host=server.url, backend="openai"))
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        # Without the watch this would block until the 60 s read timeout and then raise.
        assert list(backend.stream_chat(request(timeout=60.0), cancel)) == []
        assert server.hung_up.wait(10)
    finally:
        server.close()


def test_cancel_set_before_the_request_sends_nothing() -> None:
    client, seen = mock_client(stream_ok(sse(delta("{}", "stop"))))
    cancel = threading.Event()
    cancel.set()
    assert list(client.stream(request(), cancel)) == []
    assert seen == []


# --- end to end on the real model -------------------------------------------------------


def real_request(**kw: Any) -> ModelRequest:
    base: dict[str, Any] = dict(messages=REVIEW_MESSAGES, schema=TINY_SCHEMA, num_ctx=4096, num_predict=96)
    base.update(kw)
    return ModelRequest(**base)


@pytest.mark.real_model
def test_real_review_stream_is_schema_valid_with_llama_cpp_metrics(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(Settings(host=llama_server.url + "/v1", backend="openai"))
    try:
        first = list(backend.stream_chat(real_request()))
        check_real_reply(first, TINY_SCHEMA)
        # The same prompt again: llama.cpp reuses its cache and says so in the timings.
        again = list(backend.stream_chat(real_request()))
        check_real_reply(again, TINY_SCHEMA)
        m1, m2 = first[-1].metrics, again[-1].metrics
        assert m1 is not None and m2 is not None
        assert m2.cached_prompt_tokens is not None and m2.cached_prompt_tokens > 0
        assert m2.prompt_tokens + m2.cached_prompt_tokens == m1.prompt_tokens + (m1.cached_prompt_tokens or 0)
        info = backend.info()
        assert info.detail["reachable"] and info.detail["n_ctx"] == llama_server.n_ctx
    finally:
        backend.close()


@pytest.mark.real_model
@pytest.mark.parametrize("how", ["event", "close"])
def test_real_cancel_midway_stops_generation(llama_server: LlamaServer, how: str) -> None:
    backend = OpenAIBackend(Settings(host=llama_server.url, backend="openai"))
    try:
        before = llama_server.metrics()["llamacpp:tokens_predicted_total"]
        cancel = threading.Event()
        stream = backend.stream_chat(
            real_request(schema=STORY_SCHEMA, num_predict=400,
                         messages=[{"role": "user", "content": "Write a very long story about a lighthouse."}]),
            cancel,
        )
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
        # The next request on the single slot works and completes.
        after_chunks = list(backend.stream_chat(real_request(schema=OK_SCHEMA)))
        check_real_reply(after_chunks, OK_SCHEMA)
        after = llama_server.metrics()["llamacpp:tokens_predicted_total"]
        follow = after_chunks[-1].metrics
        assert follow is not None
        cancelled_tokens = after - before - follow.output_tokens
        assert 3 <= cancelled_tokens < 40  # far short of the 400 it was allowed
    finally:
        backend.close()


@pytest.mark.real_model
def test_real_cancel_during_prefill_stops_before_any_token(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(Settings(host=llama_server.url, backend="openai"))
    try:
        before = llama_server.metrics()["llamacpp:tokens_predicted_total"]
        long_prompt = "def f(x):\n    return x + 1\n" * 240  # ~3100 tokens: seconds of prefill on a CPU
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        got = list(backend.stream_chat(real_request(messages=[{"role": "user", "content": long_prompt}]), cancel))
        assert got == []
        follow = list(backend.stream_chat(real_request(schema=OK_SCHEMA)))
        check_real_reply(follow, OK_SCHEMA)
        assert follow[-1].metrics is not None
        after = llama_server.metrics()["llamacpp:tokens_predicted_total"]
        assert after - before == follow[-1].metrics.output_tokens  # the cancelled one never decoded
    finally:
        backend.close()


@pytest.mark.real_model
def test_real_prompt_longer_than_the_context_is_prompt_too_large(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(Settings(host=llama_server.url, backend="openai"))
    try:
        big = real_request(messages=[{"role": "user", "content": "x = 1\n" * 3000}])
        with pytest.raises(PromptTooLargeError) as info:
            list(backend.stream_chat(big))
        assert re.fullmatch(
            r"prompt too large for the context: \d+ tokens > n_ctx 4096; "
            r"raise the server's context size \(llama-server -c\) or review a smaller change",
            str(info.value),
        )
    finally:
        backend.close()
