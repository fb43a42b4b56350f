"""Ollama administration over its HTTP API: show, list, load and inspect loaded models.

The review itself streams through :mod:`.ollama`; these small status calls serve
``gemma-review doctor`` (its checks) and ``gemma-review bench`` (preflight, warm-up and
GPU memory), so they live here, beside the backend, rather than in either command.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Settings
from ..errors import ModelError, ModelNotFoundError, ModelUnavailableError

STATUS_TIMEOUT = 5.0  # seconds for the small status endpoints


def _error_text(resp: Any) -> str:
    from .http import one_line

    try:
        data = resp.json()
    except ValueError:
        return one_line(resp.text) or f"HTTP {resp.status_code}"
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {resp.status_code}"


def ollama_client(settings: Settings) -> Any:
    import httpx  # lazy: only doctor and bench make these calls

    from .http import client_for  # loopback direct, redirects refused: like the review itself

    return client_for(settings.host, httpx.Timeout(STATUS_TIMEOUT, connect=2.0))


def ollama_show(client: Any, model: str) -> dict[str, Any]:
    """``/api/show`` for ``model``; ModelNotFoundError (with the pull command) when absent."""
    import httpx

    from .ollama import is_model_not_found, not_found_message, unavailable_message

    try:
        resp = client.post("/api/show", json={"model": model})
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(unavailable_message(str(client.base_url).rstrip("/"), type(exc).__name__)) from None
    if is_model_not_found(resp.status_code, _error_text(resp)):  # a proxy's 404 is not "not pulled"
        raise ModelNotFoundError(not_found_message(model))
    if resp.status_code != 200:
        raise ModelError(f"Ollama answered /api/show with HTTP {resp.status_code}: {_error_text(resp)}")
    try:
        data = resp.json()
    except ValueError:
        raise ModelError("Ollama's /api/show answer is not JSON") from None
    return data if isinstance(data, dict) else {}


def ollama_tags(client: Any) -> list[str]:
    import httpx

    try:
        resp = client.get("/api/tags")
        models = resp.json().get("models") or [] if resp.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)]


def load_ollama_model(client: Any, settings: Settings, model: str) -> float:
    """Load ``model`` with the review's num_ctx (an empty chat does that); seconds taken."""
    import httpx

    from .ollama import is_model_not_found, not_found_message, unavailable_message

    body = {
        "model": model,
        "messages": [],
        "keep_alive": settings.keep_alive,
        "options": {"num_ctx": settings.num_ctx},
    }
    start = time.monotonic()
    try:
        resp = client.post("/api/chat", json=body, timeout=httpx.Timeout(settings.timeout, connect=2.0))
    except httpx.TimeoutException:
        raise ModelUnavailableError(
            f"Ollama did not load {model} within {settings.timeout:g}s; raise --timeout or use a smaller model"
        ) from None
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(unavailable_message(settings.host, type(exc).__name__)) from None
    if is_model_not_found(resp.status_code, _error_text(resp)):
        raise ModelNotFoundError(not_found_message(model))
    if resp.status_code != 200:
        raise ModelError(f"Ollama could not load {model}: {_error_text(resp)}")
    return time.monotonic() - start


def ollama_ps_entry(client: Any, model: str) -> dict[str, Any] | None:
    """The ``/api/ps`` record of ``model`` (it names ``gemma4`` as ``gemma4:latest``)."""
    import httpx

    names = {model} if ":" in model.rsplit("/", 1)[-1] else {model, f"{model}:latest"}
    try:
        resp = client.get("/api/ps")
        entries = resp.json().get("models") or [] if resp.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    for entry in entries:
        if isinstance(entry, dict) and ({entry.get("name"), entry.get("model")} & names):
            return entry
    return None


def ollama_version(client: Any) -> str | None:
    """The server's version (``/api/version``), or None when nothing answers."""
    import httpx

    try:
        resp = client.get("/api/version")
        return str(resp.json().get("version", "unknown")) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
