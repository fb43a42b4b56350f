"""The VS Code extension's own CI: npm ci, the stubbed-`vscode` unit tests, the .vsix build.

Run through pytest so the README's one test command covers the TypeScript side too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parent.parent / "vscode-extension"


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed (Node.js 20 + npm needed)")
def test_extension_unit_tests_and_vsix() -> None:
    proc = subprocess.run(["bash", str(EXT / "ci.sh")], cwd=EXT, capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"vscode-extension/ci.sh failed:\n{tail}"
    assert "Tests" in proc.stdout and "passed" in proc.stdout, tail
    assert (EXT / "gemma-review.vsix").is_file()
