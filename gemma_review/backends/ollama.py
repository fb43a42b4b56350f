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


class _SocketRecorder:
    """An httpcore network backend that remembers the sockets it opens.

    Ollama sends no byte (not even headers) until the first token, so a cancel during a
    long prefill can only be noticed by shutting the socket down from another thread.
    """

    def __init__(self) -> None:
        import httpcore

        self._inner = httpcore.SyncBackend()
        self.sockets: list[Any] = []

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        stream = self._inner.connect_tcp(*args, **kwargs)
        self.sockets.append(stream.get_extra_info("socket"))
        return stream

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        stream = self._inner.connect_unix_socket(*args, **kwargs)
        self.sockets.append(stream.get_extra_info("socket"))
        return stream

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _CancelWatch:
    """Shuts the request's sockets down as soon as ``cancel`` is set; Ollama then stops."""

    def __init__(self, cancel: threading.Event, recorder: _SocketRecorder) -> None:
        self._cancel = cancel
        self._recorder = recorder
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gemma-review-ollama-cancel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import socket

        while not self._done.is_set():
            if self._cancel.wait(0.05):
                if not self._done.is_set():
                    for sock in list(self._recorder.sockets):
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except (OSError, AttributeError):
                            pass  # already closed
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


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
            self._client = self._new_client(timeout)
        return self._client

    def _new_client(self, timeout: float, recorder: _SocketRecorder | None = None) -> Any:
        import httpx
        import ollama  # lazy: keeps `--version` and cached runs fast

        extra: dict[str, Any] = {}
        if recorder is not None:
            transport = httpx.HTTPTransport()
            # httpx takes no network backend argument; its pool does (httpcore's public API).
            transport._pool._network_backend = recorder
            extra["transport"] = transport
        # A finite timeout: connect fast, but let a slow model take its time per chunk.
        return ollama.Client(host=self.host, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)), **extra)

    def stream_chat(
        self, request: ModelRequest, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        import httpx
        import ollama

        watch: _CancelWatch | None = None
        own_client = None
        if cancel is not None:
            if cancel.is_set():
                return
            # A cancellable request gets its own connection, so shutting it down on cancel
            # touches no other document's review.
            recorder = _SocketRecorder()
            client = own_client = self._new_client(request.timeout, recorder)
            watch = _CancelWatch(cancel, recorder)
        else:
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
            if cancel is not None and cancel.is_set():
                return
            # Stream ended without a done chunk: the server went away mid-reply.
            raise ModelUnavailableError(unavailable_message(self.host, "the reply stopped before it was done"))
        except ollama.ResponseError as exc:
            raise self._translate(exc) from None
        except ConnectionError as exc:
            if cancel is not None and cancel.is_set():
                return  # our own shutdown of the socket
            # The client turns httpx.ConnectError into a builtin ConnectionError.
            raise ModelUnavailableError(unavailable_message(self.host, "connection refused")) from exc
        except httpx.ConnectError:
            raise ModelUnavailableError(unavailable_message(self.host, "connection refused")) from None
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            if cancel is not None and cancel.is_set():
                return  # our own shutdown of the socket
            raise ModelUnavailableError(unavailable_message(self.host, "the connection broke mid-reply")) from None
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
            if watch is not None:
                watch.stop()
            if own_client is not None:
                own_client._client.close()

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
