"""The wheel installs one top-level package, ``gemma_review``, and works from a plain install.

The folders ``hooks/`` and ``lsp_server/`` stay at the top of the repository but install as
``gemma_review.hooks`` and ``gemma_review.lsp`` (pyproject's ``package-dir``), so nothing
named ``hooks`` lands in site-packages. Built offline from a copy of the tracked files
(``--no-build-isolation``: the test extras bring a setuptools that reads this pyproject).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "gemma_review", "hooks", "lsp_server", "samples")


def _copy_sources(dest: Path) -> None:
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    _copy_sources(src)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("gemma_review-*.whl")
    return built


def test_the_wheel_has_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert tops == {"gemma_review"}
    assert "gemma_review/hooks/pre_commit.py" in names
    assert "gemma_review/lsp/server.py" in names
    assert "gemma_review/lsp/transport.py" in names
    assert "gemma_review/samples/labels.toml" in names  # bench works from any install
    with zipfile.ZipFile(wheel) as zf:
        for name in (n for n in names if n.endswith(".dist-info/top_level.txt")):
            assert zf.read(name).decode().split() == ["gemma_review"]

def test_a_plain_install_imports_and_runs(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # A repository with its own `hooks` and `lsp_server` folders must not matter either.
    work = tmp_path / "work"
    (work / "hooks").mkdir(parents=True)
    (work / "hooks" / "__init__.py").write_text("raise SystemExit('the wrong hooks package')\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import gemma_review, gemma_review.hooks.pre_commit as h, gemma_review.lsp.server as s;"
        "print(gemma_review.__file__); print(h.__file__); print(s.__file__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    files = [Path(line) for line in proc.stdout.split()]
    assert len(files) == 3 and all(site in f.parents for f in files), proc.stdout
    proc = subprocess.run([sys.executable, "-m", "gemma_review", "--version"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("gemma-review "), proc.stderr


def test_the_editable_install_maps_the_folders() -> None:
    import gemma_review.hooks.pre_commit as hook
    import gemma_review.lsp.server as server

    assert Path(hook.__file__).resolve() == REPO / "hooks" / "pre_commit.py"
    assert Path(server.__file__).resolve() == REPO / "lsp_server" / "server.py"


def test_bench_runs_from_a_plain_install_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    """The labelled samples ship in the package: no `samples/` beside site-packages needed."""
    import re

    from tests.fake_ollama import FakeOllama

    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    samples = site / "gemma_review" / "samples"
    n = sum(1 for p in samples.iterdir() if p.suffix in (".py", ".js", ".ts", ".go"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy, not this checkout
    with FakeOllama() as fake:
        proc = subprocess.run(
            [sys.executable, "-m", "gemma_review", "bench", "--host", fake.url, "--backend", "ollama", "--all"],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
    assert proc.returncode == 0, proc.stderr
    per_sample = [ln for ln in proc.stderr.splitlines() if re.match(r"bench: gemma4:e4b: \[\d+/\d+\] ", ln)]
    assert n > 0 and len(per_sample) == n and per_sample[-1].startswith(f"bench: gemma4:e4b: [{n}/{n}] ")
    row = proc.stdout.splitlines()[2]
    assert row.startswith("| gemma4:e4b ") and f"{n} samples" in proc.stdout
