"""The model's real context: no request overflows, no finding comes from a cut prompt.

Fake servers count tokens more densely than gemma-review's byte estimate and either cut an
over-long prompt the way Ollama does (keep the end, report the context as the prompt count)
or refuse it the way llama.cpp and vLLM do. Every file must be reviewed in a request the
server did not cut or refuse, and nothing the server said about a cut prompt may be shown.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemma_review.cache import ReviewCache
from gemma_review.cli import main
from gemma_review.context import TokenMeter, Window
from tests.fake_ollama import CUT_TITLE, ContextRules, FakeOllama


def two_line_files(folder: Path, n: int, comment: str = "add one") -> list[str]:
    names = []
    for i in range(n):
        name = f"m{i:03}.py"
        (folder / name).write_text(f"def f{i}(x):\n    return x + {i}  # {comment}\n", encoding="utf-8")
        names.append(name)
    return names


def review(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main(["review", ".", "--format", "json", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def assert_all_reviewed_whole(server: FakeOllama, names: list[str]) -> None:
    good = [p["text"] for p in server.prompts if not p["cut"] and not p["refused"]]
    missing = [n for n in names if not any(f"File: {n} " in t or f"File: {n}\n" in t or n in t for t in good)]
    assert not missing, f"{len(missing)} files never in a request the server kept whole: {missing[:5]}"


def titles(data: dict) -> list[str]:
    return [f["title"] for f in data.get("findings", [])]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_200_two_line_files_through_the_cli_never_overflow_ollama(folder: Path, capsys) -> None:
    # The folder: 200 files of two short numbered lines, denser than 3 bytes per token.
    names = two_line_files(folder, 200)
    with FakeOllama(context=ContextRules(tokens_per_byte=0.5)) as server:
        code, data, err = review(capsys, "--backend", "ollama", "--host", server.url)
    assert code in (0, 1), err
    assert_all_reviewed_whole(server, names)
    assert not any(p["cut"] for p in server.prompts), "the safety margin must keep Ollama from cutting"
    assert CUT_TITLE not in titles(data)


def test_ollama_cuts_are_detected_split_and_resent(folder: Path, capsys) -> None:
    # One token per byte (CJK and emoji run near it): even the margin is not enough, Ollama
    # cuts, the answers are discarded (the fake answers a cut prompt with a finding) and the
    # requests are split until they fit.
    names = two_line_files(folder, 120, comment="加一 🙂 ajoute un élément")
    with FakeOllama(context=ContextRules(tokens_per_byte=1.0)) as server:
        code, data, err = review(capsys, "--backend", "ollama", "--host", server.url, "--num-ctx", "8192")
    assert code in (0, 1), err
    assert any(p["cut"] for p in server.prompts), "the fake must have cut something for this test to mean anything"
    assert_all_reviewed_whole(server, names)
    assert CUT_TITLE not in titles(data)
    assert any("the server cut the prompt" in note for note in data.get("notes", [])), data.get("notes")


def test_learned_ratio_is_kept_per_model_and_packs_the_next_run_fuller(folder: Path, capsys, tmp_path: Path) -> None:
    two_line_files(folder, 120, comment="加一 🙂 ajoute un élément")
    with FakeOllama(context=ContextRules(tokens_per_byte=1.0)) as server:
        review(capsys, "--backend", "ollama", "--host", server.url, "--num-ctx", "8192")
        first = list(server.prompts)
        server.prompts.clear()
        names = two_line_files(folder, 120, comment="加二 🙃 ajoute deux éléments")  # new text: no cache hit
        code, _, err = review(capsys, "--backend", "ollama", "--host", server.url, "--num-ctx", "8192")
        second = list(server.prompts)
    assert code in (0, 1), err
    assert_all_reviewed_whole(server, names)
    ratios = ReviewCache(Path(_cache_dir())).token_ratios()
    assert ratios.get("ollama:gemma4:e4b", 0) >= 0.95  # learned from the server's reports: ~1 token per byte
    assert any(p["cut"] for p in first)
    assert not any(p["cut"] for p in second), "with the ratio learned, nothing is cut any more"


def _cache_dir() -> str:
    import os

    return os.environ["GEMMA_REVIEW_CACHE_DIR"]


@pytest.mark.parametrize("refuse", ["llama.cpp", "vllm"])
def test_openai_server_with_a_small_context_that_refuses(folder: Path, capsys, refuse: str) -> None:
    # A server whose context (2048) cannot be set from the request and is not advertised:
    # num_ctx 8192 is a guess, the server refuses, gemma-review splits instead of exiting 3.
    names = two_line_files(folder, 80)
    rules = ContextRules(tokens_per_byte=0.5, openai_n_ctx=2048, refuse=refuse)
    with FakeOllama(context=rules) as server:
        code, data, err = review(capsys, "--backend", "openai", "--host", server.url, "--model", "gemma4:e4b")
    assert code in (0, 1), err
    assert any(p["refused"] for p in server.prompts)
    assert_all_reviewed_whole(server, names)
    assert any("refused the prompt as too long" in n for n in data.get("notes", []))


def test_openai_server_that_truncates_quietly(folder: Path, capsys) -> None:
    # Ollama's /v1: num_ctx cannot be sent, the prompt is cut to the server's 2048, and its
    # usage reports the whole prompt it kept: fewer tokens than sent means cut.
    names = two_line_files(folder, 80)
    rules = ContextRules(tokens_per_byte=0.5, openai_n_ctx=2048, refuse="")
    with FakeOllama(context=rules) as server:
        code, data, err = review(capsys, "--backend", "openai", "--host", server.url, "--model", "gemma4:e4b")
    assert code in (0, 1), err
    assert_all_reviewed_whole(server, names)
    assert CUT_TITLE not in titles(data)


@pytest.mark.parametrize("advertised", ["props", "max_model_len"])
def test_an_advertised_context_is_packed_for_first_time(folder: Path, capsys, advertised: str) -> None:
    names = two_line_files(folder, 80)
    rules = ContextRules(tokens_per_byte=0.5, openai_n_ctx=2048, refuse="vllm" if advertised == "max_model_len" else "llama.cpp",
                         props=advertised == "props", max_model_len=advertised == "max_model_len",
                         tokenize=advertised == "props")
    with FakeOllama(context=rules) as server:
        code, data, err = review(capsys, "--backend", "openai", "--host", server.url, "--model", "gemma4:e4b")
    assert code in (0, 1), err
    assert not any(p["refused"] or p["cut"] for p in server.prompts), "the server's own context was known"
    assert_all_reviewed_whole(server, names)


def test_a_unit_too_large_even_alone_is_a_note_not_exit_3(folder: Path, capsys) -> None:
    long_line = "x = '" + "a" * 6000 + "'\n"
    (folder / "big.py").write_text(long_line, encoding="utf-8")
    two_line_files(folder, 3)
    rules = ContextRules(tokens_per_byte=0.5, openai_n_ctx=2048, refuse="llama.cpp")
    with FakeOllama(context=rules) as server:
        code, data, err = review(capsys, "--backend", "openai", "--host", server.url, "--model", "gemma4:e4b")
    assert code in (0, 1), err
    assert any(n.startswith("big.py:1-1") and "not reviewed" in n for n in data.get("notes", [])), data.get("notes")


def test_cache_reports_and_counts_are_not_mistaken_for_cuts() -> None:
    class Ollama:
        name, model = "ollama", "m"

    class OpenAI:
        name, model = "openai", "m"

    messages = [{"role": "user", "content": "x = 1\n" * 400}]
    ollama = TokenMeter(Ollama(), Window(4096, "test"))
    assert not ollama.was_cut(12, None, 900, False, messages)  # a cached prefix: few evaluated tokens
    assert ollama.was_cut(4090, None, 5000, False, messages)  # reached the context
    openai = TokenMeter(OpenAI(), Window(8192, "test"))
    assert not openai.was_cut(300, 700, 1300, False, messages)  # 700 cached + 300 evaluated: whole
    assert openai.was_cut(300, None, 2000, False, messages)  # the whole prompt reported, far too few
    assert openai.n_ctx == 300  # and the server's context is taken to be what it kept


def test_doctor_shows_the_context_its_source_the_learned_ratio_and_recent_cuts(folder: Path, capsys) -> None:
    two_line_files(folder, 120, comment="加一 🙂 ajoute un élément")
    with FakeOllama(context=ContextRules(tokens_per_byte=1.0)) as server:
        review(capsys, "--backend", "ollama", "--host", server.url)
        code = main(["doctor", "--backend", "ollama", "--host", server.url])
        out, err = capsys.readouterr()
    text = out + err
    assert "context in use" in text and "8192 tokens: num_ctx sent with every request" in text, text
    assert "learned 1.0" in text or "learned 0.9" in text, text
    assert "cut" in text.split("context events", 1)[1].splitlines()[0], text


def test_doctor_warns_when_the_servers_context_is_unknown(folder: Path, capsys) -> None:
    with FakeOllama(context=ContextRules(openai_n_ctx=2048, refuse="llama.cpp")) as server:
        main(["doctor", "--backend", "openai", "--host", server.url, "--model", "gemma4:e4b"])
        out, err = capsys.readouterr()
    line = next(x for x in (out + err).splitlines() if "context in use" in x)
    assert "unknown" in line and "8192" in line, line


@pytest.mark.real_model
def test_two_line_and_cjk_emoji_folder_reviewed_fully_with_the_real_demo_model(
    folder: Path, capsys, smoke_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder on the real Gemma tokenizer (embedded llama.cpp), with a context
    # small enough that several requests are needed: every file lands in a request the
    # server neither cut nor refused, none is skipped, the run exits 0 or 1.
    from gemma_review.backends.embedded import EmbeddedBackend
    from gemma_review.context import CUT_SLACK

    # Small enough to run in well under a minute on a loaded 2-core machine: 48 files and
    # 16-token answers. Units are cut before the first true count, with the instructions
    # estimated at 1.5 x 3 bytes per token (about 1430 tokens): a context below about 1700
    # is refused as leaving no room for code, so 2048 is the smallest round one.
    n_ctx = 2048
    names = two_line_files(folder, 40)
    for i in range(8):
        name = f"n{i:03}.py"
        (folder / name).write_text(f"def g{i}(x):\n    # 値に {i} を加える 🙂 ajoute {i} élément\n    return x + {i}\n", encoding="utf-8")
        names.append(name)
    sent: list[tuple[str, int]] = []  # (prompt text, prompt tokens llama.cpp read)
    real_stream = EmbeddedBackend.stream_chat

    def recording(self, request, cancel=None):
        text = "\n".join(m["content"] for m in request.messages)
        for chunk in real_stream(self, request, cancel):
            if chunk.done and chunk.metrics is not None:
                sent.append((text, chunk.metrics.prompt_tokens + (chunk.metrics.cached_prompt_tokens or 0)))
            yield chunk

    monkeypatch.setattr(EmbeddedBackend, "stream_chat", recording)
    code, data, err = review(
        capsys, "--backend", "embedded", "--model-file", str(smoke_gguf), "--num-ctx", str(n_ctx),
        "--num-predict", "16", "--timeout", "120", "--no-cache",
    )
    assert code in (0, 1), err
    assert len(sent) >= 2, "the context must be small enough that the folder needs several requests"
    whole = [text for text, tokens in sent if 0 < tokens < n_ctx - CUT_SLACK]
    assert len(whole) == len(sent), [tokens for _, tokens in sent]
    missing = [n for n in names if not any(f"File: {n} " in t or f"File: {n}\n" in t or n in t for t in whole)]
    assert not missing, f"{len(missing)} files never in a request: {missing[:5]}"
    # (A note that a 16-token *answer* was cut off at num_predict is expected and harmless.)
    bad = ("not reviewed", "the server cut the prompt", "refused the prompt")
    assert not any(b in note for b in bad for note in data.get("notes", [])), data.get("notes")
    assert not data.get("skipped"), data.get("skipped")
