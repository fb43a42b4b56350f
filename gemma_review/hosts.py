"""Where code may go: model host URLs, what counts as this machine, and the privacy rule."""

from __future__ import annotations

import ipaddress
import re
from typing import Protocol
from urllib.parse import urlsplit

from .errors import ConfigError


class Destination(Protocol):
    """What the privacy rule reads of the settings."""

    backend: str
    host: str
    allow_remote: bool

DEFAULT_HOST = "http://127.0.0.1:11434"
BAD_NAME_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")  # spaces, newlines, control characters


def normalize_host(host: str, origin: str = "host") -> str:
    """Accept ``host:port`` and bare hosts as Ollama does (``OLLAMA_HOST=0.0.0.0``)."""
    host = host.strip()
    if not host:
        raise ConfigError(f"{origin}: the model host is empty; set e.g. {DEFAULT_HOST}")
    if "://" not in host:
        host = "http://" + host
    not_url = ConfigError(f"{origin}: {host!r} is not an http(s) URL such as {DEFAULT_HOST}")
    if BAD_NAME_CHARS.search(host):
        raise not_url  # spaces, newlines: urlsplit would keep or silently drop them
    try:
        parts = urlsplit(host)
        hostname = parts.hostname
    except ValueError:  # "http://[::1": an unclosed IPv6 bracket
        raise not_url from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise not_url
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{origin}: {host!r} has an invalid port") from None
    if port is None and parts.scheme == "http":
        # Also for "[::1]": the colons of an IPv6 literal are not a port.
        host = f"{parts.scheme}://{parts.netloc.rstrip(':')}:11434{parts.path}"
    return host.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """Local means a loopback literal or ``localhost`` itself: no other name, since a DNS
    answer must never decide where code goes (``localhost`` is answered by the hosts file)."""
    name = urlsplit(host).hostname or ""
    if name == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    # 0.0.0.0 means "this machine" to Ollama users (OLLAMA_HOST=0.0.0.0).
    return addr.is_loopback or addr.is_unspecified


def check_privacy(settings: Destination) -> None:
    """Refuse to send code off this machine unless the user said so."""
    if settings.backend in ("embedded", "demo") or settings.allow_remote:
        return
    if not is_loopback_host(settings.host):
        raise ConfigError(
            f"refusing to send code to {settings.host}: it is not on this machine; "
            "set allow_remote = true (or --allow-remote) if you trust that server"
        )
