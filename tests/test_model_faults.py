"""The model-fault catalogue: a misbehaving model server, met the way users meet it.

Every case runs ``gemma-review review`` as a subprocess against the fake Ollama (or its
OpenAI-compatible endpoint) made to misbehave, and asserts exit code 3, exactly one stderr
line that names the problem (no traceback, no terminal control characters) and every file
of the project byte-identical afterwards.

    python -m pytest tests/test_model_faults.py
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply

CODE = "def ratio(done, total):\n    return done / total\n"
PROXY_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Corporate Proxy: Sign In</title></head>\n"
    b"<body><form>user <input name=u></form></body></html>\n"
)
GATEWAY_PAGE = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
ERROR_PAGE = b"<html><body><h1>Internal Server Error</h1><p>The server encountered an internal error.</p></body></html>"
TIMEOUT_S = "2"  # seconds: the timeout cases wait this long, on purpose


@dataclass
class Fault:
    backend: str  # "ollama" | "openai"
    reply: Reply | None  # None: nothing listens at the host
    expect: str  # a regex the one stderr line must match
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # .gemma-review.toml in the project


def html(status: int, body: bytes) -> Reply:
    return Reply(raw_status=status, raw_body=body)


def lines(*text: str, ctype: str = "application/x-ndjson") -> Reply:
    return Reply(raw_lines=text, raw_content_type=ctype)


def redirect(status: int, location: str) -> Reply:
    return Reply(raw_status=status, raw_headers=(("Location", location),), raw_content_type="text/plain")


NOT_OLLAMA = r"is something other than Ollama answering there \(a proxy\)\?$"
HTML_PAGE = r"answered with an HTML page, HTTP {status} \({title}\), not the model server's API: something else answers"
NO_REDIRECT = r"answered with a redirect to {target}; gemma-review does not follow redirects: point the `host` setting"
OOM = r"ran out of memory .*; use a smaller model .*or a lower num_ctx$"
TOO_SLOW = r"did not finish the reply within 2s; raise {name} or use a smaller model$"
TRICKLE = Reply(trickle=True, tokens_per_second=4)

CASES: dict[str, Fault] = {
    # -- Ollama's native API
    "ollama-refused": Fault("ollama", None, r"^gemma-review: .*cannot reach Ollama at http://127\.0\.0\.1:\d+ \(connection refused\); start it with `ollama serve`"),
    "ollama-not-pulled": Fault("ollama", Reply(), r"model 'nope:1b' is not pulled; run `ollama pull nope:1b`$", args=("--model", "nope:1b")),
    "ollama-line-not-json": Fault("ollama", lines('{"model":"gemma4:e4b","message":{"role":"assistant","content":"{"},"done":false}', "this is not json"),
                                  r"sent a reply line that is not JSON \('this is not json'\); " + NOT_OLLAMA),
    "ollama-line-json-list": Fault("ollama", lines("[1, 2, 3]"), r"sent a reply line that is not an Ollama chat message; " + NOT_OLLAMA),
    "ollama-line-wrong-shape": Fault("ollama", lines('{"message": "hello", "done": false}'), r"not an Ollama chat message; " + NOT_OLLAMA),
    "ollama-html-200": Fault("ollama", html(200, PROXY_PAGE), HTML_PAGE.format(status=200, title="Corporate Proxy: Sign In")),
    "ollama-html-502": Fault("ollama", html(502, GATEWAY_PAGE), HTML_PAGE.format(status=502, title="502 Bad Gateway")),
    "ollama-html-500-no-title": Fault("ollama", html(500, ERROR_PAGE), HTML_PAGE.format(status=500, title="Internal Server Error")),
    "ollama-html-as-ndjson": Fault("ollama", lines("<!DOCTYPE html>", "<html><title>Blocked</title></html>"),
                                   r"answered with an HTML page, HTTP 200, not the model server's API"),
    "ollama-error-mid-stream": Fault("ollama", Reply(text='{"findings": [', stream_error="llama runner process has terminated: exit status 2"),
                                     r"Ollama at \S+ reported an error mid-reply: llama runner process has terminated: exit status 2$"),
    "ollama-oom-cuda": Fault("ollama", Reply(status=500, error="llama runner process has terminated: cudaMalloc failed: out of memory"), OOM),
    "ollama-oom-system-memory": Fault("ollama", Reply(status=500, error="model requires more system memory (12.3 GiB) than is available (7.1 GiB)"),
                                      r"requires more system memory \(12\.3 GiB\) than is available \(7\.1 GiB\)\); use a smaller model"),
    "ollama-redirect-other-host": Fault("ollama", redirect(307, "http://10.1.2.3:11434/api/chat"),
                                        NO_REDIRECT.format(target=re.escape("http://10.1.2.3:11434/api/chat"))),
    "ollama-redirect-relative": Fault("ollama", redirect(302, "/login?next=/api/chat"),
                                      NO_REDIRECT.format(target=r"http://127\.0\.0\.1:\d+/login\?next=/api/chat")),
    "ollama-proxy-404": Fault("ollama", Reply(raw_status=404, raw_body=b"Not Found", raw_content_type="text/plain"),
                              r"answered HTTP 404 \(Not Found\), which is not Ollama's answer for a missing model; " + NOT_OLLAMA),
    "ollama-http-500": Fault("ollama", Reply(status=500, error="unexpected server error"), r"Ollama at \S+ answered HTTP 500: unexpected server error$"),
    "ollama-http-503": Fault("ollama", Reply(status=503, error="server busy, please try again. maximum pending requests exceeded"),
                             r"answered HTTP 503: server busy, please try again\. maximum pending requests exceeded$"),
    "ollama-multiline-error": Fault("ollama", Reply(status=500, error="first line\nsecond line\x1b[31m red\x07"),
                                    r"answered HTTP 500: first line second line \[31m red$"),
    "ollama-trickle-flag": Fault("ollama", TRICKLE, TOO_SLOW.format(name="--timeout"), args=("--timeout", TIMEOUT_S)),
    "ollama-trickle-env": Fault("ollama", TRICKLE, TOO_SLOW.format(name="GEMMA_REVIEW_TIMEOUT"), env={"GEMMA_REVIEW_TIMEOUT": TIMEOUT_S}),
    "ollama-trickle-config": Fault("ollama", TRICKLE, TOO_SLOW.format(name=r"`timeout` in \S+\.gemma-review\.toml"), config=f"timeout = {TIMEOUT_S}\n"),
    "ollama-no-first-token": Fault("ollama", Reply(hang=True), TOO_SLOW.format(name="--timeout"), args=("--timeout", TIMEOUT_S)),
    "ollama-disconnect": Fault("ollama", Reply(text='{"findings": [', disconnect=True),
                               r"cannot reach Ollama at \S+ \((the reply stopped before it was done|the connection broke mid-reply)\)"),
    "ollama-empty-stream": Fault("ollama", lines(), r"cannot reach Ollama at \S+ \(the reply stopped before it was done\)"),
    # -- the OpenAI-compatible API
    "openai-refused": Fault("openai", None, r"cannot reach the OpenAI-compatible server at \S+: connection refused"),
    "openai-model-not-served": Fault("openai", Reply(), r"model 'nope:1b' is not served by .*; it serves gemma4:e4b, gemma4:e2b", args=("--model", "nope:1b")),
    "openai-html-200": Fault("openai", html(200, PROXY_PAGE), HTML_PAGE.format(status=200, title="Corporate Proxy: Sign In")),
    "openai-html-502": Fault("openai", html(502, GATEWAY_PAGE), HTML_PAGE.format(status=502, title="502 Bad Gateway")),
    "openai-redirect": Fault("openai", redirect(308, "https://login.example.com/sso"),
                             NO_REDIRECT.format(target=re.escape("https://login.example.com/sso"))),
    "openai-error-mid-stream": Fault("openai", Reply(text='{"findings": [', stream_error="decode failed"), r"reported an error: decode failed$"),
    "openai-malformed-event": Fault("openai", lines("data: {not json", ctype="text/event-stream"), r"sent a malformed stream event: \{not json$"),
    "openai-not-sse": Fault("openai", lines("hello from a web server", ctype="text/plain"),
                            r"did not answer with server-sent events \('hello from a web server'\); is it an OpenAI-compatible server\?$"),
    "openai-oom": Fault("openai", Reply(status=500, error="failed to allocate KV cache: out of memory"), OOM),
    "openai-trickle": Fault("openai", TRICKLE, TOO_SLOW.format(name="--timeout"), args=("--timeout", TIMEOUT_S)),
}


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_model_fault(case: str, tmp_path: Path) -> None:
    fault = CASES[case]
    project = tmp_path / "project"
    project.mkdir()
    (project / "ratio.py").write_text(CODE)
    if fault.config is not None:
        (project / ".gemma-review.toml").write_text(fault.config)
    before = snapshot(project)
    fake = FakeOllama(responder=fault.reply) if fault.reply is not None else None
    try:
        host = fake.start().url if fake is not None else f"http://127.0.0.1:{closed_port()}"
        env = {**os.environ, **fault.env}
        proc = subprocess.run(
            [sys.executable, "-m", "gemma_review", "review", "ratio.py", "--no-cache", "-q",
             "--backend", fault.backend, "--host", host, *fault.args],
            cwd=project, env=env, capture_output=True, text=True, timeout=60,
        )
    finally:
        if fake is not None:
            fake.stop()
    err = proc.stderr
    assert proc.returncode == 3, f"exit {proc.returncode}: {err}"
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", err), f"control characters reached the terminal: {err!r}"
    assert "HTTP -1" not in err and "status code: -1" not in err
    assert re.search(fault.expect, err.rstrip("\n")), err
    assert proc.stdout == ""
    assert snapshot(project) == before
