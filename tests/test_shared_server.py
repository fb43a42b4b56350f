"""A shared OpenAI-compatible server: the API key goes only to the configured host (and
nowhere else: logs, cache, errors, reports), busy answers (429/503) are retried with backoff."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemma_review.backends import openai as openai_backend
from gemma_review.backends.base import ModelRequest
from gemma_review.backends.openai import OpenAIChatClient, retry_delay
from gemma_review.errors import ModelError
from gemma_review.runner import CancelToken
from gemma_review.cli import main
from tests.helpers import finding_json, reply

KEY = "sk-test-0123456789-secret"


# --- a recording OpenAI-compatible server --------------------------------------------------------


class Recorder:
    """Answers /v1/models and streamed /v1/chat/completions; records every request's headers.

    ``busy`` answers the first that many chat requests with ``busy_status`` (and Retry-After).
    ``status`` answers every chat request with that error and ``error_text``.
    ``redirect`` answers every request with a 307 to that URL."""

    def __init__(self, content: str = reply(), busy: int = 0, busy_status: int = 429, retry_after: str | None = "0",
                 status: int | None = None, error_text: str = "", redirect: str | None = None) -> None:
        self.content, self.busy, self.busy_status, self.retry_after = content, busy, busy_status, retry_after
        self.status, self.error_text, self.redirect = status, error_text, redirect
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers.items()), "body": body, "at": time.monotonic()})

            def do_GET(self) -> None:
                self._record()
                if recorder.redirect:
                    self._send(307, b"", extra={"Location": recorder.redirect + self.path})
                elif self.path == "/v1/models":
                    self._send(200, json.dumps({"data": [{"id": "gemma4:e4b"}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                self._record()
                chats = sum(1 for r in recorder.requests if r["path"] == "/v1/chat/completions")
                if recorder.redirect:
                    self._send(307, b"", extra={"Location": recorder.redirect + self.path})
                elif recorder.status is not None:
                    self._send(recorder.status, json.dumps({"error": {"message": recorder.error_text}}).encode())
                elif chats <= recorder.busy:
                    extra = {"Retry-After": recorder.retry_after} if recorder.retry_after is not None else {}
                    self._send(recorder.busy_status, b'{"error": {"message": "all slots are busy"}}', extra=extra)
                else:
                    events = [{"choices": [{"index": 0, "delta": {"content": recorder.content}, "finish_reason": None}]},
                              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 50, "completion_tokens": 20}}]
                    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                    self._send(200, body.encode(), ctype="text/event-stream")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def everything_written(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def review_openai(capsys, host: str, *extra: str) -> tuple[int, str, str]:
    code = main(["review", "streak.py", "--backend", "openai", "--host", host, "--model", "gemma4:e4b", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def review_with_key(capsys, monkeypatch, host: str, *extra: str) -> tuple[int, str, str]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return review_openai(capsys, host, *extra)


# --- the key ----------------------------------------------------------------------------------


def test_the_key_reaches_only_the_configured_host_and_is_written_nowhere(work: Path, capsys, monkeypatch,
                                                                          tmp_path: Path) -> None:
    import os

    cache = Path(os.environ["GEMMA_REVIEW_CACHE_DIR"])
    with Recorder(content=reply(finding_json()), busy=1) as server:
        out_file = tmp_path / "report.json"
        code, out, err = review_with_key(capsys, monkeypatch, server.url, "--format", "sarif",
                                         "--report", f"json={out_file}", "--summary", str(tmp_path / "s.md"))
    assert code == 1, err
    chats = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 2  # the busy answer was retried
    assert server.requests  # every request to the configured host carried the key, in Authorization only
    for r in server.requests:
        assert r["headers"]["Authorization"] == f"Bearer {KEY}"
        others = {k: v for k, v in r["headers"].items() if k != "Authorization"}
        assert KEY not in json.dumps(others) and KEY.encode() not in r["body"]
    assert "Deduplicate dates" in out
    for text in (out, err, out_file.read_text(), (tmp_path / "s.md").read_text()):
        assert KEY not in text
    assert list(cache.iterdir())  # the cache was written ...
    assert KEY.encode() not in everything_written(cache)  # ... without the key (rows, logs, anything)


def test_a_redirect_elsewhere_is_not_followed_so_the_key_stays(work: Path, capsys, monkeypatch) -> None:
    with Recorder() as elsewhere, Recorder(redirect=None) as server:
        server.redirect = elsewhere.url
        code, out, err = review_with_key(capsys, monkeypatch, server.url)
    assert code == 3, (out, err)
    assert "redirect" in err and KEY not in err + out
    assert elsewhere.requests == []


def test_a_server_that_quotes_the_refused_key_does_not_get_it_repeated(work: Path, capsys, monkeypatch) -> None:
    import os

    cache = Path(os.environ["GEMMA_REVIEW_CACHE_DIR"])
    with Recorder(status=401, error_text=f"Incorrect API key provided: {KEY}.") as server:
        code, out, err = review_with_key(capsys, monkeypatch, server.url)
    assert code == 3, (out, err)
    assert "HTTP 401" in err and "Incorrect API key provided: [the API key]" in err
    assert "$OPENAI_API_KEY" in err  # says where the key comes from, not what it is
    assert KEY not in err + out
    assert KEY.encode() not in everything_written(cache)


def test_the_key_is_not_part_of_the_cache_key(work: Path, capsys, monkeypatch) -> None:
    with Recorder(content=reply(finding_json())) as server:
        code, _, err = review_with_key(capsys, monkeypatch, server.url)
        assert code == 1, err
        monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key")
        code, _, err = review_openai(capsys, server.url)
        assert code == 1, err
    assert len([r for r in server.requests if r["path"] == "/v1/chat/completions"]) == 1  # the second was a cache hit


# --- retries ----------------------------------------------------------------------------------


def request(timeout: float = 60.0) -> ModelRequest:
    return ModelRequest(messages=[{"role": "user", "content": "x"}], schema={"type": "object"}, num_ctx=4096,
                        num_predict=64, timeout=timeout)


def mock(statuses: list[int], headers: dict[str, str] | None = None) -> tuple[OpenAIChatClient, list[float]]:
    times: list[float] = []

    def handle(req: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        status = statuses[min(len(times) - 1, len(statuses) - 1)]
        if status == 200:
            body = b'data: {"choices": [{"delta": {"content": "{}"}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
            return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(status, json={"error": {"message": "busy"}}, headers=headers or {})

    client = OpenAIChatClient("http://llm.test:8080", model="m", api_key=KEY, transport=httpx.MockTransport(handle))
    return client, times


def test_retry_delay_backs_off_and_honours_retry_after_up_to_the_cap() -> None:
    assert [retry_delay(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(1, "3") == 3.0
    assert retry_delay(1, "3600") == openai_backend.RETRY_CAP
    assert retry_delay(2, "soon") == 2.0  # unreadable: the backoff
    assert retry_delay(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: at once


def test_429_then_success_waits_retry_after(monkeypatch) -> None:
    client, times = mock([429, 200], {"Retry-After": "0.3"})
    chunks = list(client.stream(request()))
    assert chunks[-1].done and len(times) == 2
    assert times[1] - times[0] >= 0.3


@pytest.mark.parametrize("status", [429, 503])
def test_bounded_retries_then_one_clear_error(monkeypatch, status: int) -> None:
    monkeypatch.setattr(openai_backend, "RETRY_BASE", 0.01)
    client, times = mock([status])
    with pytest.raises(ModelError) as info:
        list(client.stream(request()))
    assert len(times) == openai_backend.RETRIES + 1
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == sorted(gaps)  # exponential: each wait longer than the last
    message = str(info.value)
    assert f"HTTP {status}" in message and f"asked {openai_backend.RETRIES + 1} times" in message
    assert "server is busy" in message and KEY not in message


def test_other_errors_are_not_retried() -> None:
    client, times = mock([500, 200])
    with pytest.raises(ModelError):
        list(client.stream(request()))
    assert len(times) == 1


def test_cancel_ends_the_wait_at_once() -> None:
    client, times = mock([429, 200], {"Retry-After": "20"})
    parent = threading.Event()
    token = CancelToken(parent=parent)
    threading.Timer(0.2, parent.set).start()  # the parent's cancel: Event.wait on the child would not see it
    started = time.monotonic()
    assert list(client.stream(request(), token)) == []
    assert time.monotonic() - started < 2 and len(times) == 1


def test_no_wait_past_the_request_timeout() -> None:
    client, times = mock([503, 200], {"Retry-After": "10"})
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        list(client.stream(request(timeout=1.0)))
    assert time.monotonic() - started < 1.0 and len(times) == 1
    assert "timeout would pass" in str(info.value)
