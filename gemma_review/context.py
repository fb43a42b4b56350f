"""The model's real context: how many tokens a prompt takes, and how many the server holds.

Three sources of token counts, best first:

1. the backend counts (``Backend.count_tokens``: llama.cpp's tokenizer in process, a
   server's ``/tokenize``);
2. a tokens-per-byte ratio learned per model from the prompt token counts the server
   reports back (kept in the cache database, the highest ratio seen: a prefix cache makes
   a server report fewer tokens than were sent, never more);
3. the byte estimate of :mod:`gemma_review.tokens` times a safety margin, until (2) is known.

An estimate is never the only guard: the run splits a request the server refused as too
long, and discards the answer to a prompt the server cut (see ``model_request``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from .tokens import estimate_tokens

MIN_ANSWER = 256  # the least room a single unit's answer gets when num_predict does not fit

# Until a model's ratio is learned, estimates are multiplied by this.
UNLEARNED_MARGIN = 1.5
# A learned ratio is still a guess for the next text: keep this much above it.
LEARNED_MARGIN = 1.1
# Chat template tokens per message (role markers, turn ends) a content count does not see.
PER_MESSAGE_TOKENS = 8
# A reported prompt of at least ``n_ctx - CUT_SLACK`` tokens was cut to fit: every request
# we send leaves room for the answer, so an honest count never comes that close.
CUT_SLACK = 16
# Backends whose reported prompt tokens include a cached prefix (OpenAI-compatible usage).
WHOLE_PROMPT_BACKENDS = ("openai", "embedded")
# The least a prompt can take, as a share of the learned count / of the 3-bytes estimate
# (source code runs 3.5-4 bytes per token; no tokenizer does much better).
LEARNED_FLOOR = 0.85
UNLEARNED_FLOOR = 0.7
# Learn only from prompts this large: the template's few tokens would skew a tiny one.
MIN_LEARN_BYTES = 512


class RatioStore(Protocol):
    def token_ratio(self, model: str) -> float | None: ...

    def learn_token_ratio(self, model: str, tokens_per_byte: float) -> None: ...


@dataclass(frozen=True)
class Window:
    """The context a review packs for, and where that number came from."""

    n_ctx: int
    source: str
    server_n_ctx: int | None = None  # None: the server did not say


def message_bytes(messages: list[dict[str, str]]) -> int:
    return sum(len(str(m.get("content", "")).encode("utf-8", "surrogateescape")) for m in messages)


def context_window(backend: Any, num_ctx: int) -> Window:
    """The smaller of the ``num_ctx`` setting and what the server says it holds."""
    probe = getattr(backend, "context_size", None)
    server, where = (None, "")
    if callable(probe):
        try:
            server, where = probe()
        except Exception:  # a probe is advice: a failing one leaves the setting in force
            server, where = None, ""
    if server and int(server) < num_ctx:
        return Window(int(server), f"{where} (below num_ctx {num_ctx})", int(server))
    if server:
        return Window(num_ctx, f"num_ctx setting ({where} holds {server})", int(server))
    if getattr(backend, "name", "") == "ollama":
        return Window(num_ctx, "num_ctx sent with every request", None)
    return Window(num_ctx, "num_ctx setting; the server's own limit is unknown", None)


class TokenMeter:
    """Counts prompts for one backend and model, learning the model's tokens-per-byte."""

    def __init__(self, backend: Any, window: Window, store: RatioStore | None = None) -> None:
        self.backend = backend
        self.window = window
        self.model = f"{getattr(backend, 'name', '?')}:{getattr(backend, 'model', '?')}"
        self.store = store
        self._lock = threading.Lock()
        self._ratio = store.token_ratio(self.model) if store is not None else None
        self._can_count = callable(getattr(backend, "count_tokens", None))

    @property
    def n_ctx(self) -> int:
        return self.window.n_ctx

    @property
    def ratio(self) -> float | None:
        """Learned tokens per byte (None until a server report or a true count taught it)."""
        return self._ratio

    def estimate(self, text: str) -> int:
        """A safe estimate for packing: the learned ratio with a margin, else the byte estimate with a margin."""
        base = estimate_tokens(text)
        ratio = self._ratio
        if ratio is None:
            return math.ceil(base * UNLEARNED_MARGIN)
        data = len(text.encode("utf-8", "surrogateescape"))
        return max(base, math.ceil(data * ratio * LEARNED_MARGIN))

    def count(self, messages: list[dict[str, str]]) -> tuple[int, bool]:
        """(tokens, exact): the backend's true count when it has one, else the safe estimate."""
        if self._can_count:
            try:
                n = self.backend.count_tokens(messages)
            except Exception:  # counting is an optimisation; the estimate still guards
                n = None
            if n is not None:
                n = int(n) + PER_MESSAGE_TOKENS * len(messages)
                self.learn(message_bytes(messages), n)
                return n, True
            self._can_count = False  # the server cannot count: don't ask again
        return sum(self.estimate(m["content"]) for m in messages) + PER_MESSAGE_TOKENS * len(messages), False

    def learn(self, sent_bytes: int, tokens: int) -> None:
        """Remember a real count; the highest ratio wins (a cached prefix only lowers a report)."""
        if sent_bytes < MIN_LEARN_BYTES or tokens <= 0:
            return
        ratio = tokens / sent_bytes
        with self._lock:
            if self._ratio is not None and ratio <= self._ratio:
                return
            self._ratio = ratio
        if self.store is not None:
            self.store.learn_token_ratio(self.model, ratio)

    def shrink(self, n_ctx: int, source: str) -> bool:
        """The server said it holds ``n_ctx`` tokens: pack for that from now on (True if smaller)."""
        with self._lock:
            if n_ctx <= 0 or n_ctx >= self.window.n_ctx:
                return False
            self.window = Window(n_ctx, source, n_ctx)
            return True

    def event(self, kind: str, detail: str) -> None:
        """Remember a prompt the server cut or refused, for doctor."""
        record = getattr(self.store, "context_event", None)
        if record is not None:
            record(self.model, kind, detail)

    def was_cut(self, reported: int, cached: int | None, sent: int, exact: bool, messages: list[dict[str, str]]) -> bool:
        """True when the server's prompt count shows it cut the prompt to fit its context.

        Ollama cuts silently and reports about ``n_ctx`` tokens. A report below what was
        sent is no cut when a prefix was cached (Ollama's native count leaves cached tokens
        out). It is one when the server reports whole prompts (the OpenAI-compatible usage
        counts cached tokens too; llama.cpp says how many it had cached) and the count still
        falls well short of the least the prompt can take; the server's context is then
        taken to be what it reported, so the next requests are packed to fit it.
        """
        if reported <= 0:
            return False
        total = reported + (cached or 0)
        if total >= self.n_ctx - CUT_SLACK:
            return True
        whole = cached is not None or getattr(self.backend, "name", "") in WHOLE_PROMPT_BACKENDS
        if not whole:
            return False
        if exact:
            floor = sent
        elif self._ratio is not None:
            floor = message_bytes(messages) * self._ratio * LEARNED_FLOOR
        else:
            floor = sum(estimate_tokens(m["content"]) for m in messages) * UNLEARNED_FLOOR
        if total >= floor - CUT_SLACK:
            return False
        self.shrink(total, f"the server cut a prompt at {total} tokens")
        return True


def fits_surely(messages: list[dict[str, str]], num_predict: int, n_ctx: int) -> bool:
    """True when no tokenizer could make this prompt overflow (at most one token per byte)."""
    return message_bytes(messages) + PER_MESSAGE_TOKENS * len(messages) + num_predict <= n_ctx
