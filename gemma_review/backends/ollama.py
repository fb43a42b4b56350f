"""Ollama backend: native /api/chat through the official ``ollama`` client, streamed."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..config import Settings, timeout_setting
from ..errors import ModelError, ModelNotFoundError, ModelUnavailableError, PromptTooLargeError
from .base import Chunk, Metrics, ModelRequest

NS = 1e9  # Ollama reports durations in nanoseconds


def probe_ollama(host: str, timeout: float = 1.0) -> str | None:
    """The server's version when something Ollama-shaped answers at ``host``, else None."""
    return _probe(host, timeout)[0]


def what_answers(host: str, timeout: float = 1.0) -> str:
    """Who answers at ``host`` when it is not Ollama, for messages: "nothing answers", or
    what answers instead (an HTML page, a redirect), so no one guesses "not pulled"."""
    version, why = _probe(host, timeout)
    return f"Ollama {version} answers" if version is not None else why


def _probe(host: str, timeout: float) -> tuple[str | None, str]:
    # Plain ``http.client``: a cached review must not pay for importing httpx and pydantic.
    # It never reads proxy variables and never follows redirects, like every other request.
    parts = urlsplit(host)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        try:
            conn.request("GET", (parts.path.rstrip("/") or "") + "/api/version")
            resp = conn.getresponse()
            body = resp.read(65536)
            location = resp.getheader("location")
            ctype = (resp.getheader("content-type") or "").lower()
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return None, "nothing answers"
    text = body.decode("utf-8", "replace")
    if 300 <= resp.status < 400 and location:
        return None, f"a redirect to {location} answers (redirects are not followed), not Ollama"
    if ctype.startswith("text/html") or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        from .http import one_line

        title = one_line(text, 80)
        return None, "an HTML page" + (f" ({title})" if title else "") + " answers, not Ollama"
    try:
        data = json.loads(text)
        version = data.get("version", "unknown") if resp.status == 200 else None
    except (ValueError, AttributeError):
        version = None
    if version is None:
        return None, f"something that is not Ollama answers (HTTP {resp.status})"
    return str(version), ""


def unavailable_message(host: str, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return f"cannot reach Ollama at {host}{why}; start it with `ollama serve`, or point the `host` setting at your server"


def not_found_message(model: str) -> str:
    return f"model '{model}' is not pulled; run `ollama pull {model}`"


# Ollama's own words for a missing model: "model 'x' not found" (a proxy's 404 is not this).
_MODEL_NOT_FOUND = re.compile(r"""model ['"]?[^'"]*['"]? not found""", re.IGNORECASE)


def is_model_not_found(status: int, text: str) -> bool:
    return status == 404 and _MODEL_NOT_FOUND.search(text) is not None


def out_of_memory_message(where: str, model: str, text: str) -> str:
    return (
        f"{where} ran out of memory for {model} ({text}); use a smaller model "
        "(e.g. --model gemma4:e2b) or a lower num_ctx"
    )


def timeout_message(where: str, seconds: float, settings: Settings | None) -> str:
    return (
        f"{where} did not finish the reply within {seconds:g}s; raise {timeout_setting(settings)} "
        "or use a smaller model"
    )


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


class OllamaBackend:
    """Streams chat replies from an Ollama server."""

    name = "ollama"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self.host = settings.host
        self.settings = settings
        self.where = f"Ollama at {self.host}"

    def _new_client(self, timeout: float, recorder: _SocketRecorder) -> Any:
        import httpx
        import ollama  # lazy: keeps `--version` and cached runs fast

        from .http import client_kwargs

        # Every request gets its own connection, so shutting it down (cancel, deadline)
        # touches no other document's review. Loopback goes direct, redirects are refused.
        return ollama.Client(
            host=self.host,
            **client_kwargs(
                self.host,
                httpx.Timeout(timeout, connect=min(5.0, timeout)),
                where=f"the model server at {self.host}",
                network_backend=recorder,
            ),
        )

    def stream_chat(
        self, request: ModelRequest, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        import httpx
        import ollama

        from .http import RequestWatch

        if cancel is not None and cancel.is_set():
            return
        recorder = _SocketRecorder()
        client = self._new_client(request.timeout, recorder)
        start = time.monotonic()
        deadline = start + request.timeout
        watch = RequestWatch(lambda: recorder.sockets, cancel, deadline)
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
            while True:
                part = self._next_part(stream)
                if cancel is not None and cancel.is_set():
                    return
                if part is None:
                    break
                if time.monotonic() >= deadline:
                    raise ModelUnavailableError(timeout_message(self.where, request.timeout, self.settings))
                message = part.message
                text = (message.content or "") if message is not None else ""
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
            if watch.fired == "deadline":
                raise ModelUnavailableError(timeout_message(self.where, request.timeout, self.settings))
            # Stream ended without a done chunk: the server went away mid-reply.
            raise ModelUnavailableError(unavailable_message(self.host, "the reply stopped before it was done"))
        except ollama.ResponseError as exc:
            raise self._translate(exc) from None
        except (ConnectionError, httpx.TransportError) as exc:
            # The ollama client turns httpx.ConnectError into a builtin ConnectionError.
            if watch.fired == "cancel" or (cancel is not None and cancel.is_set()):
                return  # our own shutdown of the socket
            if watch.fired == "deadline" or isinstance(exc, httpx.TimeoutException):
                raise ModelUnavailableError(timeout_message(self.where, request.timeout, self.settings)) from None
            if isinstance(exc, (ConnectionError, httpx.ConnectError)):
                raise ModelUnavailableError(unavailable_message(self.host, "connection refused")) from None
            raise ModelUnavailableError(unavailable_message(self.host, "the connection broke mid-reply")) from None
        except httpx.HTTPError as exc:
            raise ModelUnavailableError(unavailable_message(self.host, type(exc).__name__)) from None
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()  # closes the HTTP response: Ollama stops generating
            watch.stop()
            client.close()  # the ollama client closes its httpx client

    def _next_part(self, stream: Iterator[Any]) -> Any:
        """The next reply line, or None at the end; a line that is not Ollama's is one clear error."""
        try:
            return next(stream)
        except StopIteration:
            return None
        except json.JSONDecodeError as exc:
            from .http import NotModelServerError, html_message, looks_like_html, one_line

            if looks_like_html(exc.doc):
                raise NotModelServerError(html_message(f"the model server at {self.host}", 200, "")) from None
            raise ModelError(
                f"{self.where} sent a reply line that is not JSON ({one_line(exc.doc, 80)!r}); "
                "is something other than Ollama answering there (a proxy)?"
            ) from None
        except (ValueError, AttributeError, TypeError):
            # JSON, but not the shape of an Ollama chat line (pydantic refused it).
            raise ModelError(
                f"{self.where} sent a reply line that is not an Ollama chat message; "
                "is something other than Ollama answering there (a proxy)?"
            ) from None

    def _translate(self, exc: Any) -> ModelError:
        from .http import OUT_OF_MEMORY, one_line

        status = int(getattr(exc, "status_code", 0) or 0)
        text = one_line(str(getattr(exc, "error", exc)))
        low = text.lower()
        if is_model_not_found(status, text):
            return ModelNotFoundError(not_found_message(self.model))
        if "context" in low and ("exceed" in low or "too long" in low):
            return PromptTooLargeError(f"prompt too large for the context: {text}; raise num_ctx")
        if OUT_OF_MEMORY.search(text):
            return ModelError(out_of_memory_message(self.where, self.model, text))
        if status <= 0:  # an {"error": ...} line in the middle of the stream
            return ModelError(f"{self.where} reported an error mid-reply: {text}")
        if status == 404:
            return ModelError(
                f"{self.where} answered HTTP 404 ({text}), which is not Ollama's answer for a missing "
                "model; is something other than Ollama answering there (a proxy)?"
            )
        return ModelError(f"{self.where} answered HTTP {status}: {text}")

    def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Ollama has no tokenize endpoint: the run learns the ratio from its reports."""
        return None

    def context_size(self) -> tuple[int | None, str]:
        """Ollama loads the model with the ``num_ctx`` each request sends."""
        return None, ""

    def close(self) -> None:
        """Nothing to release: every request closes its own connection."""
