"""What every model backend speaks: a request, streamed text chunks, one metrics record."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol


@dataclass
class ModelRequest:
    """One chat request. ``schema`` is the JSON schema the reply must follow."""

    messages: list[dict[str, str]]
    schema: dict[str, Any]
    num_ctx: int
    num_predict: int
    temperature: float = 0.0
    seed: int = 42
    timeout: float = 120.0
    keep_alive: str = "10m"


@dataclass
class Metrics:
    """One record for every backend; durations in seconds."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int | None = None
    output_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    total_seconds: float = 0.0  # wall time spent waiting on the model
    time_to_first_token: float | None = None
    truncated: bool = False  # reply cut at num_predict (done_reason "length")
    requests: int = 0

    @property
    def decode_tps(self) -> float:
        return self.output_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    @property
    def prefill_tps(self) -> float:
        return self.prompt_tokens / self.prefill_seconds if self.prefill_seconds > 0 else 0.0

    def add(self, other: Metrics) -> None:
        """Accumulate another request's metrics into this one."""
        self.prompt_tokens += other.prompt_tokens
        if other.cached_prompt_tokens is not None:
            self.cached_prompt_tokens = (self.cached_prompt_tokens or 0) + other.cached_prompt_tokens
        self.output_tokens += other.output_tokens
        self.prefill_seconds += other.prefill_seconds
        self.decode_seconds += other.decode_seconds
        self.total_seconds += other.total_seconds
        if self.time_to_first_token is None:
            self.time_to_first_token = other.time_to_first_token
        self.truncated = self.truncated or other.truncated
        self.requests += other.requests

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "output_tokens": self.output_tokens,
            "prefill_seconds": round(self.prefill_seconds, 4),
            "decode_seconds": round(self.decode_seconds, 4),
            "total_seconds": round(self.total_seconds, 4),
            "time_to_first_token": None
            if self.time_to_first_token is None
            else round(self.time_to_first_token, 4),
            "prefill_tokens_per_second": round(self.prefill_tps, 2),
            "decode_tokens_per_second": round(self.decode_tps, 2),
            "truncated": self.truncated,
            "requests": self.requests,
        }


@dataclass
class Chunk:
    """A piece of streamed reply text; the last chunk has ``done`` and ``metrics``."""

    text: str = ""
    done: bool = False
    metrics: Metrics | None = None


@dataclass
class BackendInfo:
    """What ``doctor`` reports about a backend."""

    name: str
    model: str
    detail: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """A model server. ``stream_chat`` yields chunks; the final chunk has ``done=True``.

    Raises ``ModelUnavailableError`` / ``ModelNotFoundError`` / ``PromptTooLargeError`` /
    ``ModelError`` (from ``gemma_review.errors``) with a one-line message. Cancellation:
    when ``cancel`` is set, or the consumer closes the generator, the backend stops
    generating and releases the connection (closing the HTTP response, aborting decode).
    """

    name: str
    model: str

    def stream_chat(
        self, request: ModelRequest, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]: ...

    def close(self) -> None: ...


    # The run calls these two through getattr, so a test double may leave them out.
    def count_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens of the messages' contents by the model's own tokenizer; None = cannot count."""
        ...

    def context_size(self) -> tuple[int | None, str]:
        """The context the server holds per request and where that came from; (None, "") = unknown."""
        ...
