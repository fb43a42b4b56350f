"""HTTP to model servers: one way to build a client, so every request obeys the same rules.

- A loopback host (a loopback literal or ``localhost``, see ``config.is_loopback_host``)
  is always reached directly: ``http_proxy``/``HTTP_PROXY``/``https_proxy``/``ALL_PROXY``
  are ignored, because a proxy in front of localhost would carry the code off this machine.
- A remote host (only with ``allow_remote``) may go through the environment's proxy,
  honouring ``no_proxy``.
- Redirects are never followed: a redirect to another host would get round the host check.
  The user is told where the server tried to send the request instead.
- A reply that is an HTML page is not the model server speaking (a proxy, a login page, a
  web server on the port): say so in one line instead of guessing "model not pulled".

The backends, ``doctor`` and ``bench`` all build their clients with :func:`client_for`.
"""

from __future__ import annotations

import html
import re
import ssl
import socket
import threading
import time
import urllib.request
from typing import Any, Callable, Iterable
from urllib.parse import urljoin, urlsplit

import httpx

from ..config import is_loopback_host
from ..errors import ModelUnavailableError

MAX_ERROR_CHARS = 200  # a server's error text is cut to this in messages
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>|<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# How servers say they ran out of memory (Ollama, llama.cpp, CUDA, Metal).
OUT_OF_MEMORY = re.compile(
    r"out of memory|requires more system memory|cudaMalloc failed|failed to allocate|insufficient memory|\bOOM\b",
    re.IGNORECASE,
)
_SSL_LOCK = threading.Lock()
_SSL_CONTEXT: ssl.SSLContext | None = None


class RedirectError(ModelUnavailableError):
    """The model server answered with a redirect; it is not followed."""


class NotModelServerError(ModelUnavailableError):
    """Something other than the model server answered (an HTML page, a proxy)."""


def env_proxy(host: str) -> str | None:
    """The environment's proxy for ``host``; None for loopback hosts and ``no_proxy`` matches."""
    if is_loopback_host(host):
        return None
    parts = urlsplit(host)
    name = parts.hostname or ""
    if name and urllib.request.proxy_bypass_environment(name):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all")


def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle for every request would cost more than the request.
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = httpx.create_ssl_context()
        return _SSL_CONTEXT


def transport_for(host: str, network_backend: Any = None) -> httpx.HTTPTransport:
    """A transport that never reads proxy settings itself: the proxy, if any, is chosen here."""
    local = is_loopback_host(host)
    proxy = None if local else env_proxy(host)
    try:
        transport = httpx.HTTPTransport(proxy=proxy, verify=_ssl_context(), trust_env=not local)
    except (ValueError, ImportError) as exc:  # an unusable proxy URL (e.g. socks without socksio)
        raise ModelUnavailableError(f"cannot use the proxy {proxy} for {host}: {exc}") from None
    if network_backend is not None:
        # httpx takes no network backend argument; its pool does (httpcore's public API).
        transport._pool._network_backend = network_backend
    return transport


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """A server's error text as one short line: an HTML page becomes its title."""
    text = text.strip()
    if looks_like_html(text):
        m = _TITLE.search(text)
        text = (m.group(1) or m.group(2)) if m else _TAG.sub(" ", text)
        text = html.unescape(_TAG.sub(" ", text))
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body", "<title", "<h1", "<?xml"))


def redirect_message(where: str, location: str) -> str:
    return (
        f"{where} answered with a redirect to {location}; gemma-review does not follow redirects: "
        "point the `host` setting at the model server itself"
    )


def html_message(where: str, status: int, title: str) -> str:
    shown = f" ({title})" if title else ""
    return (
        f"{where} answered with an HTML page, HTTP {status}{shown}, not the model server's API: "
        "something else answers at that address (a proxy, a web server or a login page); "
        "check the `host` setting"
    )


def response_guard(where: Callable[[], str]) -> Callable[[httpx.Response], None]:
    """An httpx response hook that refuses redirects and HTML pages before anyone parses them."""

    def guard(response: httpx.Response) -> None:
        if response.is_redirect:
            location = response.headers.get("location", "")
            target = urljoin(str(response.request.url), location) if location else "(no location)"
            response.close()
            raise RedirectError(redirect_message(where(), target))
        ctype = response.headers.get("content-type", "").lower()
        if ctype.startswith(("text/html", "application/xhtml")):
            try:
                body = response.read()[:65536].decode("utf-8", "replace")
            except httpx.HTTPError:
                body = ""
            finally:
                response.close()
            raise NotModelServerError(html_message(where(), response.status_code, one_line(body, 120)))

    return guard


def client_kwargs(
    host: str,
    timeout: float | httpx.Timeout,
    *,
    where: str | Callable[[], str] | None = None,
    network_backend: Any = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """The ``httpx.Client`` arguments every model-server client gets (also through the
    ``ollama`` client, which passes them on to httpx).

    ``transport`` replaces the TCP transport (the embedded backend's private Unix socket);
    ``network_backend`` lets the caller see the sockets opened (cancel and deadline).
    """
    if not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(timeout, connect=min(5.0, timeout))
    name: Callable[[], str] = where if callable(where) else (lambda: where or f"the model server at {host}")
    return {
        "timeout": timeout,
        "transport": transport if transport is not None else transport_for(host, network_backend),
        "follow_redirects": False,
        "trust_env": False,  # the transport already chose the proxy (none for loopback)
        "event_hooks": {"response": [response_guard(name)]},
    }


def client_for(
    host: str,
    timeout: float | httpx.Timeout,
    *,
    where: str | Callable[[], str] | None = None,
    network_backend: Any = None,
    transport: httpx.BaseTransport | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """The one way gemma-review builds an HTTP client for the model server at ``host``."""
    return httpx.Client(
        base_url=host,
        headers=headers,
        **client_kwargs(host, timeout, where=where, network_backend=network_backend, transport=transport),
    )


class RequestWatch:
    """Shuts a request's sockets down when ``cancel`` is set or the deadline passes.

    A read blocked in a long prefill (Ollama sends no byte before the first token) returns
    at once, and the server, seeing the client gone, stops generating. The deadline bounds
    the whole request, so a stream that trickles a token now and then still ends on time.
    """

    POLL = 0.05

    def __init__(self, sockets: Callable[[], Iterable[Any]], cancel: threading.Event | None, deadline: float) -> None:
        self._sockets = sockets
        self._cancel = cancel
        self._deadline = deadline
        self._done = threading.Event()
        self.fired: str | None = None  # "cancel" | "deadline"
        self._thread = threading.Thread(target=self._run, name="gemma-review-request-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.POLL):
            if self._cancel is not None and self._cancel.is_set():
                self.fired = "cancel"
            elif time.monotonic() >= self._deadline:
                self.fired = "deadline"
            else:
                continue
            for sock in list(self._sockets()):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except (OSError, AttributeError):
                    pass  # already closed
            return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
