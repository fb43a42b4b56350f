"""A fake Ollama server speaking the documented HTTP wire format, for tests and benchmarks.

The real ``ollama`` client talks to it exactly as to a real Ollama: NDJSON streaming on
``/api/chat`` (chunked transfer encoding), a final ``done`` line with ``done_reason`` and
nanosecond timings, ``404 {"error": "model 'x' not found"}``, HTTP errors, ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/version``. Like Ollama it also speaks the OpenAI-compatible
``/v1/chat/completions`` (SSE streaming) and ``/v1/models``, so the ``openai`` backend has a
fake too. ``Reply`` fault modes make it misbehave like a proxy or a broken server.

By default it answers like a perfect reviewer (the *oracle*): it reads the labelled
findings in ``samples/labels.toml`` and reports those whose ``existing_code`` appears in
the numbered lines of the prompt, at the line numbers the prompt printed.

Stdlib only, so it also runs as its own process:

    python -m tests.fake_ollama --port 0 [--labels PATH] [--tokens-per-second N] [--models a,b]

prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Union

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_LABELS = Path(__file__).resolve().parent.parent / "samples" / "labels.toml"
PROMPT_LINE = re.compile(r"^([> ])\s*(\d+) \| ?(.*)$")
FINDING_FIELDS = ("severity", "category", "title", "explanation", "existing_code", "suggested_code", "confidence")
DEFAULT_NUM_CTX = 4096  # what Ollama loads a model with when the request names no num_ctx
DEFAULT_KEEP_ALIVE = 300.0  # seconds; Ollama's default "5m"
FOREVER = datetime(2318, 1, 1, tzinfo=timezone.utc)  # how Ollama shows keep_alive < 0


@dataclass
class Reply:
    """What the fake answers to one generation request."""

    text: str = '{"findings": []}'  # the assistant content to stream
    done_reason: str = "stop"  # "stop" | "length"
    status: int = 200  # non-200 -> {"error": error} with that status, nothing generated
    error: str | None = None
    # None = the server's tokens_per_second (itself None = as fast as possible); one chunk is one token
    tokens_per_second: float | None = None
    chunk_chars: int = 4  # stream the text in pieces of about this many chars (one NDJSON line each)
    first_token_delay: float = 0.0  # seconds before the first chunk (simulates prefill)
    hang: bool = False  # accept the request, never answer; stop() still returns promptly
    stream_error: str | None = None  # after the text, send {"error": ...} instead of the done line
    disconnect: bool = False  # after the text, drop the connection without the done line (a crash)
    # Faults of something that is not a well-behaved Ollama (a proxy, a web server, a bug):
    # raw_status answers the request with exactly this status, body and headers (HTML pages,
    # redirects, a proxy's plain-text 404); raw_lines streams these lines verbatim with status
    # 200 and no done line; trickle streams the text again and again, never done.
    raw_status: int | None = None
    raw_body: bytes = b""
    raw_content_type: str = "text/html; charset=utf-8"
    raw_headers: tuple[tuple[str, str], ...] = ()
    raw_lines: tuple[str, ...] | None = None
    trickle: bool = False


Responder = Callable[[dict[str, Any]], Union[Reply, str]]


# ---------------------------------------------------------------------------- the oracle


@dataclass
class ContextRules:
    """How the fake counts prompt tokens and what it does with a prompt longer than its context.

    Ollama (``truncate``) cuts an over-long prompt silently: it keeps the end, so the
    instructions at the front are lost, and reports the context size as the prompt token
    count. llama.cpp (``refuse="llama.cpp"``) and vLLM (``refuse="vllm"``) answer HTTP 400 with
    their own error bodies. ``openai_n_ctx`` is the context of the OpenAI-compatible endpoint,
    which a request cannot change. Every prompt is recorded in ``FakeOllama.prompts``.
    """

    tokens_per_byte: float = 0.5  # denser than gemma-review's 3-bytes-per-token estimate
    per_message: int = 4  # chat template tokens per message
    truncate: bool = True  # Ollama's /api/chat
    openai_n_ctx: int | None = None
    refuse: str = ""  # "" (cut like Ollama's /v1) | "llama.cpp" | "vllm"
    props: bool = False  # serve llama-server's /props with openai_n_ctx
    total_slots: int | None = None  # /props total_slots (llama-server -np); None: num_parallel, else 1
    max_model_len: bool = False  # list vLLM's max_model_len at /v1/models
    tokenize: bool = False  # serve /tokenize (llama-server, vLLM)
    # A cut prompt is answered with a finding on the last line it kept, titled CUT_TITLE,
    # so a test sees whether an answer to a cut prompt was used.
    cut_finding: bool = True

    def count(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8", "surrogateescape")) * self.tokens_per_byte)

    def prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        return sum(self.count(str(m.get("content") or "")) + self.per_message for m in messages)

    def keep_end(self, messages: list[dict[str, Any]], n_ctx: int) -> list[dict[str, Any]]:
        """What Ollama keeps of an over-long prompt: its last ``n_ctx`` tokens, as one message."""
        text = "\n".join(str(m.get("content") or "") for m in messages)
        data = text.encode("utf-8", "surrogateescape")
        keep = int(n_ctx / self.tokens_per_byte)
        return [{"role": "user", "content": data[len(data) - keep :].decode("utf-8", "ignore")}]


CUT_TITLE = "answered from a cut prompt"


def cut_finding(kept: str) -> dict[str, Any] | None:
    lines = numbered_lines(kept)
    if not lines:
        return None
    line, code = lines[-1]
    return {"line": line, "end_line": line, "severity": "error", "category": "bug", "title": CUT_TITLE,
            "explanation": "The fake answered a prompt whose front it had cut.", "existing_code": code,
            "suggested_code": "", "confidence": 0.99}


def numbered_lines(prompt: str) -> list[tuple[int, str]]:
    """The (file line number, text) pairs of a prompt's numbered code lines."""
    found: list[tuple[int, str]] = []
    for raw in prompt.splitlines():
        m = PROMPT_LINE.match(raw)
        if m:
            found.append((int(m.group(2)), m.group(3).rstrip()))
    return found


def _code_lines(code: str) -> list[str]:
    lines = [line.rstrip() for line in code.split("\n")]
    # TOML multi-line strings often carry a trailing newline; blank edges are not code to find.
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _find_block(haystack: list[tuple[int, str]], needle: list[str], prefer_line: int | None) -> tuple[int, int] | None:
    """First-line and last-line numbers of ``needle`` inside ``haystack``; the labelled line wins ties."""
    texts = [text for _, text in haystack]
    hits: list[tuple[int, int]] = []
    for i in range(len(texts) - len(needle) + 1):
        if texts[i : i + len(needle)] == needle:
            hits.append((haystack[i][0], haystack[i + len(needle) - 1][0]))
    if not hits:
        return None
    for hit in hits:
        if hit[0] == prefer_line:
            return hit
    return hits[0]


def last_user_text(body: dict[str, Any]) -> str:
    """The text the oracle reads: the last user message (chat) or the prompt (generate)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content") or "")
        return ""
    return str(body.get("prompt") or "")


class LabelOracle:
    """Answers every request with the labelled findings whose code the prompt shows.

    When the prompt names some labelled sample files (by base name), only those samples'
    labels are considered, so a line shared by two samples is not reported twice.
    """

    def __init__(self, labels_path: Path | None) -> None:
        self.labels_path = labels_path
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._samples: list[dict[str, Any]] = []

    def samples(self) -> list[dict[str, Any]]:
        """The labelled samples, re-read when the file changes (it may be edited while we run)."""
        if self.labels_path is None:
            return []
        try:
            mtime = self.labels_path.stat().st_mtime_ns
        except OSError:
            return []
        with self._lock:
            if mtime != self._mtime:
                data = tomllib.loads(self.labels_path.read_text(encoding="utf-8"))
                self._samples = [s for s in data.get("samples", []) if isinstance(s, dict)]
                self._mtime = mtime
            return self._samples

    def findings(self, prompt: str) -> list[dict[str, Any]]:
        lines = numbered_lines(prompt)
        if not lines:
            return []
        samples = self.samples()
        named = [s for s in samples if _names_file(prompt, str(s.get("file", "")))]
        found: dict[tuple[int, int, str], dict[str, Any]] = {}
        for sample in named or samples:
            for label in sample.get("findings", []):
                needle = _code_lines(str(label.get("existing_code", "")))
                if not needle:
                    continue
                block = _find_block(lines, needle, label.get("line"))
                if block is None:
                    continue
                finding: dict[str, Any] = {"line": block[0], "end_line": block[1]}
                finding.update({key: label[key] for key in FINDING_FIELDS if key in label})
                found.setdefault((block[0], block[1], str(label.get("title", ""))), finding)
        return [found[key] for key in sorted(found)]

    def __call__(self, body: dict[str, Any]) -> Reply:
        return Reply(text=json.dumps({"findings": self.findings(last_user_text(body))}))


def _names_file(prompt: str, file: str) -> bool:
    base = Path(file).name
    if not base:
        return False
    return re.search(rf"(?<![\w.-]){re.escape(base)}(?![\w-])", prompt) is not None


# ---------------------------------------------------------------------------- helpers


def _now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(timezone.utc)).isoformat(timespec="microseconds").replace("+00:00", "Z")


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: Any) -> float | None:
    """Seconds a model stays loaded; None = forever. Numbers are seconds, strings Go durations.

    Raises ValueError on what Ollama would reject with HTTP 400.
    """
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, bool):
        raise ValueError(f"invalid keep_alive {value!r}")
    if isinstance(value, (int, float)):
        return None if value < 0 else float(value)
    text = str(value).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _GO_DURATION.findall(body)
    if not body or "".join(num + unit for num, unit in parts) != body:
        raise ValueError(f'time: invalid duration "{text}"')
    seconds = sign * sum(float(num) * _UNIT_SECONDS[unit] for num, unit in parts)
    return None if seconds < 0 else seconds


def _model_facts(name: str) -> tuple[str, str, int]:
    """(family, parameter size, file size in bytes) made up from a name like ``gemma4:e4b``."""
    base, _, tag = name.partition(":")
    family = base.rsplit("/", 1)[-1] or "unknown"
    m = re.search(r"(\d+(?:\.\d+)?)([bm])\b", tag.lower())
    params = float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6) if m else 4e9
    label = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
    return family, label, int(params * 0.6)  # Q4_K_M is about 4.8 bits per weight


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


# ---------------------------------------------------------------------------- the server


class FakeOllama:
    """An in-process fake Ollama. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        models: tuple[str, ...] | list[str] = ("gemma4:e4b", "gemma4:e2b"),
        version: str = "0.21.1",
        responder: Reply | str | Responder | None = None,
        labels_path: str | Path | None = None,
        tokens_per_second: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        context_length: int = 131072,
        num_parallel: int | None = None,
        context: ContextRules | None = None,
    ) -> None:
        self.context = context
        self.prompts: list[dict[str, Any]] = []  # with ``context``: per prompt, tokens, cut/refused, text seen
        self.models = list(models)
        self.version = version
        self.tokens_per_second = tokens_per_second
        self.host = host
        self.port = port
        self.context_length = context_length
        self.capabilities = ["completion", "thinking", "tools", "vision"]
        if labels_path is not None and not Path(labels_path).is_file():
            raise FileNotFoundError(f"labels file not found: {labels_path}")
        # The default labels file may appear later (or change): the oracle re-reads it on change.
        self.oracle = LabelOracle(Path(labels_path) if labels_path is not None else DEFAULT_LABELS)
        self._responder: Reply | str | Responder = responder if responder is not None else self.oracle
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []  # unexpected handler exceptions (see _Server.handle_error)
        self.cancelled = 0
        self.completed = 0
        self._loaded: dict[str, tuple[datetime | None, int]] = {}  # model -> (expires, num_ctx)
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self.num_parallel = num_parallel
        self._slots = threading.BoundedSemaphore(num_parallel) if num_parallel else None
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.modified_at = _now_iso()

    # -- lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOllama is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOllama:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        # Wake handlers blocked on idle keep-alive connections or hanging replies.
        with self._changed:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour

    def set_reply(self, reply: Reply | str | Responder) -> None:
        """Answer every following generation request with ``reply`` (or what it returns per request)."""
        self._responder = reply

    def fit(self, body: dict[str, Any], n_ctx: int, endpoint: str) -> tuple[dict[str, Any], int, bool]:
        """(the body the model sees, the prompt tokens to report, cut) under ``context``."""
        rules = self.context
        assert rules is not None
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        tokens = rules.prompt_tokens(messages)
        cut = tokens > n_ctx
        seen = dict(body, messages=rules.keep_end(messages, n_ctx)) if cut else body
        with self._changed:
            self.prompts.append({"endpoint": endpoint, "tokens": tokens, "n_ctx": n_ctx, "cut": cut, "refused": False,
                                 "text": last_user_text(seen) if not cut else seen["messages"][0]["content"]})
        return seen, (n_ctx if cut else tokens), cut

    def refused(self, body: dict[str, Any], tokens: int, n_ctx: int) -> None:
        with self._changed:
            self.prompts.append({"endpoint": "/v1", "tokens": tokens, "n_ctx": n_ctx, "cut": False, "refused": True,
                                 "text": last_user_text(body)})

    def cut_reply(self, seen: dict[str, Any]) -> Reply:
        reply = self.reply_for(seen)
        rules = self.context
        marker = cut_finding(last_user_text(seen)) if rules is not None and rules.cut_finding else None
        if marker is not None:
            try:
                data = json.loads(reply.text)
                data.setdefault("findings", []).append(marker)
                reply = Reply(**{**reply.__dict__, "text": json.dumps(data)})
            except (ValueError, AttributeError):
                pass
        return reply

    def reply_for(self, body: dict[str, Any]) -> Reply:
        responder = self._responder
        reply = responder(body) if callable(responder) else responder
        return Reply(text=reply) if isinstance(reply, str) else reply

    def wait(self, predicate: Callable[[FakeOllama], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on every request/counter change)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout=timeout)

    def resolve(self, name: str) -> str | None:
        """The installed model a request names, as Ollama resolves it (no tag = ``:latest``)."""
        candidates = [name] if ":" in name.rsplit("/", 1)[-1] else [name, f"{name}:latest"]
        return next((m for m in candidates if m in self.models), None)

    # -- bookkeeping (called from handler threads)

    def _record(self, body: dict[str, Any]) -> None:
        with self._changed:
            self.requests.append(body)
            self._changed.notify_all()

    def _count(self, *, cancelled: int = 0, completed: int = 0) -> None:
        with self._changed:
            self.cancelled += cancelled
            self.completed += completed
            self._changed.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._changed:
            (self._conns.add if add else self._conns.discard)(conn)

    def _mark_loaded(self, model: str, keep_alive: float | None, num_ctx: int) -> None:
        with self._changed:
            if keep_alive == 0:
                self._loaded.pop(model, None)
            else:
                expires = None if keep_alive is None else datetime.now(timezone.utc) + timedelta(seconds=keep_alive)
                self._loaded[model] = (expires, num_ctx)

    # -- response bodies

    def model_details(self, name: str) -> dict[str, Any]:
        family, params, _ = _model_facts(name)
        return {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": params,
            "quantization_level": "Q4_K_M",
        }

    def digest(self, name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()

    def tags(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": self.modified_at,
                    "size": _model_facts(name)[2],
                    "digest": self.digest(name),
                    "details": self.model_details(name),
                }
                for name in self.models
            ]
        }

    def show(self, name: str) -> dict[str, Any]:
        family, params, size = _model_facts(name)
        arch = family
        return {
            "license": "",
            "modelfile": f"# Modelfile generated by fake_ollama\nFROM {name}\n",
            "parameters": "temperature 1\ntop_k 64\ntop_p 0.95",
            "template": "{{ .Prompt }}",
            "details": self.model_details(name),
            "model_info": {
                "general.architecture": arch,
                "general.file_type": 15,
                "general.parameter_count": int(size / 0.6),
                "general.quantization_version": 2,
                f"{arch}.context_length": self.context_length,
                f"{arch}.embedding_length": 2560,
                f"{arch}.block_count": 35,
            },
            "capabilities": list(self.capabilities),
            "modified_at": self.modified_at,
        }

    def ps(self) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        with self._changed:
            for model in [m for m, (exp, _) in self._loaded.items() if exp is not None and exp <= now]:
                del self._loaded[model]
            loaded = dict(self._loaded)
        return {
            "models": [
                {
                    "name": model,
                    "model": model,
                    "size": _model_facts(model)[2],
                    "digest": self.digest(model),
                    "details": self.model_details(model),
                    "expires_at": _now_iso(expires or FOREVER),
                    "size_vram": _model_facts(model)[2],
                    "context_length": num_ctx,
                }
                for model, (expires, num_ctx) in loaded.items()
            ]
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    allow_reuse_address = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing its end (cancel, loop detection, process exit) is normal here;
        # anything else is kept for the test that caused it, not printed into captured stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        self.fake.errors.append(repr(exc))


class _ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


@dataclass
class _Clock:
    """Nanosecond marks of one generation, for Ollama's duration fields."""

    start: int
    loaded: int = 0
    first: int = 0
    end: int = 0

    def fields(self, prompt_tokens: int, eval_count: int) -> dict[str, int]:
        # Durations are real elapsed time, never 0, so rates computed from them are finite.
        return {
            "total_duration": max(3, self.end - self.start),
            "load_duration": max(1, self.loaded - self.start),
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": max(1, self.first - self.loaded),
            "eval_count": eval_count,
            "eval_duration": max(1, self.end - self.first),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like Ollama (Go net/http)
    server_version = "fake-ollama"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read stderr
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    # -- routing

    def do_HEAD(self) -> None:
        if self.path in ("/", "/api/version"):
            self._send(200, b"", "text/plain; charset=utf-8")
        else:
            self._send(404, b"", "text/plain")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        rules = self.fake.context
        if path == "/v1/models":
            extra = {"max_model_len": rules.openai_n_ctx} if rules is not None and rules.max_model_len else {}
            self._json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "library", **extra} for name in self.fake.models
            ]})
        elif path == "/props" and rules is not None and rules.props:
            slots = rules.total_slots or self.fake.num_parallel or 1
            self._json(200, {"default_generation_settings": {"n_ctx": rules.openai_n_ctx}, "total_slots": slots})
        elif path == "/":
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif path == "/api/version":
            self._json(200, {"version": self.fake.version})
        elif path == "/api/tags":
            self._json(200, self.fake.tags())
        elif path == "/api/ps":
            self._json(200, self.fake.ps())
        else:
            self._not_found()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        rules = self.fake.context
        if path == "/tokenize" and rules is not None and rules.tokenize:
            try:
                data = json.loads(self._read_body() or b"{}")
            except ValueError:
                data = {}
            text = str(data.get("content") or data.get("prompt") or "")
            self._json(200, {"tokens": list(range(rules.count(text)))})
            return
        if path not in ("/api/chat", "/api/generate", "/api/show", "/v1/chat/completions"):
            self._read_body()
            self._not_found()
            return
        try:
            body = json.loads(self._read_body() or b"{}")
        except ValueError as exc:
            self._json(400, {"error": f"invalid JSON body: {exc}"})
            return
        if not isinstance(body, dict):
            self._json(400, {"error": "request body must be a JSON object"})
            return
        if path == "/api/show":
            self._show(body)
        elif path == "/v1/chat/completions":
            self.fake._record(body)
            self._openai_chat(body)
        else:
            self.fake._record(body)
            self._generate(body, chat=path == "/api/chat")

    def do_DELETE(self) -> None:
        self._read_body()
        self._not_found()

    # -- endpoints

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        model = self.fake.resolve(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
        else:
            self._json(200, self.fake.show(model))

    def _generate(self, body: dict[str, Any], chat: bool) -> None:
        clock = _Clock(start=time.perf_counter_ns())
        name = str(body.get("model") or "")
        if not name:
            self._json(400, {"error": "model is required"})
            return
        model = self.fake.resolve(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        try:
            keep_alive = parse_keep_alive(body.get("keep_alive"))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        num_ctx = int(options.get("num_ctx") or DEFAULT_NUM_CTX)
        stream = body.get("stream") is not False  # Ollama streams unless told not to

        empty = not body.get("messages") if chat else not body.get("prompt")
        if empty:  # Ollama's way to load (or, with keep_alive 0, unload) a model
            self.fake._mark_loaded(model, keep_alive, num_ctx)
            clock.loaded = clock.first = clock.end = time.perf_counter_ns()
            line = self._line(name, chat, "", done=True)
            line.update(done_reason="unload" if keep_alive == 0 else "load")
            self._json(200, line)
            return

        counted: int | None = None
        try:
            if self.fake.context is not None and chat:
                seen, counted, cut = self.fake.fit(body, num_ctx, "/api/chat")
                reply = self.fake.cut_reply(seen) if cut else self.fake.reply_for(body)
            else:
                reply = self.fake.reply_for(body)
        except Exception as exc:  # a broken responder or labels file must fail the test loudly, not hang it
            self._json(500, {"error": f"fake_ollama responder failed: {type(exc).__name__}: {exc}"})
            return
        if reply.status != 200:
            self._json(reply.status, {"error": reply.error or _phrase(reply.status)})
            return
        if self._fault(reply):
            return

        pieces = _split(reply.text, reply.chunk_chars)
        done_reason = reply.done_reason
        limit = options.get("num_predict")
        if isinstance(limit, int) and limit > 0 and len(pieces) > limit:
            pieces, done_reason = pieces[:limit], "length"
        tps = reply.tokens_per_second if reply.tokens_per_second is not None else self.fake.tokens_per_second
        gap = 1.0 / tps if tps and tps > 0 else 0.0
        prompt_tokens = counted if counted is not None else self._prompt_tokens(body, chat, num_ctx)

        self._counted = False
        try:
            with self._slot():
                self.fake._mark_loaded(model, keep_alive, num_ctx)
                clock.loaded = time.perf_counter_ns()
                if reply.hang:
                    self._pause(None)  # returns only by raising _ClientGone
                self._pause(reply.first_token_delay)
                clock.first = time.perf_counter_ns()
                if stream:
                    self._stream(name, chat, pieces, gap, reply, done_reason, clock, prompt_tokens)
                else:
                    self._pause(gap * len(pieces))
                    clock.end = time.perf_counter_ns()
                    line = self._line(name, chat, "".join(pieces), done=True)
                    line.update(done_reason=done_reason, **clock.fields(prompt_tokens, len(pieces)))
                    self._complete()
                    self._json(200, line)
        except _ClientGone:
            self.close_connection = True
            if not self.fake._stopping.is_set():
                self.fake._count(cancelled=1, completed=-1 if self._counted else 0)

    def _fault(self, reply: Reply) -> bool:
        """Answer with ``reply``'s fault mode, if it has one; True when it did."""
        if reply.raw_status is not None:
            self.send_response(reply.raw_status)
            self.send_header("Content-Type", reply.raw_content_type)
            for name, value in reply.raw_headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.raw_body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(reply.raw_body)
            return True
        if reply.raw_lines is None and not reply.trickle:
            return False
        self.send_response(200)
        self.send_header("Content-Type", reply.raw_content_type if reply.raw_lines is not None else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if reply.raw_lines is not None:
                for line in reply.raw_lines:
                    data = line.encode() + b"\n"
                    self._write(b"%x\r\n%s\r\n" % (len(data), data))
                self._write(b"0\r\n\r\n")
                return True
            gap = 1.0 / (reply.tokens_per_second or 2.0)
            while True:  # a model that never stops: only the client's deadline ends this
                for piece in _split(reply.text, reply.chunk_chars):
                    self._write_chunk(self._line("fake", True, piece, done=False))
                    self._pause(gap)
        except _ClientGone:
            self.close_connection = True
            self.fake._count(cancelled=1)
        return True

    def _openai_chat(self, body: dict[str, Any]) -> None:
        """Ollama's OpenAI-compatible endpoint: SSE deltas, a finish_reason, usage, [DONE]."""
        name = str(body.get("model") or "")
        if self.fake.resolve(name) is None:
            self._json(404, {"error": {"message": f'model "{name}" not found, try pulling it first',
                                       "type": "api_error", "param": None, "code": None}})
            return
        rules = self.fake.context
        counted: int | None = None
        try:
            if rules is not None and rules.openai_n_ctx is not None:
                n_ctx = rules.openai_n_ctx
                tokens = rules.prompt_tokens([m for m in body.get("messages") or [] if isinstance(m, dict)])
                asked = tokens + int(body.get("max_tokens") or 0)
                if rules.refuse == "llama.cpp" and tokens > n_ctx:
                    self.fake.refused(body, tokens, n_ctx)
                    self._json(400, {"error": {"code": 400, "message": "the request exceeds the available context size, "
                                               "try increasing it", "type": "exceed_context_size_error",
                                               "n_prompt_tokens": tokens, "n_ctx": n_ctx}})
                    return
                if rules.refuse == "vllm" and asked > n_ctx:
                    self.fake.refused(body, tokens, n_ctx)
                    self._json(400, {"object": "error", "message": f"This model's maximum context length is {n_ctx} tokens. "
                                     f"However, you requested {asked} tokens ({tokens} in the messages, "
                                     f"{asked - tokens} in the completion). Please reduce the length of the messages "
                                     "or completion.", "type": "BadRequestError", "param": None, "code": 400})
                    return
                seen, counted, cut = self.fake.fit(body, n_ctx, "/v1")
                reply = self.fake.cut_reply(seen) if cut else self.fake.reply_for(body)
            else:
                reply = self.fake.reply_for(body)
        except Exception as exc:  # fail the test loudly, never hang it
            self._json(500, {"error": {"message": f"fake_ollama responder failed: {exc}", "type": "api_error"}})
            return
        if reply.status != 200:
            self._json(reply.status, {"error": {"message": reply.error or _phrase(reply.status), "type": "api_error"}})
            return
        if reply.raw_status is not None or reply.raw_lines is not None:
            reply.raw_content_type = reply.raw_content_type if reply.raw_status is not None else "text/event-stream"
            self._fault(reply)
            return
        pieces = _split(reply.text, reply.chunk_chars)
        limit = body.get("max_tokens")
        finish = "length" if isinstance(limit, int) and 0 < limit < len(pieces) else "stop"
        if finish == "length":
            pieces = pieces[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": name}

        def event(obj: dict[str, Any]) -> None:
            data = b"data: " + json.dumps({**base, **obj}).encode() + b"\n\n"
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

        try:
            gap = 1.0 / reply.tokens_per_second if reply.tokens_per_second else 0.0
            while True:
                for piece in pieces:
                    event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]})
                    self._pause(gap)
                if not reply.trickle:
                    break
            if reply.stream_error:
                event({"error": {"message": reply.stream_error, "type": "api_error"}})
                self._write(b"0\r\n\r\n")
                return
            event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": finish}]})
            prompt_tokens = counted if counted is not None else self._prompt_tokens(body, True, DEFAULT_NUM_CTX)
            event({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                                            "total_tokens": prompt_tokens + len(pieces)}})
            self._complete()
            data = b"data: [DONE]\n\n"
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
            self._write(b"0\r\n\r\n")
        except _ClientGone:
            self.close_connection = True

    def _complete(self) -> None:
        # Counted before the last line goes out, so a client that has read it sees the count.
        self._counted = True
        self.fake._count(completed=1)

    def _stream(
        self,
        name: str,
        chat: bool,
        pieces: list[str],
        gap: float,
        reply: Reply,
        done_reason: str,
        clock: _Clock,
        prompt_tokens: int,
    ) -> None:
        # Headers go out with the first token, as Ollama's do; a slow prefill keeps the client waiting.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        try:
            self.end_headers()
        except OSError:
            raise _ClientGone from None
        start = time.monotonic()
        for i, piece in enumerate(pieces):
            if i:
                self._pause(start + i * gap - time.monotonic())
            self._write_chunk(self._line(name, chat, piece, done=False))
        self._pause(start + len(pieces) * gap - time.monotonic())  # the end-of-sequence token
        if reply.disconnect:
            self.close_connection = True
            return
        if reply.stream_error:
            self._write_chunk({"error": reply.stream_error})
        else:
            clock.end = time.perf_counter_ns()
            line = self._line(name, chat, "", done=True)
            line.update(done_reason=done_reason, **clock.fields(prompt_tokens, len(pieces)))
            self._complete()
            self._write_chunk(line)
        self._write(b"0\r\n\r\n")

    # -- pieces

    def _prompt_tokens(self, body: dict[str, Any], chat: bool, num_ctx: int) -> int:
        if chat:
            chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [] if isinstance(m, dict))
        else:
            chars = len(str(body.get("system") or "")) + len(str(body.get("prompt") or ""))
        # Ollama cuts an over-long prompt down to the context, so it never counts more.
        return max(1, min(chars // 4, num_ctx))

    @staticmethod
    def _line(name: str, chat: bool, piece: str, done: bool) -> dict[str, Any]:
        line: dict[str, Any] = {"model": name, "created_at": _now_iso()}
        if chat:
            line["message"] = {"role": "assistant", "content": piece}
        else:
            line["response"] = piece
        line["done"] = done
        return line

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of OLLAMA_NUM_PARALLEL slots; beyond them requests queue, as in Ollama."""
        slots = self.fake._slots
        if slots is None:
            yield
            return
        while not slots.acquire(timeout=0.05):
            self._pause(0)  # a client that gives up while queued is a cancellation too
        try:
            yield
        finally:
            slots.release()

    def _pause(self, seconds: float | None) -> None:
        """Wait ``seconds`` (None = forever), raising _ClientGone as soon as the client leaves."""
        deadline = None if seconds is None else time.monotonic() + max(0.0, seconds)
        while True:
            if self.fake._stopping.is_set():
                raise _ClientGone
            remaining = 0.05 if deadline is None else deadline - time.monotonic()
            if self._client_gone(min(max(remaining, 0.0), 0.05)):
                raise _ClientGone
            if deadline is not None and time.monotonic() >= deadline:
                return

    def _client_gone(self, timeout: float) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], timeout)
            if not readable:
                return False
            gone = self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        if not gone:
            time.sleep(timeout)  # a pipelined request is waiting; do not spin on it
        return gone

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise _ClientGone from None

    def _write_chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except OSError:
                self.close_connection = True

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _not_found(self) -> None:
        self._send(404, b"404 page not found", "text/plain")


# ---------------------------------------------------------------------------- CLI and fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_ollama", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--labels", type=Path, default=None, help="oracle labels (default: samples/labels.toml)")
    parser.add_argument("--tokens-per-second", type=float, default=None, help="decode speed (default: no delay)")
    parser.add_argument("--first-token-delay", type=float, default=0.0, help="seconds of simulated prefill per request")
    parser.add_argument("--models", default="gemma4:e4b,gemma4:e2b", help="comma-separated installed models")
    parser.add_argument("--ollama-version", default="0.21.1")
    parser.add_argument("--context-length", type=int, default=131072)
    parser.add_argument("--num-parallel", type=int, default=None, help="requests generated at once; others queue")
    args = parser.parse_args(argv)

    try:
        fake = FakeOllama(
            models=[m.strip() for m in args.models.split(",") if m.strip()],
            version=args.ollama_version,
            labels_path=args.labels,
            tokens_per_second=args.tokens_per_second,
            host=args.host,
            port=args.port,
            context_length=args.context_length,
            num_parallel=args.num_parallel,
        )
        if args.first_token_delay:
            oracle = fake.oracle

            def delayed(body: dict[str, Any]) -> Reply:
                reply = oracle(body)
                reply.first_token_delay = args.first_token_delay
                return reply

            fake.set_reply(delayed)
        fake.start()
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"fake_ollama: {exc}", file=sys.stderr)
        return 2

    return serve_until_signalled(fake)


def serve_until_signalled(fake: FakeOllama) -> int:
    """Announce a started server on stdout and serve until SIGTERM/SIGINT (for the CLIs)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"listening on {fake.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if "pytest" in sys.modules:  # only under pytest; the standalone server stays stdlib-only and fast to start
    import pytest

    @pytest.fixture
    def fake_ollama() -> Iterator[FakeOllama]:
        """A started FakeOllama answering as the label oracle; stopped afterwards."""
        with FakeOllama() as server:
            yield server


if __name__ == "__main__":
    sys.exit(main())
