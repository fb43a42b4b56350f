"""Pick the model backend: the one configured, or for ``auto`` the best one available.

``auto`` order: Ollama when it answers; else llama.cpp in process on ``model_file``; else
in process on the GGUF that ``ollama pull`` already stored for ``model``; else, only where
the caller allows it (``review``, ``bench``, ``doctor``), the packaged 270M demo model
(with a notice that it is no reviewer); else one clear error naming the host it tried and
how to start Ollama. The hook and the language server never fall back to the demo model:
a commit must not wait a minute for a model that cannot review, and an editor must pick
up Ollama when it starts. They use it only with ``backend = demo``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from .. import ollama_store, smoke_model
from ..config import Settings
from ..errors import ModelError, ModelUnavailableError
from .base import Backend


@dataclass
class Selection:
    backend: Backend
    reason: str  # one line for `doctor` and verbose output
    notice: str | None = None  # shown to the user once per run (smoke model)
    demo: bool = False  # the bundled demo model answers: outputs say so, num_predict is capped


@dataclass
class Candidate:
    """One backend as ``doctor`` reports it: can it be used now, and why (not)."""

    name: str
    usable: bool
    detail: str


def _probe_ollama(host: str) -> str | None:
    from . import ollama  # lazy: the lead's module, and the ollama client is slow to import

    return ollama.probe_ollama(host)


def _embedded(settings: Settings) -> Backend:
    from .embedded import EmbeddedBackend

    return EmbeddedBackend(settings)


def _embedded_available() -> bool:
    from .embedded import embedded_available

    return embedded_available()


def _what_answers(host: str) -> str:
    from . import ollama

    return ollama.what_answers(host)


def no_model_message(settings: Settings, what: str = "nothing answers", allow_demo: bool = True) -> str:
    if not allow_demo:
        # The hook and the editor: one line naming the host and how to get a model there.
        return (
            f"{what} at {settings.host}: start Ollama (`ollama serve` then "
            f"`ollama pull {settings.model}`; install it from https://ollama.com/download)"
        )
    return (
        f"no model available: {what} at {settings.host}; start Ollama (`ollama serve` then "
        f"`ollama pull {settings.model}`) or install the embedded demo model: "
        f"{smoke_model.install_advice()}"
    )


def demo_selection(settings: Settings, reason: str) -> Selection:
    """The bundled demo model in process; raises ModelUnavailableError when it is not installed."""
    if not smoke_model.smoke_model_installed():
        raise ModelUnavailableError(f"the demo model is not installed: {smoke_model.install_advice()}")
    if not _embedded_available():
        raise ModelUnavailableError(f"the demo model needs llama.cpp: {smoke_model.install_advice()}")
    path = smoke_model.smoke_model_path(settings.cache_dir)
    if path is None:  # uninstalled between the two calls
        raise ModelUnavailableError(f"the demo model is not installed: {smoke_model.install_advice()}")
    return Selection(
        _embedded(dataclasses.replace(settings, model_file=str(path))),
        reason,
        notice=smoke_model.SMOKE_NOTICE,
        demo=True,
    )


def select_backend(settings: Settings, allow_demo: bool = False) -> Selection:
    """The backend to use for ``settings`` (nothing is loaded yet).

    ``allow_demo``: whether ``auto`` may fall back to the demo model (``review``, ``bench``
    and ``doctor`` only).
    """
    if settings.backend == "demo":
        return demo_selection(settings, "backend = demo: the bundled Gemma 3 270M")
    if settings.backend == "ollama":
        from .ollama import OllamaBackend

        return Selection(OllamaBackend(settings), f"backend = ollama at {settings.host}")
    if settings.backend == "openai":
        from .openai import OpenAIBackend

        backend = OpenAIBackend(settings)
        return Selection(backend, f"backend = openai at {backend.client.base_url}")
    if settings.backend == "embedded":
        backend = _embedded(settings)
        return Selection(backend, f"backend = embedded: {backend.path}")  # type: ignore[attr-defined]

    version = _probe_ollama(settings.host)
    if version is not None:
        from .ollama import OllamaBackend

        return Selection(OllamaBackend(settings), f"Ollama {version} answers at {settings.host}")
    if settings.model_file:
        return Selection(
            _embedded(settings),
            f"nothing answers at {settings.host}; running {settings.model_file} in process",
        )
    blob = ollama_store.find_model(settings.model)
    if blob is not None:
        if not _embedded_available():
            raise ModelUnavailableError(
                f"nothing answers at {settings.host}: start Ollama (`ollama serve`), or run the "
                f"{settings.model} it already pulled in process: pip install 'gemma-review[embedded]'"
            )
        return Selection(
            _embedded(dataclasses.replace(settings, model_file=None)),
            f"nothing answers at {settings.host}; running {settings.model} from Ollama's store in process",
        )
    if allow_demo and smoke_model.smoke_model_installed() and _embedded_available():
        return demo_selection(
            settings,
            f"nothing answers at {settings.host} and {settings.model} is not pulled; "
            "using the packaged smoke-test model",
        )
    raise ModelUnavailableError(no_model_message(settings, _what_answers(settings.host), allow_demo))


def describe_backends(settings: Settings) -> list[Candidate]:
    """What ``doctor`` shows: every backend, usable or not, without loading a model."""
    out: list[Candidate] = []
    version = _probe_ollama(settings.host)
    out.append(
        Candidate("ollama", True, f"Ollama {version} answers at {settings.host}")
        if version is not None
        else Candidate("ollama", False, f"{_what_answers(settings.host)} at {settings.host}")
    )

    if settings.backend == "openai":
        from .openai import api_base, probe_openai

        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        models = probe_openai(settings.host, api_key=key)
        url = api_base(settings.host)
        out.append(
            Candidate("openai", True, f"{url} lists {', '.join(models) or 'no models'}")
            if models is not None
            else Candidate("openai", False, f"nothing answers at {url}/models")
        )
    else:
        out.append(Candidate("openai", False, "used only with backend = openai (host = the server's URL)"))

    if not _embedded_available():
        out.append(Candidate("embedded", False, "xllamacpp is not installed: pip install 'gemma-review[embedded]'"))
    elif settings.model_file:
        found = os.path.isfile(os.path.expanduser(settings.model_file))
        out.append(
            Candidate("embedded", found, f"model file {settings.model_file}" + ("" if found else " does not exist"))
        )
    else:
        try:
            blob = ollama_store.find_model(settings.model)
        except ModelError as exc:  # a broken store is reported, not fatal, in doctor
            out.append(Candidate("embedded", False, str(exc)))
        else:
            out.append(
                Candidate("embedded", True, f"{settings.model} from Ollama's store: {blob}")
                if blob is not None
                else Candidate(
                    "embedded", False, f"{settings.model} is not in Ollama's store and no model_file is set"
                )
            )

    out.append(
        Candidate("smoke", True, "Gemma 3 270M smoke-test model installed (proves the pipeline, not a reviewer)")
        if smoke_model.smoke_model_installed()
        else Candidate("smoke", False, f"smoke-test model not installed: {smoke_model.install_advice()}")
    )
    return out


def model_reachable(settings: Settings) -> bool:
    """Whether the model server ``settings`` point at answers now (cheap; no model loads).

    The language server asks this while the model is unavailable, so Ollama started
    later is picked up without a restart.
    """
    if settings.backend in ("auto", "ollama"):
        return _probe_ollama(settings.host) is not None
    if settings.backend == "openai":
        from .openai import probe_openai

        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        return probe_openai(settings.host, api_key=key) is not None
    return True  # in process: nothing to wait for
