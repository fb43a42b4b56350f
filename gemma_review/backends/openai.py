"""OpenAI-compatible backend: streamed ``/v1/chat/completions`` over plain httpx.

Speaks to llama.cpp's ``llama-server``, vLLM, LM Studio (and Ollama's ``/v1``). The
reply is constrained by the *nested* ``response_format`` json_schema form: llama.cpp
silently ignores the flat form and lets the model write anything.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import httpx

from ..config import Settings, timeout_setting
from ..errors import ModelError, ModelNotFoundError, ModelUnavailableError, PromptTooLargeError
from .base import BackendInfo, Chunk, Metrics, ModelRequest
from .http import OUT_OF_MEMORY, RequestWatch, client_for, one_line

_MAX_CONTEXT = re.compile(r"maximum context length is (\d+)")
MS = 1000.0  # llama.cpp reports timings in milliseconds

# Sent to every server: switches thinking off in chat templates that know the flag
# (Qwen 3, Gemma 4, ...) and is ignored by the others. ``reasoning_format`` is not sent:
# "none" would put any reasoning text into ``content`` and break the JSON reply.
THINKING_OFF = {"chat_template_kwargs": {"enable_thinking": False}}

# A shared server that is busy (429 Too Many Requests, 503 Service Unavailable: llama-server
# with every slot taken, vLLM's queue full, a gateway's rate limit) is asked again a bounded
# number of times, with exponential backoff; its Retry-After is honoured up to RETRY_CAP.
# Never past the request's deadline, and a cancelled request stops waiting at once.
RETRY_STATUSES = (429, 503)
RETRIES = 4
RETRY_BASE = 1.0  # seconds: 1, 2, 4, 8
RETRY_CAP = 30.0


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    delay = RETRY_BASE * 2 ** (attempt - 1)
    if retry_after:
        value = retry_after.strip()
        try:
            delay = float(value)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(value)
                delay = when.timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                pass  # unreadable: keep the backoff
    return min(max(delay, 0.0), RETRY_CAP)


def api_base(host: str) -> str:
    """``http://h:8080`` and ``http://h:8080/v1`` both mean ``http://h:8080/v1``."""
    base = host.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _error_fields(body: bytes) -> tuple[str, dict[str, Any]]:
    """The server's message and error object, whatever shape the server uses."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return (one_line(text) or "no details"), {}
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or json.dumps(err)
            return one_line(str(msg)), err
        if isinstance(err, str):
            return one_line(err), data
    return one_line(text), {}


@dataclass
class _Usage:
    """What the server reported about one reply."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    timings: dict[str, Any] | None = None
    finish_reason: str | None = None
    content_chunks: int = 0

    def read(self, event: dict[str, Any]) -> None:
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict) and details.get("cached_tokens") is not None:
                self.cached_tokens = int(details["cached_tokens"])
        timings = event.get("timings")
        if isinstance(timings, dict):
            self.timings = timings

    def metrics(self, total: float, first: float | None) -> Metrics:
        """``prompt_tokens`` counts the tokens evaluated (like Ollama's prompt_eval_count);
        tokens reused from the server's cache are in ``cached_prompt_tokens``."""
        t = self.timings
        cached = self.cached_tokens
        if t is not None:
            if t.get("cache_n") is not None:
                cached = int(t["cache_n"])
            prompt = int(t.get("prompt_n", 0))
            output = int(t.get("predicted_n", self.completion_tokens or 0))
            prefill = float(t.get("prompt_ms", 0.0)) / MS
            decode = float(t.get("predicted_ms", 0.0)) / MS
        else:
            # No server timings (vLLM, LM Studio): measure on this side.
            prompt = max(0, (self.prompt_tokens or 0) - (cached or 0))
            output = self.completion_tokens if self.completion_tokens is not None else self.content_chunks
            prefill = first if first is not None else total
            decode = max(0.0, total - prefill)
        return Metrics(
            prompt_tokens=prompt,
            cached_prompt_tokens=cached,
            output_tokens=output,
            prefill_seconds=prefill,
            decode_seconds=decode,
            total_seconds=total,
            time_to_first_token=first,
            truncated=self.finish_reason == "length",
            requests=1,
        )


class OpenAIChatClient:
    """Streams chat completions from one OpenAI-compatible endpoint.

    ``where`` names the server in error messages; ``ctx_hint`` says how to get a bigger
    context when a prompt does not fit. The embedded backend reuses this class over a
    private Unix socket.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        where: str | None = None,
        ctx_hint: str = "raise the server's context size (llama-server -c) or review a smaller change",
        unreachable_hint: str = "start it or fix --host",
        auth_hint: str = "check the API key",
        settings: Settings | None = None,
    ) -> None:
        self.base_url = api_base(base_url)
        self.model = model
        self.where = where or f"the OpenAI-compatible server at {self.base_url}"
        self.ctx_hint = ctx_hint
        self.unreachable_hint = unreachable_hint
        self.auth_hint = auth_hint
        self._api_key = api_key
        self._transport = transport
        self._settings = settings  # names the timeout setting the way the user set it
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._send_thinking_off = True  # dropped for servers that reject unknown fields
        self._no_tokenize = False  # the server answered /tokenize with an error once

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Accept": "text/event-stream"}
                if self._api_key:
                    headers["Authorization"] = f"Bearer {self._api_key}"
                # Loopback goes direct (never through an environment proxy), redirects
                # are refused, HTML pages are named as such: see backends/http.py.
                self._client = client_for(
                    self.base_url, 30.0, where=lambda: self.where, transport=self._transport, headers=headers
                )
            return self._client

    def body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": request.temperature,
            "seed": request.seed,
            "max_tokens": request.num_predict,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "review", "schema": request.schema, "strict": True},
            },
        }
        if self._send_thinking_off:
            body.update(THINKING_OFF)
        return body

    def _timeout(self, seconds: float) -> httpx.Timeout:
        # Finite everywhere; connecting must be quick, a slow model gets the full time per read.
        return httpx.Timeout(seconds, connect=min(5.0, seconds))

    def unreachable(self, detail: str) -> ModelUnavailableError:
        return ModelUnavailableError(f"cannot reach {self.where}: {detail}; {self.unreachable_hint}")

    def translate(self, status: int, body: bytes) -> ModelError:
        """One clear error for an HTTP error answer (or an error event mid-stream)."""
        err = self._translate(status, body)
        if self._api_key and self._api_key in str(err):
            # Servers quote the key they refused ("Incorrect API key provided: sk-..."): never repeat it.
            return type(err)(str(err).replace(self._api_key, "[the API key]"))
        return err

    def _translate(self, status: int, body: bytes) -> ModelError:
        message, err = _error_fields(body)
        kind = str(err.get("type") or err.get("code") or "")
        low = message.lower()
        if kind == "exceed_context_size_error" or (
            "n_prompt_tokens" in err and "n_ctx" in err
        ):
            n_ctx = err.get("n_ctx")
            return PromptTooLargeError(
                f"prompt too large for the context: {err.get('n_prompt_tokens', '?')} tokens "
                f"> n_ctx {err.get('n_ctx', '?')}; {self.ctx_hint}",
                n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None,
            )
        if kind == "context_length_exceeded" or "maximum context length" in low or (
            "context" in low and ("exceed" in low or "too long" in low)
        ):
            said = _MAX_CONTEXT.search(message)  # vLLM: "maximum context length is 2048 tokens"
            return PromptTooLargeError(
                f"prompt too large for the context: {message}; {self.ctx_hint}", int(said.group(1)) if said else None
            )
        if OUT_OF_MEMORY.search(message):
            return ModelError(
                f"{self.where} ran out of memory ({message}); use a smaller model or a lower num_ctx"
            )
        if status == 404:
            if "model" in low or "model" in kind:
                served = self.served_models()
                hint = f"; it serves {', '.join(served)} (set --model)" if served else ""
                return ModelNotFoundError(f"model '{self.model}' is not served by {self.where}: {message}{hint}")
            return ModelError(
                f"{self.where} has no /chat/completions (HTTP 404); is it an OpenAI-compatible server?"
            )
        if status in (401, 403):
            return ModelError(f"{self.where} refused the request (HTTP {status}): {message}; {self.auth_hint}")
        if status:
            return ModelError(f"{self.where} answered HTTP {status}: {message}")
        return ModelError(f"{self.where} reported an error: {message}")

    def stream(self, request: ModelRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        client = self._get_client()
        url = f"{self.base_url}/chat/completions"
        start = time.monotonic()
        first: float | None = None
        usage = _Usage()
        done = False
        stray: str | None = None
        response: httpx.Response | None = None
        watch: RequestWatch | None = None
        if cancel is not None and cancel.is_set():
            return
        try:
            retried_fields = False
            busy = 0  # retries after 429/503
            while True:
                left = start + request.timeout - time.monotonic()
                if left <= 0:
                    raise self.too_slow(request.timeout)
                req = client.build_request("POST", url, json=self.body(request), timeout=self._timeout(left))
                response = client.send(req, stream=True)
                if response.status_code == 200:
                    break
                status, body = response.status_code, response.read()
                retry_after = response.headers.get("retry-after")
                response.close()
                response = None
                # Servers that validate strictly (api.openai.com) refuse unknown fields.
                if not retried_fields and self._send_thinking_off and b"chat_template_kwargs" in body:
                    retried_fields = True
                    self._send_thinking_off = False
                    continue
                if status in RETRY_STATUSES and busy < RETRIES:
                    busy += 1
                    delay = retry_delay(busy, retry_after)
                    if time.monotonic() + delay >= start + request.timeout:
                        raise self.busy(status, body, busy - 1, "the request's timeout would pass while waiting")
                    if _wait(delay, cancel):
                        return  # cancelled while waiting
                    continue
                if status in RETRY_STATUSES:
                    raise self.busy(status, body, busy, "")
                raise self.translate(status, body)
            assert response is not None
            network = response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            watch = RequestWatch(lambda: [sock] if sock is not None else [], cancel, start + request.timeout)
            for line in response.iter_lines():
                if cancel is not None and cancel.is_set():
                    return
                if line.startswith("error:"):  # older llama.cpp error events
                    raise self.translate(0, line[6:].strip().encode())
                if not line.startswith("data:"):
                    if line.strip() and not line.startswith((":", "event:", "id:", "retry:")) and stray is None:
                        stray = line  # not server-sent events at all
                    continue  # blank separators, ": ping" comments, "event:" names
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    raise ModelError(f"{self.where} sent a malformed stream event: {payload[:120]}") from None
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    raise self.translate(0, payload.encode())
                usage.read(event)
                text = ""
                for choice in event.get("choices") or ():
                    delta = choice.get("delta") or {}
                    text += delta.get("content") or ""
                    if choice.get("finish_reason"):
                        usage.finish_reason = choice["finish_reason"]
                if text:
                    usage.content_chunks += 1
                    if first is None:
                        first = time.monotonic() - start
                    yield Chunk(text=text)
            if cancel is not None and cancel.is_set():
                return
            if watch is not None and watch.fired == "deadline":
                raise self.too_slow(request.timeout)
            if not done and usage.finish_reason is None and stray is not None and first is None:
                raise ModelError(
                    f"{self.where} did not answer with server-sent events ({one_line(stray, 80)!r}); "
                    "is it an OpenAI-compatible server?"
                )
            if not done and usage.finish_reason is None:
                raise ModelUnavailableError(f"{self.where} closed the stream before the reply was done")
            yield Chunk(done=True, metrics=usage.metrics(time.monotonic() - start, first))
        except httpx.ConnectError as exc:
            raise self.unreachable(_connect_detail(exc)) from None
        except httpx.TimeoutException:
            raise self.too_slow(request.timeout) from None
        except httpx.HTTPError as exc:
            if cancel is not None and cancel.is_set():
                return  # our own shutdown of the socket
            if watch is not None and watch.fired == "deadline":
                raise self.too_slow(request.timeout) from None
            raise ModelUnavailableError(
                f"{self.where} dropped the connection mid-reply ({type(exc).__name__})"
            ) from None
        finally:
            if watch is not None:
                watch.stop()
            if response is not None:
                response.close()  # the server sees the client gone and stops generating

    def busy(self, status: int, body: bytes, retries: int, why: str) -> ModelError:
        """The server stayed busy (429/503): its own error, and how often it was asked again."""
        err = self.translate(status, body)
        tried = f"asked {retries + 1} time{'s' if retries else ''}" + (f"; {why}" if why else "")
        return type(err)(f"{err} ({tried}); the server is busy: lower --jobs or try again later")

    def too_slow(self, seconds: float) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"{self.where} did not finish the reply within {seconds:g}s; "
            f"raise {timeout_setting(self._settings)} or use a smaller model"
        )

    def get_json(self, path: str, timeout: float = 2.0) -> Any:
        """GET ``path`` (relative to the server root, e.g. ``/props``); None on any failure."""
        root = self.base_url[: -len("/v1")]
        try:
            resp = self._get_client().get(root + path, timeout=self._timeout(timeout))
            if resp.status_code == 200:
                return resp.json()
        except (httpx.HTTPError, ValueError):
            return None
        return None

    def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens of the messages' contents by the server's own ``/tokenize`` (llama-server,
        vLLM); None, and never asked again, when the server has no such endpoint."""
        if self._no_tokenize:
            return None
        root = self.base_url[: -len("/v1")]
        text = "\n".join(str(m.get("content", "")) for m in messages)
        try:
            resp = self._get_client().post(
                root + "/tokenize", json={"content": text, "prompt": text, "model": self.model, "add_special": False},
                timeout=self._timeout(10.0),
            )
            data = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, ModelError):
            data = None
        if isinstance(data, dict):
            if isinstance(data.get("count"), int):
                return int(data["count"])
            if isinstance(data.get("tokens"), list):
                return len(data["tokens"])
        self._no_tokenize = True
        return None

    def server_context(self) -> tuple[int | None, str]:
        """The context the server holds per request: llama-server's ``/props``, vLLM's
        ``max_model_len`` at ``/v1/models``; (None, "") when it does not say."""
        props = self.get_json("/props")
        if isinstance(props, dict):
            n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
            if isinstance(n_ctx, int) and n_ctx > 0:
                return n_ctx, "the server's /props n_ctx"
        listing = self.get_json("/v1/models")
        if isinstance(listing, dict):
            for m in listing.get("data") or ():
                if isinstance(m, dict) and m.get("id") == self.model and isinstance(m.get("max_model_len"), int):
                    return int(m["max_model_len"]), "the server's max_model_len at /v1/models"
        return None, ""

    def server_slots(self) -> int | None:
        """How many requests the server decodes at once: llama-server's ``/props``
        ``total_slots`` (``-np``); None when it does not say (vLLM, Ollama's /v1, LM Studio)."""
        props = self.get_json("/props")
        slots = props.get("total_slots") if isinstance(props, dict) else None
        if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0:
            return slots
        return None

    def served_models(self) -> list[str] | None:
        """The model ids at ``/v1/models``; None when the server does not answer."""
        listing = self.get_json("/v1/models")
        if not isinstance(listing, dict):
            return None
        return [str(m.get("id")) for m in listing.get("data") or () if isinstance(m, dict)]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _wait(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep ``seconds``; True as soon as ``cancel`` reads as set (a CancelToken also reads
    as set after its deadline or its parent's cancel, which ``Event.wait`` would not see)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel is not None and cancel.is_set():
            return True
        time.sleep(min(0.05, left))
    return cancel is not None and cancel.is_set()


def _connect_detail(exc: httpx.ConnectError) -> str:
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else (text or "cannot connect")


class OpenAIBackend:
    """Any OpenAI-compatible server at ``settings.host`` (with or without ``/v1``)."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self.host = settings.host
        api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        self.client = OpenAIChatClient(
            settings.host,
            model=settings.model,
            api_key=api_key or None,
            settings=settings,
            auth_hint=f"put the key in ${settings.api_key_env}" if settings.api_key_env else "check the API key",
        )

    def stream_chat(self, request: ModelRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        yield from self.client.stream(request, cancel)

    def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return self.client.count_tokens(messages)

    def context_size(self) -> tuple[int | None, str]:
        return self.client.server_context()

    def server_slots(self) -> tuple[int | None, str]:
        """The server's own slot count, for ``--jobs`` when the user did not set it."""
        slots = self.client.server_slots()
        return (slots, "the server's /props total_slots") if slots else (None, "")

    def info(self) -> BackendInfo:
        """For ``doctor``: the models the server lists and, for llama.cpp, its context size."""
        detail: dict[str, Any] = {"url": self.client.base_url}
        served = self.client.served_models()
        detail["reachable"] = served is not None
        if served is not None:
            detail["models"] = served
        props = self.client.get_json("/props")
        if isinstance(props, dict):
            n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
            if n_ctx:
                detail["n_ctx"] = n_ctx
        return BackendInfo(name=self.name, model=self.model, detail=detail)

    def close(self) -> None:
        self.client.close()


def probe_openai(host: str, timeout: float = 1.0, api_key: str | None = None) -> list[str] | None:
    """Model ids listed at ``host``'s ``/v1/models``, or None when nothing answers."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with client_for(host, timeout, headers=headers) as client:
            resp = client.get(f"{api_base(host)}/models")
        if resp.status_code != 200:
            return None
        data = resp.json().get("data") or []
        return [str(m.get("id")) for m in data if isinstance(m, dict)]
    except (httpx.HTTPError, ValueError, AttributeError, ModelError):
        return None
