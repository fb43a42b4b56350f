"""No code leaves the machine: environment proxies, redirects, and a machine with no network.

A recording proxy on 127.0.0.1 is set through ``http_proxy``, ``HTTP_PROXY``, ``https_proxy``
and ``ALL_PROXY`` (each, and all together, with ``NO_PROXY`` unset); a review, the hook,
``doctor``, ``bench`` and a language-server review against the fake Ollama must send it 0
bytes, with the Ollama, OpenAI-compatible and auto backends. The controls at the top show
the proxy does catch a client that honours the variables, so a 0 means something.
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from gemma_review.backends.base import ModelRequest
from gemma_review.backends.http import client_for, env_proxy
from gemma_review.backends.ollama import OllamaBackend
from gemma_review.backends.openai import OpenAIBackend
from gemma_review.config import Settings, is_loopback_host, load_settings
from gemma_review.errors import ModelUnavailableError
from tests.fake_ollama import FakeOllama, Reply

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY")
NO_PROXY_VARS = ("no_proxy", "NO_PROXY")
VAR_SETS = [(v,) for v in PROXY_VARS] + [PROXY_VARS]
VAR_IDS = [*PROXY_VARS, "all"]
BACKENDS = ("ollama", "openai", "auto")
CODE = "def ratio(done, total):\n    return done / total\n"
REQUEST = ModelRequest(messages=[{"role": "user", "content": "x = 1"}], schema={"type": "object"},
                       num_ctx=4096, num_predict=64, timeout=10)


class RecordingProxy:
    """A tiny threaded HTTP proxy on 127.0.0.1: counts every byte it receives, answers 502."""

    def __init__(self) -> None:
        self.received = 0
        self.connections = 0
        self.first_lines: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(2.0)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        piece = conn.recv(65536)
                        if not piece:
                            break
                        data += piece
                except OSError:
                    pass
                with proxy._lock:
                    proxy.connections += 1
                    proxy.received += len(data)
                    proxy.first_lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                try:
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    with RecordingProxy() as server:
        yield server


def proxied(proxy: RecordingProxy, names: tuple[str, ...], base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment with ``names`` pointing at the proxy and no NO_PROXY."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in PROXY_VARS + NO_PROXY_VARS and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({name: proxy.url for name in names})
    return env


def set_proxy_env(monkeypatch: pytest.MonkeyPatch, proxy: RecordingProxy, names: tuple[str, ...]) -> None:
    for var in (*PROXY_VARS, *NO_PROXY_VARS, "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    for name in names:
        monkeypatch.setenv(name, proxy.url)


# --- controls: the proxy catches a client that honours the variables -------------------------


def test_control_a_client_that_honours_proxy_variables_sends_the_code_to_the_proxy(
    proxy: RecordingProxy, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What gemma-review did before: httpx's defaults (and the ollama client's) use http_proxy."""
    set_proxy_env(monkeypatch, proxy, ("http_proxy",))
    with httpx.Client() as client:
        assert client.post(f"{fake_ollama.url}/api/chat", json={"secret": "code"}).status_code == 502
    assert proxy.received > 0 and proxy.first_lines == [f"POST {fake_ollama.url}/api/chat HTTP/1.1"]
    assert fake_ollama.requests == []


def test_a_remote_host_may_use_the_environment_proxy(proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only with allow_remote can a remote host be configured; its traffic follows the proxy variables."""
    set_proxy_env(monkeypatch, proxy, ("HTTP_PROXY",))
    assert env_proxy("http://models.example:11434") == proxy.url
    with client_for("http://models.example:11434", 5.0) as client:
        assert client.get("/api/version").status_code == 502
    assert proxy.first_lines == ["GET http://models.example:11434/api/version HTTP/1.1"]
    monkeypatch.setenv("NO_PROXY", "models.example")
    assert env_proxy("http://models.example:11434") is None


@pytest.mark.parametrize("host", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.8.9.10:1"])
def test_loopback_hosts_never_get_a_proxy(host: str, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    set_proxy_env(monkeypatch, proxy, PROXY_VARS)
    assert env_proxy(host) is None


@pytest.mark.parametrize(
    "host, local",
    [
        ("http://127.0.0.1:11434", True), ("http://localhost:11434", True), ("http://[::1]:11434", True),
        ("http://0.0.0.0:11434", True), ("http://LOCALHOST:11434", True),
        # A name is local only when it is `localhost` itself: no DNS answer decides where code goes.
        ("http://localhost.example.com:11434", False), ("http://my-box:11434", False),
        ("http://127.0.0.1.nip.io:11434", False), ("http://10.0.0.5:11434", False),
    ],
)
def test_local_means_a_loopback_literal_or_localhost(host: str, local: bool) -> None:
    assert is_loopback_host(host) is local


def test_allow_remote_in_a_repository_config_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".gemma-review.toml").write_text('host = "http://models.example:11434"\nallow_remote = true\n')
    loaded = load_settings(tmp_path, env={})
    assert loaded.settings.allow_remote is False
    assert any("'allow_remote' is ignored in a project's config file" in w for w in loaded.warnings)


def test_a_repository_config_cannot_choose_which_secret_is_sent_as_the_api_key(tmp_path: Path) -> None:
    # With allow_remote on for the user, a cloned repository naming AWS_SECRET_ACCESS_KEY as the
    # key variable would send that secret to the server with every request.
    (tmp_path / ".gemma-review.toml").write_text('api_key_env = "AWS_SECRET_ACCESS_KEY"\n')
    loaded = load_settings(tmp_path, env={})
    assert loaded.settings.api_key_env == "OPENAI_API_KEY"
    (warning,) = [w for w in loaded.warnings if "api_key_env" in w]
    assert "'api_key_env' is ignored in a project's config file; set it in " in warning


# --- the backends in process ------------------------------------------------------------------


@pytest.mark.parametrize("names", VAR_SETS, ids=VAR_IDS)
@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_backends_go_direct_to_loopback(
    kind: str, names: tuple[str, ...], proxy: RecordingProxy, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_proxy_env(monkeypatch, proxy, names)
    settings = Settings(host=fake_ollama.url, backend=kind)
    backend = OllamaBackend(settings) if kind == "ollama" else OpenAIBackend(settings)
    for cancellable in (False, True):
        chunks = list(backend.stream_chat(REQUEST, threading.Event() if cancellable else None))
        assert chunks[-1].done
    backend.close()
    assert proxy.received == 0 and len(fake_ollama.requests) == 2


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_the_user_is_told(kind: str, status: int) -> None:
    with FakeOllama() as target, FakeOllama() as server:
        location = f"{target.url}/api/chat" if status != 302 else "http://models.example:11434/api/chat"
        server.set_reply(Reply(raw_status=status, raw_headers=(("Location", location),)))
        settings = Settings(host=server.url, backend=kind)
        backend = OllamaBackend(settings) if kind == "ollama" else OpenAIBackend(settings)
        with pytest.raises(ModelUnavailableError) as err:
            list(backend.stream_chat(REQUEST))
        assert str(err.value) == (
            f"the {'model server at ' + server.url if kind == 'ollama' else 'OpenAI-compatible server at ' + server.url + '/v1'}"
            f" answered with a redirect to {location}; gemma-review does not follow redirects: "
            "point the `host` setting at the model server itself"
        )
        assert target.requests == [], "the redirect was followed"


# --- every entry point as users run it ----------------------------------------------------------


def cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gemma_review", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def model_args(fake: FakeOllama, backend: str) -> list[str]:
    return ["--host", fake.url, "--backend", backend]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(SAMPLES / "streak.py", folder / "streak.py")
    (folder / "ratio.py").write_text(CODE)
    return folder


@pytest.mark.parametrize("names", VAR_SETS, ids=VAR_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_review_sends_nothing_to_the_proxy(
    backend: str, names: tuple[str, ...], proxy: RecordingProxy, fake_ollama: FakeOllama, project: Path
) -> None:
    proc = cli("review", "streak.py", "--no-cache", "-q", *model_args(fake_ollama, backend),
               cwd=project, env=proxied(proxy, names))
    assert proc.returncode == 1, proc.stderr  # the oracle finds the streak bug
    assert "streak.py:13" in proc.stdout
    assert proxy.received == 0 and proxy.connections == 0
    assert len(fake_ollama.requests) >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_hook_sends_nothing_to_the_proxy(
    backend: str, proxy: RecordingProxy, fake_ollama: FakeOllama, project: Path
) -> None:
    env = proxied(proxy, PROXY_VARS)
    env.update(GEMMA_REVIEW_HOST=fake_ollama.url, GEMMA_REVIEW_BACKEND=backend,
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    for args in (["init", "-q", "-b", "main"], ["add", "streak.py"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)
    proc = cli("hook", "--", "streak.py", cwd=project, env=env)
    assert proc.returncode == 1, proc.stderr  # the staged streak bug blocks the commit
    assert "streak.py:13" in proc.stdout + proc.stderr
    assert proxy.received == 0 and len(fake_ollama.requests) >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_doctor_sends_nothing_to_the_proxy(
    backend: str, proxy: RecordingProxy, fake_ollama: FakeOllama, project: Path
) -> None:
    proc = cli("doctor", *model_args(fake_ollama, backend), cwd=project, env=proxied(proxy, PROXY_VARS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reviewing can work here" in proc.stdout
    assert proxy.received == 0 and len(fake_ollama.requests) >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_sends_nothing_to_the_proxy(
    backend: str, proxy: RecordingProxy, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    from tests.helpers import subset

    folder = subset(tmp_path / "few", ["streak.py"])
    proc = cli("bench", "--samples", str(folder), "--models", "gemma4:e4b", *model_args(fake_ollama, backend),
               cwd=tmp_path, env=proxied(proxy, PROXY_VARS))
    assert proc.returncode == 0, proc.stderr
    assert proxy.received == 0 and len(fake_ollama.requests) >= 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_language_server_review_sends_nothing_to_the_proxy(
    backend: str, proxy: RecordingProxy, fake_ollama: FakeOllama, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import STREAK
    from tests.lsp_client import WAIT, opened, session, until

    set_proxy_env(monkeypatch, proxy, PROXY_VARS)  # the server inherits this environment
    async with session("neovim", project, {"host": fake_ollama.url, "backend": backend}) as client:
        uri = opened(client, project / "streak.py", STREAK)
        await until(lambda: client.diagnostics.get(uri), "the streak diagnostic", WAIT)
    assert proxy.received == 0 and len(fake_ollama.requests) >= 1


# --- a machine with no network at all ----------------------------------------------------------


def _unshare_works() -> str | None:
    """None when `unshare -n` can make a network namespace here, else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    try:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        return f"unshare cannot run: {exc}"
    if probe.returncode != 0:
        return f"unshare -n is not permitted here (needs root or user namespaces): {probe.stderr.strip()}"
    return None


NO_UNSHARE = _unshare_works()
needs_unshare = pytest.mark.skipif(NO_UNSHARE is not None, reason=str(NO_UNSHARE))

# Runs inside the namespace: loopback up (nothing else exists), the fake Ollama, one review.
IN_NAMESPACE_FAKE = textwrap.dedent(
    """
    import subprocess, sys
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sys.path.insert(0, {repo!r})
    from tests.fake_ollama import FakeOllama
    with FakeOllama() as fake:
        proc = subprocess.run([sys.executable, "-m", "gemma_review", "review", "streak.py", "--no-cache", "-q",
                               "--host", fake.url, "--backend", {backend!r}], capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        sys.exit(proc.returncode)
    """
)


@needs_unshare
@pytest.mark.parametrize("backend", BACKENDS)
def test_review_on_the_fake_works_with_no_network(backend: str, project: Path) -> None:
    script = IN_NAMESPACE_FAKE.format(repo=str(REPO), backend=backend)
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", script], cwd=project, text=True,
                          capture_output=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 1, proc.stderr
    assert "streak.py:13" in proc.stdout


@needs_unshare
@pytest.mark.real_model
def test_review_on_the_embedded_demo_model_works_with_no_network(project: Path, smoke_gguf: Path) -> None:
    """Not even loopback is up: llama.cpp runs in process over a private Unix socket."""
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "gemma_review", "review", "ratio.py", "--no-cache", "-q",
         "--backend", "embedded", "--model-file", str(smoke_gguf), "--num-predict", "32", "--format", "json",
         "--timeout", "1200"],
        cwd=project, text=True, capture_output=True, timeout=1500, env=dict(os.environ),
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert '"findings"' in proc.stdout


# --- errors say who answered ---------------------------------------------------------------------


class _NotOllama(http.server.BaseHTTPRequestHandler):
    """A web server on Ollama's port: a login page or a redirect for every request."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.server.redirect:  # type: ignore[attr-defined]
            self.send_response(302)
            self.send_header("Location", "http://sso.example.com/login")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<!DOCTYPE html><html><head><title>Sign in to the proxy</title></head><body></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("redirect, said", [
    (False, "an HTML page (Sign in to the proxy) answers, not Ollama"),
    (True, "a redirect to http://sso.example.com/login answers (redirects are not followed), not Ollama"),
])
def test_auto_says_what_answers_instead_of_ollama(redirect: bool, said: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gemma_review.backends import select as select_mod

    monkeypatch.setattr(select_mod.smoke_model, "smoke_model_installed", lambda: False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotOllama)
    server.redirect = redirect  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(ModelUnavailableError) as err:
            select_mod.select_backend(Settings(host=host), allow_demo=True)  # `review`: the message that offers [demo]
        doctor_view = {c.name: c for c in select_mod.describe_backends(Settings(host=host))}
    finally:
        server.shutdown()
        server.server_close()
    assert str(err.value).startswith(f"no model available: {said} at {host}; start Ollama")
    assert doctor_view["ollama"].detail == f"{said} at {host}"


@pytest.mark.parametrize("override_name, said", [
    (None, "--timeout"),
    ("editor", "the editor setting gemma-review.timeout"),
])
def test_timeout_errors_name_the_setting_as_the_user_set_it(
    override_name: str | None, said: str, tmp_path: Path
) -> None:
    from gemma_review.config import editor_setting_name

    kw = {"override_name": editor_setting_name} if override_name else {}
    loaded = load_settings(tmp_path, env={}, overrides={"timeout": 1}, **kw).settings
    with FakeOllama(responder=Reply(trickle=True, tokens_per_second=5)) as fake:
        url = fake.url
        settings = dataclasses.replace(loaded, backend="ollama", host=url)
        with pytest.raises(ModelUnavailableError) as err:
            list(OllamaBackend(settings).stream_chat(
                ModelRequest(messages=[{"role": "user", "content": "x"}], schema={}, num_ctx=4096,
                             num_predict=64, timeout=settings.timeout)))
    assert str(err.value) == (
        f"Ollama at {url} did not finish the reply within 1s; raise {said} or use a smaller model"
    )
