"""Ollama backend: native /api/chat through the official ``ollama`` client, streamed."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import ModelError, ModelNotFoundError, ModelUnavailableError, PromptTooLargeError
from .base import Chunk, Metrics, ModelRequest

NS = 1e9  # Ollama reports durations in nanoseconds


def probe_ollama(host: str, timeout: float = 1.0) -> str | None:
    """The server's version when something Ollama-shaped answers at ``host``, else None.

    Plain ``http.client``: a cached review must not pay for importing httpx and pydantic.
    """
    parts = urlsplit(host)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        try:
            conn.request("GET", (parts.path.rstrip("/") or "") + "/api/version")
            resp = conn.getresponse()
            if resp.status != 200:
                return None
            return str(json.loads(resp.read()).get("version", "unknown"))
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return None


def unavailable_message(host: str, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return f"cannot reach Ollama at {host}{why}; start it with `ollama serve`, or point the `host` setting at your server"


def not_found_message(model: str) -> str:
    return f"model '{model}' is not pulled; run `ollama pull {model}`"


class OllamaBackend:
    """Streams chat replies from an Ollama server."""

    name = "ollama"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self.host = settings.host
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()  # the language server reviews documents in parallel threads

    def _get_client(self, timeout: float) -> Any:
        with self._lock:
            return self._make_client(timeout)

    def _make_client(self, timeout: float) -> Any:
        if self._client is None:
            import httpx
            import ollama  # lazy: keeps `--version` and cached runs fast

            # A finite timeout: connect fast, but let a slow model take its time per chunk.
            self._client = ollama.Client(
                host=self.host, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout))
            )
        return self._client

    def stream_chat(
        self, request: ModelRequest, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        import httpx
        import ollama

        client = self._get_client(request.timeout)
        start = time.monotonic()
        first: float | None = None
        stream = None
        try:
            stream = client.chat(
                model=self.model,
                messages=request.messages,
                stream=True,
                think=False,
                format=request.schema,
                keep_alive=request.keep_alive,
                options={
                    "temperature": request.temperature,
                    "seed": request.seed,
                    "num_ctx": request.num_ctx,
                    "num_predict": request.num_predict,
                },
            )
            for part in stream:
                if cancel is not None and cancel.is_set():
                    return
                text = part.message.content or "" if part.message else ""
                if text and first is None:
                    first = time.monotonic() - start
                if part.done:
                    metrics = Metrics(
                        prompt_tokens=part.prompt_eval_count or 0,
                        output_tokens=part.eval_count or 0,
                        prefill_seconds=(part.prompt_eval_duration or 0) / NS,
                        decode_seconds=(part.eval_duration or 0) / NS,
                        total_seconds=time.monotonic() - start,
                        time_to_first_token=first,
                        truncated=part.done_reason == "length",
                        requests=1,
                    )
                    yield Chunk(text=text, done=True, metrics=metrics)
                    return
                if text:
                    yield Chunk(text=text)
            # Stream ended without a done chunk: the server went away mid-reply.
            raise ModelUnavailableError(unavailable_message(self.host, "the reply stopped before it was done"))
        except ollama.ResponseError as exc:
            raise self._translate(exc) from None
        except ConnectionError as exc:
            # The client turns httpx.ConnectError into a builtin ConnectionError.
            raise ModelUnavailableError(unavailable_message(self.host, "connection refused")) from exc
        except httpx.ConnectError:
            raise ModelUnavailableError(unavailable_message(self.host, "connection refused")) from None
        except httpx.TimeoutException:
            raise ModelUnavailableError(
                f"Ollama at {self.host} did not answer within {request.timeout:g}s; "
                "raise --timeout or use a smaller model"
            ) from None
        except httpx.HTTPError as exc:
            raise ModelUnavailableError(unavailable_message(self.host, type(exc).__name__)) from None
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()  # closes the HTTP response: Ollama stops generating

    def _translate(self, exc: Any) -> ModelError:
        status = getattr(exc, "status_code", 0)
        text = str(getattr(exc, "error", exc))
        if status == 404 and "not found" in text:
            return ModelNotFoundError(not_found_message(self.model))
        if "context" in text and ("exceed" in text or "too long" in text):
            return PromptTooLargeError(f"prompt too large for the context: {text}; raise num_ctx")
        return ModelError(f"Ollama at {self.host} answered HTTP {status}: {text}")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client._client.close()
            except Exception:  # closing is best effort
                pass
