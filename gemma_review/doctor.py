"""``gemma-review doctor``: can reviewing work here, and how fast?

One line per check, verdict first (``ok``, ``info``, ``warn``, ``fail``): the backend
``auto`` picks and why, the server and its version, the model, its context length and
capabilities, the model load, a short timed review-shaped request (prefill and decode
tokens/s, time to first token), GPU memory where the server reports it, and the cache.
Exit 0 when reviewing can work (warnings allowed), 3 when the model cannot be used,
2 for configuration errors.

The Ollama status calls it makes live in :mod:`gemma_review.backends.ollama_admin`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TextIO

from .backends.base import Backend, Metrics, ModelRequest
from .backends.ollama_admin import (
    load_ollama_model,
    ollama_client,
    ollama_ps_entry,
    ollama_show,
    ollama_tags,
    ollama_version,
)
from .config import Settings
from .errors import (
    EXIT_MODEL_UNAVAILABLE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    GemmaReviewError,
    ModelError,
    ModelNotFoundError,
)

VERDICT_WIDTH = 6  # "ok    ", "warn  ": the check names line up
MIN_OLLAMA_FOR_GEMMA4 = (0, 21, 1)  # Gemma 4 with think=False and a format schema
PROBE_TOKENS = 48  # reply cap for the timed request: enough to measure decode speed
SLOW_DECODE_TPS = 5.0  # below this a full reply (num_predict tokens) takes minutes

# The timed request reviews this (a realistic prompt: the real instructions and schema).
PROBE_PATH = "doctor_check.py"
PROBE_LINES = (
    "def average(values):",
    "    total = 0",
    "    for v in values:",
    "        total += v",
    "    return total / len(values)",
)


@dataclass
class Check:
    verdict: str  # ok | info | warn | fail
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.verdict:<{VERDICT_WIDTH}}{self.name}: {self.detail}"


@dataclass
class Report:
    """Prints each check as soon as it is known (the timed request takes seconds)."""

    stream: TextIO
    checks: list[Check] = field(default_factory=list)

    def add(self, verdict: str, name: str, detail: str) -> Check:
        check = Check(verdict, name, detail)
        self.checks.append(check)
        self.stream.write(check.line() + "\n")
        self.stream.flush()
        return check

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.checks if c.verdict == verdict)


# ---------------------------------------------------------------------------- helpers


def human_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit in ("B", "KiB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - loop always returns


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``0.21.1``, ``v0.21.1-rc0`` -> (0, 21, 1); development builds (``0.0.0``) -> None."""
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        return None
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return None if version == (0, 0, 0) else version


def is_gemma4(model: str) -> bool:
    return "gemma4" in re.sub(r"[^a-z0-9]", "", model.lower())


def ollama_version_check(version: str, host: str, model: str) -> Check:
    need = ".".join(map(str, MIN_OLLAMA_FOR_GEMMA4))
    parsed = parse_version(version)
    if not is_gemma4(model):
        return Check("ok", "server", f"Ollama {version} at {host}")
    if parsed is None:
        return Check(
            "warn", "server",
            f"Ollama {version} at {host}: cannot tell its version; Gemma 4 with think=False and a "
            f"JSON schema needs Ollama {need} or newer",
        )
    if parsed < MIN_OLLAMA_FOR_GEMMA4:
        return Check(
            "warn", "server",
            f"Ollama {version} at {host} is too old for Gemma 4 with think=False and a JSON schema "
            f"(needs {need} or newer); upgrade Ollama",
        )
    return Check("ok", "server", f"Ollama {version} at {host}")


def gpu_memory_check(entry: dict[str, Any] | None, model: str) -> Check:
    if entry is None:
        return Check("warn", "gpu memory", f"Ollama's /api/ps does not list {model}; it was unloaded right away")
    size = int(entry.get("size") or 0)
    vram = int(entry.get("size_vram") or 0)
    if vram <= 0:
        return Check("info", "gpu memory", f"none; {model} runs on the CPU ({human_bytes(size)} in RAM)")
    if size and vram < size:
        return Check(
            "warn", "gpu memory",
            f"{human_bytes(vram)} of {human_bytes(size)} on the GPU ({100 * vram / size:.0f} %); "
            "the rest runs on the CPU, which is much slower",
        )
    return Check("ok", "gpu memory", f"{human_bytes(vram)} in use, all of {model} on the GPU")


def probe_request(settings: Settings) -> ModelRequest:
    from .prompt import REVIEW_SCHEMA, review_messages
    from .units import Unit

    unit = Unit(PROBE_PATH, "python", 1, len(PROBE_LINES), PROBE_LINES,
                frozenset(range(1, len(PROBE_LINES) + 1)), whole_file=True)
    return ModelRequest(
        messages=review_messages(unit),
        schema=REVIEW_SCHEMA,
        num_ctx=settings.num_ctx,
        num_predict=min(settings.num_predict, PROBE_TOKENS),
        seed=settings.seed,
        timeout=settings.timeout,
        keep_alive=settings.keep_alive,
    )


@dataclass
class Probe:
    metrics: Metrics
    text: str
    first_token: float | None


def timed_request(backend: Backend, settings: Settings) -> Probe:
    """One short review-shaped request; the stream is closed however it ends."""
    start = time.monotonic()
    first: float | None = None
    pieces: list[str] = []
    metrics: Metrics | None = None
    stream = backend.stream_chat(probe_request(settings))
    try:
        for chunk in stream:
            if chunk.text:
                if first is None:
                    first = time.monotonic() - start
                pieces.append(chunk.text)
            if chunk.done:
                metrics = chunk.metrics
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    if metrics is None:
        raise ModelError("the model's reply ended without its final record")
    return Probe(metrics, "".join(pieces), metrics.time_to_first_token if metrics.time_to_first_token is not None else first)


def _rate(tps: float) -> str:
    return f"{tps:.0f}" if tps >= 10 else f"{tps:.1f}"  # a slow machine must not read "0 tok/s"


def speed_check(probe: Probe, num_predict: int) -> Check:
    m = probe.metrics
    prefill = f"{_rate(m.prefill_tps)} tok/s" if m.prefill_tps else "n/a"
    decode = f"{_rate(m.decode_tps)} tok/s" if m.decode_tps else "n/a"
    ttft = f"{probe.first_token:.2f} s" if probe.first_token is not None else "n/a (no text)"
    detail = (
        f"prefill {prefill}, decode {decode}, first token {ttft} "
        f"({m.prompt_tokens} prompt + {m.output_tokens} output tokens in {m.total_seconds:.2f} s)"
    )
    if m.decode_tps and m.decode_tps < SLOW_DECODE_TPS:
        return Check(
            "warn", "speed",
            f"{detail}; reviews will be slow: a full {num_predict}-token reply takes "
            f"{num_predict / m.decode_tps:.0f} s (a smaller model or a GPU helps)",
        )
    return Check("ok", "speed", detail)


def reply_check(probe: Probe, num_predict: int) -> Check:
    if probe.metrics.truncated:
        return Check("info", "reply", f"cut at {num_predict} tokens as asked; its JSON was not checked")
    try:
        data = json.loads(probe.text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        return Check("ok", "reply", f"valid review JSON ({len(data['findings'])} finding{'s' if len(data['findings']) != 1 else ''} on the test snippet)")
    shown = " ".join(probe.text.split())[:60] or "an empty reply"
    return Check(
        "warn", "reply",
        f"not the review JSON ({shown!r}); the server may not enforce the JSON schema",
    )


def cache_check(settings: Settings) -> Check:
    from .cache import ReviewCache, default_cache_dir

    folder = Path(settings.cache_dir).expanduser() if settings.cache_dir else default_cache_dir()
    if not settings.cache:
        return Check("info", "cache", f"disabled (cache = false or --no-cache); it lives in {folder}")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return Check("warn", "cache", f"{folder} is not writable; every review will ask the model again")
    stats = ReviewCache(folder).stats()
    return Check("ok", "cache", f"{stats['path']}: {stats['entries']} entr{'y' if stats['entries'] == 1 else 'ies'}, {human_bytes(stats['bytes'])}")


# ---------------------------------------------------------------------------- the checks


class Doctor:
    def __init__(self, settings: Settings, report: Report, cwd: Path | None = None) -> None:
        self.settings = settings
        self.report = report
        self.cwd = cwd or Path.cwd()

    def add(self, check: Check) -> Check:
        return self.report.add(check.verdict, check.name, check.detail)

    def fail(self, name: str, exc: GemmaReviewError) -> int:
        self.report.add("fail", name, str(exc))
        return exc.exit_code

    def run(self) -> int:
        from .backends.select import select_backend

        from .engine import effective_settings

        code = EXIT_OK
        try:
            selection = select_backend(self.settings, allow_demo=True)
        except GemmaReviewError as exc:
            code = self.fail("backend", exc)
            self.install_hint()
        else:
            # Estimates use the limits reviews will really run with (the demo model's cap).
            self.settings = effective_settings(self.settings, selection.demo)
            if selection.demo:
                self.install_hint()
            backend = selection.backend
            self.report.add("warn" if selection.notice else "ok", "backend", f"{backend.name} ({selection.reason})")
            if selection.notice:
                self.report.add("warn", "model", selection.notice)
            try:
                code = self.check_backend(backend)
                if code == EXIT_OK:
                    self.context(backend)
                    self.parallel(backend)
            finally:
                backend.close()
        self.add(cache_check(self.settings))
        from .decide import repo_root
        from .verdicts import doctor_line

        self.report.add("ok", "learning", doctor_line(self.settings, repo_root(self.cwd)))
        fails, warns = self.report.count("fail"), self.report.count("warn")
        if code != EXIT_OK or fails:
            self.report.stream.write("reviewing cannot work here: fix the fail line(s) above\n")
            return code if code != EXIT_OK else EXIT_MODEL_UNAVAILABLE
        self.report.stream.write(
            "reviewing can work here" + (f" ({warns} warning{'s' if warns != 1 else ''})" if warns else "") + "\n"
        )
        return EXIT_OK

    def context(self, backend: Backend) -> None:
        """The context reviews pack for and where it came from, how tokens are counted, and
        whether a prompt was cut or refused lately (issue 20)."""
        from .cache import ReviewCache, default_cache_dir
        from .context import UNLEARNED_MARGIN, context_window

        s = self.settings
        window = context_window(backend, s.num_ctx)
        unknown = window.server_n_ctx is None and backend.name not in ("ollama", "embedded")
        self.report.add("warn" if unknown else "ok", "context in use", f"{window.n_ctx} tokens: {window.source}")
        cache = ReviewCache(Path(s.cache_dir).expanduser() if s.cache_dir else default_cache_dir()) if s.cache else None
        key = f"{backend.name}:{backend.model}"
        counted = None
        count = getattr(backend, "count_tokens", None)
        if callable(count):
            try:
                counted = count([{"role": "user", "content": "def f(x):\n    return x\n"}])
            except GemmaReviewError:
                counted = None
        ratio = cache.token_ratios().get(key) if cache is not None else None
        if counted is not None:
            how = "counted by the model's own tokenizer"
        elif ratio:
            how = f"estimated with the learned {ratio:.3f} tokens per byte ({1 / ratio:.2f} bytes per token)"
        else:
            how = f"estimated ×{UNLEARNED_MARGIN:g} until the server's prompt counts teach the ratio"
        if ratio and counted is not None:
            how += f"; learned {ratio:.3f} tokens per byte"
        self.report.add("ok", "token counts", how)
        if cache is not None:
            recent = [e for e in cache.context_events(time.time() - 7 * 86400) if e[0] == key]
            if recent:
                kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(e[1] for e in recent).items()))
                self.report.add("warn", "context events", f"last 7 days: {kinds} (split and sent again); latest: {recent[-1][3]}")
            else:
                self.report.add("ok", "context events", "no prompt cut or refused in the last 7 days")

    def parallel(self, backend: Backend) -> None:
        """Requests in flight and where the number came from (``--jobs``, or the server's slots)."""
        from .scheduler import parallelism

        p = parallelism(backend, self.settings)
        n = f"{p.jobs} request{'s' if p.jobs != 1 else ''} in flight"
        if p.server_slots is not None and p.jobs > p.server_slots:
            self.report.add("warn", "parallelism", f"{n}: {p.source}, but the server has {p.server_slots} slots; "
                            "the rest wait in its queue, where their timeout runs: lower --jobs")
        else:
            self.report.add("ok", "parallelism", f"{n}: {p.source}")

    def install_hint(self) -> None:
        """No Ollama on this machine at all: say how to install it, not only `ollama pull`."""
        hint = ollama_install_hint(self.settings)
        if hint:
            self.report.add("info", "ollama", hint)

    def check_backend(self, backend: Backend) -> int:
        """Backend-specific checks, then the timed request; the exit code."""
        try:
            if backend.name == "ollama":
                client = ollama_client(self.settings)
                try:
                    if not self.ollama_model(client, backend.model):
                        return EXIT_MODEL_UNAVAILABLE
                    self.timed(backend)
                    self.add(gpu_memory_check(ollama_ps_entry(client, backend.model), backend.model))
                finally:
                    client.close()
            elif backend.name == "embedded":
                if not self.embedded_model(backend):
                    return EXIT_MODEL_UNAVAILABLE
                self.timed(backend)
                self.report.add("info", "gpu memory", "not reported by the embedded llama.cpp")
            else:
                if not self.openai_model(backend):
                    return EXIT_MODEL_UNAVAILABLE
                self.timed(backend)
                self.report.add("info", "gpu memory", "not reported by OpenAI-compatible servers")
        except GemmaReviewError as exc:
            return self.fail("request", exc)
        return EXIT_OK

    def timed(self, backend: Backend) -> None:
        probe = timed_request(backend, self.settings)
        self.add(speed_check(probe, self.settings.num_predict))
        self.add(reply_check(probe, min(self.settings.num_predict, PROBE_TOKENS)))

    # -- Ollama

    def ollama_model(self, client: Any, model: str) -> bool:
        from .backends.ollama import unavailable_message

        s = self.settings
        try:
            version = ollama_version(client)
        except GemmaReviewError as exc:  # a redirect or an HTML page: not Ollama answering
            self.report.add("fail", "server", str(exc))
            return False
        if version is None:
            self.report.add("fail", "server", unavailable_message(s.host, "nothing answers"))
            self.install_hint()
            return False
        self.add(ollama_version_check(version, s.host, model))
        try:
            show = ollama_show(client, model)
        except ModelNotFoundError as exc:
            others = [m for m in ollama_tags(client) if m != model]
            pulled = f" (pulled: {', '.join(others)})" if others else " (no models are pulled)"
            self.report.add("fail", "model", str(exc) + pulled)
            return False
        except GemmaReviewError as exc:
            self.report.add("fail", "model", str(exc))
            return False
        details = show.get("details") or {}
        facts = ", ".join(str(details[k]) for k in ("family", "parameter_size", "quantization_level") if details.get(k))
        self.report.add("ok", "model", f"{model}" + (f" ({facts})" if facts else ""))
        info = show.get("model_info") or {}
        arch = info.get("general.architecture")
        self.add(context_check(info.get(f"{arch}.context_length") if arch else None, s.num_ctx))
        caps = show.get("capabilities")
        if not isinstance(caps, list):
            self.report.add("warn", "capabilities", "not reported (Ollama older than 0.6.4); cannot check the model chats")
        elif "completion" not in caps:
            self.report.add("fail", "capabilities", f"{model} cannot chat ({', '.join(caps) or 'none'}); pick a chat model")
            return False
        else:
            self.report.add("ok", "capabilities", ", ".join(caps))
        try:
            seconds = load_ollama_model(client, s, model)
        except GemmaReviewError as exc:
            self.report.add("fail", "load", str(exc))
            return False
        self.report.add("ok", "load", f"{model} ready in {seconds:.1f} s with num_ctx {s.num_ctx}")
        return True

    # -- embedded llama.cpp

    def embedded_model(self, backend: Any) -> bool:
        from .backends.openai import OpenAIChatClient

        s = self.settings
        path = Path(backend.path)
        self.report.add("ok", "model file", f"{path} ({human_bytes(path.stat().st_size)})")
        start = time.monotonic()
        try:
            loaded = backend.load(s.num_ctx)
        except GemmaReviewError as exc:
            self.report.add("fail", "load", str(exc))
            return False
        version = f", xllamacpp {loaded.version}" if loaded.version else ""
        self.report.add("ok", "load", f"loaded in {time.monotonic() - start:.1f} s with n_ctx {loaded.n_ctx}{version}")
        client = OpenAIChatClient(loaded.base_url, model=backend.model, api_key=loaded.api_key, transport=loaded.transport())
        try:
            listing = client.get_json("/v1/models")
        finally:
            client.close()
        meta: dict[str, Any] = {}
        caps: list[str] | None = None
        if isinstance(listing, dict):
            data = listing.get("data") or [{}]
            meta = (data[0] or {}).get("meta") or {} if isinstance(data[0], dict) else {}
            models = listing.get("models") or [{}]
            if isinstance(models[0], dict) and isinstance(models[0].get("capabilities"), list):
                caps = [str(c) for c in models[0]["capabilities"]]
        self.add(context_check(meta.get("n_ctx_train"), s.num_ctx))
        if caps is not None:
            self.report.add("ok" if "completion" in caps else "warn", "capabilities", ", ".join(caps) or "none")
        return True

    # -- OpenAI-compatible servers

    def openai_model(self, backend: Any) -> bool:
        s = self.settings
        info = backend.info().detail
        url = info.get("url", s.host)
        if not info.get("reachable"):
            self.report.add("fail", "server", f"nothing answers at {url}/models; start the server or fix --host")
            return False
        models = [str(m) for m in info.get("models") or []]
        self.report.add("ok", "server", f"{url} lists {', '.join(models) or 'no models'}")
        if models and backend.model not in models:
            self.report.add(
                "warn", "model",
                f"'{backend.model}' is not listed; llama.cpp serves its one model under any name, "
                "other servers refuse unknown names (set --model to a listed one)",
            )
        else:
            self.report.add("ok", "model", backend.model)
        n_ctx = info.get("n_ctx")
        if n_ctx is None:
            self.report.add("info", "context", "the server does not report its context size")
        elif int(n_ctx) < s.num_ctx:
            self.report.add(
                "warn", "context",
                f"the server's context is {n_ctx} tokens, below num_ctx {s.num_ctx}: long units will be "
                f"refused; start llama-server with -c {s.num_ctx} or lower num_ctx",
            )
        else:
            self.report.add("ok", "context", f"the server holds {n_ctx} tokens; reviews use num_ctx {s.num_ctx}")
        return True


OLLAMA_DOWNLOAD = "https://ollama.com/download"


def ollama_install_hint(settings: Settings, which: Any = None) -> str | None:
    """How to install Ollama when no ``ollama`` program is on PATH; None when it is installed."""
    import shutil

    if (which or shutil.which)("ollama") is not None:
        return None
    if sys.platform.startswith("linux"):
        how = "curl -fsSL https://ollama.com/install.sh | sh"
    elif sys.platform == "darwin":
        how = f"brew install ollama (or the app from {OLLAMA_DOWNLOAD})"
    else:
        how = f"the installer from {OLLAMA_DOWNLOAD}"
    return (
        f"Ollama is not installed: install it with {how}, then run `ollama serve` and "
        f"`ollama pull {settings.model}`"
    )


def context_check(length: Any, num_ctx: int) -> Check:
    try:
        trained = int(length)
    except (TypeError, ValueError):
        return Check("warn", "context", f"the model's context length is not reported; reviews use num_ctx {num_ctx}")
    if trained < num_ctx:
        return Check(
            "warn", "context",
            f"the model holds {trained} tokens, below num_ctx {num_ctx}; set num_ctx = {trained} or less",
        )
    return Check("ok", "context", f"the model holds {trained} tokens; reviews use num_ctx {num_ctx}")


def run(
    overrides: Mapping[str, Any],
    config_file: Path | None = None,
    stream: TextIO | None = None,
    cwd: Path | None = None,
) -> int:
    """Check the configuration (defaults < files < env < ``overrides``), then the model; the exit code.

    It loads the settings itself because a broken configuration is one of its checks.
    """
    from .config import check_privacy, load_settings

    report = Report(sys.stdout if stream is None else stream)
    try:
        loaded = load_settings(Path.cwd() if cwd is None else cwd, overrides=overrides, config_file=config_file)
        check_privacy(loaded.settings)
    except ConfigError as exc:
        report.add("fail", "config", str(exc))
        return EXIT_USAGE
    report.add("ok", "config", str(loaded.config_file) if loaded.config_file else "defaults (no config file found)")
    for warning in loaded.warnings:
        report.add("warn", "config", warning)
    return Doctor(loaded.settings, report, cwd).run()
