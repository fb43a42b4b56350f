"""Issue 13: the first hour with the demo model, from a fresh venv to the editor.

The hook and the language server never fall back to the demo model; every output names the
model that answered; notes say what the filters hid; progress shows on a terminal; ``bench``
runs from a non-editable install; the README's install commands resolve with the pip a fresh
venv ships (bench from a plain install: tests/test_packaging.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gemma_review import smoke_model
from gemma_review.backends.embedded import EmbeddedBackend
from gemma_review.backends.select import select_backend
from gemma_review.cli import main
from gemma_review.config import Settings
from gemma_review.doctor import ollama_install_hint
from gemma_review.engine import Progress, ReviewResult, effective_settings
from gemma_review.errors import ModelUnavailableError
from gemma_review.report import render
from tests.fake_ollama import FakeOllama, Reply
from tests.helpers import OLLAMA_HOST as HOST
from tests.helpers import STREAK, closed_port_url, free_port
from tests.lsp_client import TITLE, logs, opened, session, until
from tests.scratch_repo import Scratch, make_scratch, must

REPO = Path(__file__).resolve().parent.parent
DEMO_INSTALLED = smoke_model.smoke_model_installed()
needs_demo = pytest.mark.skipif(not DEMO_INSTALLED, reason="the [demo] extra is not installed")


# --- the selection rule ---------------------------------------------------------------------


def test_auto_falls_back_to_the_demo_model_only_where_allowed(world: dict[str, Any]) -> None:
    world["smoke"] = world["gguf"]
    with pytest.raises(ModelUnavailableError) as info:
        select_backend(Settings())  # the hook and the language server
    assert str(info.value) == (
        f"nothing answers at {HOST}: start Ollama (`ollama serve` then `ollama pull gemma4:e4b`; "
        "install it from https://ollama.com/download)"
    )
    sel = select_backend(Settings(), allow_demo=True)  # review, bench, doctor
    assert isinstance(sel.backend, EmbeddedBackend) and sel.demo and sel.notice == smoke_model.SMOKE_NOTICE


def test_backend_demo_is_the_explicit_choice(world: dict[str, Any]) -> None:
    world["ollama"] = "0.21.1"  # even with Ollama up, `demo` means the demo model
    world["smoke"] = world["gguf"]
    sel = select_backend(Settings(backend="demo"))
    assert isinstance(sel.backend, EmbeddedBackend) and sel.backend.path == world["gguf"] and sel.demo
    world["smoke"] = None
    with pytest.raises(ModelUnavailableError, match=r"pip install 'gemma-review\[demo\]'"):
        select_backend(Settings(backend="demo"))


def test_demo_limits_are_the_effective_ones() -> None:
    assert effective_settings(Settings(num_predict=1024), demo=True).num_predict == 256
    assert effective_settings(Settings(num_predict=128), demo=True).num_predict == 128
    assert effective_settings(Settings(num_predict=1024), demo=False).num_predict == 1024


def test_doctor_says_how_to_install_ollama_when_it_is_missing() -> None:
    hint = ollama_install_hint(Settings(model="gemma4:e2b"), which=lambda name: None)
    assert hint is not None and hint.startswith("Ollama is not installed: install it with ")
    assert "ollama serve" in hint and "ollama pull gemma4:e2b" in hint
    assert ollama_install_hint(Settings(), which=lambda name: "/usr/bin/ollama") is None


# --- the hook with [demo] installed and no Ollama ---------------------------------------------


@pytest.fixture
def no_ollama(tmp_path: Path) -> Scratch:
    home = tmp_path / "home"
    home.mkdir()
    with FakeOllama() as unused:  # make_scratch wants one; nothing may talk to it
        s = make_scratch(tmp_path / "work", home, unused, None)
    s.env.pop("GEMMA_REVIEW_BACKEND")  # auto: what a user who installed [demo] gets
    s.env["OLLAMA_HOST"] = closed_port_url()
    return s


def demo_model_untouched() -> bool:
    """The demo GGUF is assembled into the cache on first use: absent, it never answered."""
    return not (Path(os.environ["GEMMA_REVIEW_CACHE_DIR"]) / "models").exists()


@needs_demo
@pytest.mark.parametrize(("args", "code", "level"), [([], 0, "warning"), (["--strict"], 3, "error")])
def test_hook_without_ollama_does_not_wait_for_the_demo_model(
    no_ollama: Scratch, args: list[str], code: int, level: str
) -> None:
    s = no_ollama
    s.write("streak.py", STREAK)
    must(s.git("add", "streak.py"))
    proc = s.hook(*args, "streak.py")
    assert proc.returncode == code, proc.stdout
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    host = s.env["OLLAMA_HOST"]
    assert lines == [
        f"gemma-review: {level}: the model is unavailable: nothing answers at {host}: start Ollama "
        "(`ollama serve` then `ollama pull gemma4:e4b`; install it from https://ollama.com/download); "
        "not reviewed: streak.py (1 of 1 unit); "
        + ("letting the commit through (pass --strict to block instead)" if code == 0 else "blocking the commit (--strict)")
    ], proc.stdout
    # Returned before the model could have answered: the demo model was never even written out.
    assert demo_model_untouched()


@needs_demo
@pytest.mark.real_model
def test_hook_uses_the_demo_model_only_when_told(no_ollama: Scratch) -> None:
    """`--backend demo` is the explicit choice: then the hook really runs it (no findings expected)."""
    s = no_ollama
    s.write("tiny.py", "def add(a, b):\n    return a + b\n")
    must(s.git("add", "tiny.py"))
    proc = s.hook("--backend", "demo", "--num-predict", "8", "--num-ctx", "2048", "--timeout", "240", "tiny.py")
    assert proc.returncode == 0, proc.stdout
    assert "DEMO model" in proc.stdout and "does not review code" in proc.stdout
    assert not demo_model_untouched()


def test_hook_report_says_how_to_apply_fixes(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    home = tmp_path / "home"
    home.mkdir()
    s = make_scratch(tmp_path / "work", home, fake_ollama, None)
    s.write("streak.py", STREAK)
    must(s.git("add", "streak.py"))
    proc = s.hook("streak.py")
    assert proc.returncode == 1, proc.stdout
    assert "1 fixable: run gemma-review review --staged --fix to apply it." in proc.stdout
    assert "with --fix" not in proc.stdout
    assert "model gemma4:e4b (ollama)" in proc.stdout


# --- the language server with no Ollama, then Ollama starting ------------------------------


@needs_demo
async def test_language_server_waits_for_ollama_and_picks_it_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "streak.py"
    path.write_text(STREAK, encoding="utf-8")
    port = free_port()
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("GEMMA_REVIEW_BACKEND", raising=False)
    async with session("visual-studio-code", tmp_path) as client:
        uri = opened(client, path, STREAK)
        await until(lambda: client.statuses and client.statuses[-1]["state"] == "unavailable", "the unavailable status")
        (shown,) = client.messages
        assert f"nothing answers at http://127.0.0.1:{port}" in shown.message and "ollama serve" in shown.message
        assert "`" not in shown.message  # notifications are plain text
        assert demo_model_untouched(), "the language server fell back to the demo model"
        assert not client.diagnostics.get(uri)

        with FakeOllama(port=port) as fake:  # Ollama starts later: no restart, no new edit
            await until(lambda: client.diagnostics.get(uri), "diagnostics once Ollama answers")
            assert client.diagnostics[uri][0].message.startswith(TITLE)
            await until(lambda: client.statuses[-1]["state"] == "idle", "the idle status")
            assert client.statuses[-1]["model"] == "gemma4:e4b" and "message" not in client.statuses[-1]
            assert logs(client, r"the model answers again; reviewing 1 open document$")
            assert logs(client, r"reviewed streak\.py: 1 finding, 1 unit, 1 by gemma4:e4b")
            assert len(client.messages) == 1  # nothing new to dismiss once it recovered
            assert fake.completed == 1


# --- outputs name the model that answered --------------------------------------------------


def demo_result() -> ReviewResult:
    return ReviewResult(units=1, model="gemma-3-270m-it-Q4_K_M.gguf", backend="embedded", demo=True)


def test_every_output_names_the_model_that_answered() -> None:
    result = demo_result()
    text = render("text", result)
    assert text.splitlines()[-1].endswith(
        "; DEMO model gemma-3-270m-it-Q4_K_M.gguf: proves the pipeline runs, it does not review code."
    )
    doc = json.loads(render("json", result))
    assert (doc["model"], doc["backend"], doc["demo"]) == ("gemma-3-270m-it-Q4_K_M.gguf", "embedded", True)
    sarif = json.loads(render("sarif", result))
    assert sarif["runs"][0]["properties"] == {"model": "gemma-3-270m-it-Q4_K_M.gguf", "backend": "embedded", "demo": True}
    assert render("github", result) == (
        "gemma-review: 0 findings; DEMO model gemma-3-270m-it-Q4_K_M.gguf: proves the pipeline runs, "
        "it does not review code\n"
    )
    real = ReviewResult(units=1, model="gemma4:e4b", backend="ollama")
    assert render("text", real).rstrip().endswith("; model gemma4:e4b (ollama).")
    assert json.loads(render("json", real))["demo"] is False


# --- notes agree with the report -----------------------------------------------------------

STREAK_FINDING = {
    "line": 13, "end_line": 14, "severity": "error", "category": "bug",
    "title": "Deduplicate dates before counting the streak", "explanation": "Same-day events reset the streak.",
    "existing_code": '    for event in sorted(events, key=lambda e: e["date"]):\n        current = event["date"]',
    "suggested_code": "", "confidence": 0.3,
}


def test_hidden_findings_are_counted_by_filter(
    tmp_path: Path, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "streak.py").write_text(STREAK, encoding="utf-8")
    fake_ollama.set_reply(Reply(text=json.dumps({"findings": [STREAK_FINDING]})))
    code = main(["review", "streak.py", "--host", fake_ollama.url, "--backend", "ollama", "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("No findings in 1 file")
    assert "gemma-review: note: 1 finding below min_confidence 0.5 hidden; --min-confidence 0 shows it\n" in err

    code = main(["review", "streak.py", "--host", fake_ollama.url, "--backend", "ollama", "--no-cache",
                 "--min-confidence", "0", "--categories", "security"])
    out, err = capsys.readouterr()
    assert "note: 1 finding outside categories security hidden; --categories " in err
    assert "below min_confidence" not in err

    code = main(["review", "streak.py", "--host", fake_ollama.url, "--backend", "ollama", "--no-cache",
                 "--min-confidence", "0"])
    out, err = capsys.readouterr()
    assert code == 1 and "Found 1 finding" in out and "hidden" not in err


# --- progress ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_unit_shows_a_spinner_with_elapsed_time_and_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    from gemma_review import progress

    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    tty = Terminal()
    bar = progress.ProgressBar(stream=tty)
    bar.update(Progress(0, 1, "streak.py", 0, 0.0))
    for _ in range(30):
        bar.on_text("tok")
        time.sleep(0.01)
    time.sleep(0.3)
    bar.finish()
    drawn = tty.getvalue()
    frames = [f for f in drawn.split("\r\x1b[K") if f.strip()]
    assert frames and re.fullmatch(r"[|/\-\\] streak\.py: \d+s, 30 tokens, \d+ tok/s ", frames[-1]), frames[-1:]
    assert drawn.endswith("\r\x1b[K")  # the line is cleared before the report


def test_several_units_show_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    from gemma_review import progress

    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    tty = Terminal()
    bar = progress.ProgressBar(stream=tty)
    bar.update(Progress(1, 4, "a.py", 1, 0.0))
    time.sleep(0.3)
    bar.finish()
    assert "[######------------------] 1/4 units, 1 cached, 0s" in tty.getvalue()


def test_no_progress_when_quiet_or_not_a_terminal_or_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    from gemma_review import progress

    for stream, enabled in ((io.StringIO(), None), (Terminal(), False)):
        bar = progress.ProgressBar(stream=stream, enabled=enabled)
        bar.update(Progress(0, 1, "a.py", 0, 0.0))
        time.sleep(0.2)
        bar.finish()
        assert stream.getvalue() == ""
    quick = Terminal()
    bar = progress.ProgressBar(stream=quick)  # a review under a second draws nothing
    bar.update(Progress(0, 1, "a.py", 0, 0.0))
    bar.finish()
    assert quick.getvalue() == ""


# --- install and bench as a user does ------------------------------------------------------------


def readme_install_commands() -> list[str]:
    """The `pip install ...` parts of the README's quick start."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start") : readme.index("### Everyday set-up")]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    commands = [part.strip() for block in blocks for line in block.splitlines() for part in line.split("&&")]
    return [c for c in commands if c.startswith("pip install")]


@pytest.mark.timeout(900)
def test_readme_install_commands_resolve_with_the_pip_a_fresh_venv_ships(tmp_path: Path) -> None:
    commands = readme_install_commands()
    assert commands == ["pip install '.[demo]'", "pip install -e '.[test]'"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no pip upgrade
    pip = venv / "bin" / "pip"
    version = subprocess.run([str(pip), "--version"], capture_output=True, text=True, check=True).stdout
    for command in commands:
        args = [a.strip("'") for a in command.split()[2:]]
        proc = subprocess.run(
            [str(pip), "install", "--dry-run", "--quiet", *args], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, f"{command} with {version}:\n{proc.stderr[-3000:]}"


def test_speeds_are_reported_only_when_measured() -> None:
    from gemma_review.backends.base import Metrics
    from gemma_review.engine import measured_tps

    # The fake model's 3 tokens in 0.3 ms would read as 10,000 tok/s: not a speed.
    assert measured_tps(Metrics(output_tokens=3, decode_seconds=0.0003)) == 0.0
    assert measured_tps(Metrics(output_tokens=120, decode_seconds=0.01)) == 0.0
    assert measured_tps(Metrics(output_tokens=120, decode_seconds=2.0)) == 60.0
    assert measured_tps(Metrics()) == 0.0  # everything from the cache


def test_doctor_without_ollama_installed_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `ollama` program anywhere
    dead = closed_port_url()
    code = main(["doctor", "--host", dead, "--backend", "ollama"])
    out = capsys.readouterr().out
    assert code == 3, out
    lines = out.splitlines()
    assert any(ln.startswith("fail  server: cannot reach Ollama at " + dead) for ln in lines), out
    (hint,) = [ln for ln in lines if ln.startswith("info  ollama: ")]
    assert "Ollama is not installed: install it with " in hint and "ollama pull gemma4:e4b" in hint
