"""The fake Ollama server, driven by the real ``ollama`` client exactly as the backend drives Ollama."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import ollama
import pytest

from tests.fake_ollama import FakeOllama, LabelOracle, Reply, fake_ollama, numbered_lines, parse_keep_alive  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
USER = [{"role": "system", "content": "You review code."}, {"role": "user", "content": "review this please"}]

LABELS = '''
[[samples]]
file = "streak.py"
language = "python"
clean = false

  [[samples.findings]]
  line = 3
  end_line = 4
  severity = "error"
  category = "bug"
  title = "Count each date once"
  explanation = "Duplicate dates inflate the streak."
  existing_code = """
    for day in days:
        streak += 1
"""
  suggested_code = """
    for day in sorted(set(days)):
        streak += 1
"""
  confidence = 0.9

  [[samples.findings]]
  line = 6
  end_line = 6
  severity = "warning"
  category = "style"
  title = "Name the magic number"
  explanation = "7 is a week."
  existing_code = "    return streak % 7"
  suggested_code = "    return streak % DAYS_PER_WEEK"
  confidence = 0.6

[[samples]]
file = "other.py"
language = "python"
clean = false

  [[samples.findings]]
  line = 1
  end_line = 1
  severity = "info"
  category = "maintainability"
  title = "Shared line in another sample"
  explanation = "Only reported when other.py is the file under review."
  existing_code = "    return streak % 7"
  suggested_code = ""
  confidence = 0.5
'''

CODE = ["def streak(days):", "    streak = 0", "    for day in days:", "        streak += 1", "", "    return streak % 7"]


def numbered(code: list[str], first: int, changed: frozenset[int] | set[int] = frozenset()) -> str:
    """The engine's prompt line format."""
    return "\n".join(
        f"{'>' if n in changed else ' '}{n:>5} | {text}" for n, text in enumerate(code, start=first)
    )


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.toml"
    path.write_text(LABELS, encoding="utf-8")
    return path


@pytest.fixture
def server(labels: Path) -> Iterator[FakeOllama]:
    with FakeOllama(labels_path=labels) as fake:
        yield fake


@pytest.fixture
def client(server: FakeOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.url, timeout=10) as c:
        yield c


def test_streaming_chat_collects_text_and_reports_timings(server: FakeOllama, client: ollama.Client) -> None:
    text = '{"findings": [], "note": "streamed in many small pieces"}'
    server.set_reply(Reply(text=text, chunk_chars=5))
    parts = list(client.chat(model="gemma4:e4b", messages=USER, stream=True))
    *pieces, final = parts
    assert "".join(p.message.content for p in pieces) == text
    assert len(pieces) == -(-len(text) // 5) and all(not p.done for p in pieces)
    assert final.done and final.done_reason == "stop" and final.message.content == ""
    assert final.eval_count == len(pieces)
    assert final.prompt_eval_count == sum(len(m["content"]) for m in USER) // 4
    for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert getattr(final, field) > 0
    assert final.total_duration >= final.load_duration + final.prompt_eval_duration + final.eval_duration
    assert server.completed == 1 and server.cancelled == 0


def test_durations_are_nanoseconds_of_time_actually_spent(server: FakeOllama, client: ollama.Client) -> None:
    server.set_reply(Reply(text="abcdefgh", chunk_chars=1, tokens_per_second=200, first_token_delay=0.05))
    final = list(client.chat(model="gemma4:e4b", messages=USER, stream=True))[-1]
    # Lower bounds only: the server sleeps at least this long, however loaded the machine is.
    assert final.prompt_eval_duration >= 0.05e9
    assert final.eval_duration >= 8 / 200 * 1e9
    assert final.total_duration < 60e9


@pytest.mark.parametrize("endpoint", ["chat", "generate"])
def test_non_stream_reply_is_one_object(server: FakeOllama, client: ollama.Client, endpoint: str) -> None:
    server.set_reply('{"findings": [1]}')
    if endpoint == "chat":
        resp = client.chat(model="gemma4:e2b", messages=USER, stream=False)
        assert resp.message.role == "assistant" and resp.message.content == '{"findings": [1]}'
    else:
        resp = client.generate(model="gemma4:e2b", prompt="review", stream=False)
        assert resp.response == '{"findings": [1]}'
    assert resp.done and resp.done_reason == "stop" and resp.eval_count == 5 and resp.eval_duration > 0
    assert server.requests[-1]["stream"] is False


def test_stream_is_the_default_when_the_request_does_not_say(server: FakeOllama) -> None:
    resp = httpx.post(f"{server.url}/api/chat", json={"model": "gemma4:e4b", "messages": USER})
    assert resp.headers["content-type"] == "application/x-ndjson"
    assert resp.headers["transfer-encoding"] == "chunked"
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert "".join(line["message"]["content"] for line in lines) == '{"findings": []}'


def test_request_fields_arrive_as_sent(server: FakeOllama, client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"findings": {"type": "array"}}, "required": ["findings"]}
    options = {"temperature": 0, "seed": 42, "num_ctx": 8192, "num_predict": 512}
    list(client.chat(model="gemma4:e4b", messages=USER, stream=True, format=schema, think=False,
                     options=options, keep_alive="10m"))
    body = server.requests[-1]
    assert body["format"] == schema and body["think"] is False and body["keep_alive"] == "10m"
    assert body["options"] == options and body["messages"] == USER and body["stream"] is True


def test_models_version_show_and_ps(server: FakeOllama, client: ollama.Client) -> None:
    assert httpx.get(server.url).text == "Ollama is running"
    assert httpx.get(f"{server.url}/api/version").json() == {"version": "0.21.1"}
    listed = client.list().models
    assert [m.model for m in listed] == ["gemma4:e4b", "gemma4:e2b"]
    assert listed[0].details.family == "gemma4" and listed[0].details.format == "gguf"
    shown = client.show("gemma4:e4b")
    assert shown.modelinfo["general.architecture"] == "gemma4"
    assert shown.modelinfo["gemma4.context_length"] == 131072 and "completion" in shown.capabilities
    assert client.ps().models == []
    client.chat(model="gemma4:e2b", messages=USER, options={"num_ctx": 16384}, keep_alive=-1)
    (loaded,) = client.ps().models
    assert loaded.model == "gemma4:e2b" and loaded.context_length == 16384 and loaded.expires_at.year > 2100
    client.chat(model="gemma4:e2b", messages=[], keep_alive=0)  # Ollama's unload request
    assert client.ps().models == []


def test_empty_messages_load_the_model(server: FakeOllama, client: ollama.Client) -> None:
    resp = client.chat(model="gemma4:e4b", messages=[])
    assert resp.done and resp.done_reason == "load"
    assert [m.model for m in client.ps().models] == ["gemma4:e4b"]


@pytest.mark.parametrize("call", ["chat-stream", "chat", "generate", "show"])
def test_unknown_model_is_404_with_ollamas_message(client: ollama.Client, call: str) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        if call == "show":
            client.show("llama9:1b")
        elif call == "generate":
            client.generate(model="llama9:1b", prompt="x")
        elif call == "chat":
            client.chat(model="llama9:1b", messages=USER)
        else:
            list(client.chat(model="llama9:1b", messages=USER, stream=True))
    assert info.value.status_code == 404
    assert info.value.error == "model 'llama9:1b' not found"


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("status", "error"), [(500, "llama runner process has terminated"), (503, None)])
def test_http_error_reply(server: FakeOllama, client: ollama.Client, stream: bool, status: int, error: str | None) -> None:
    server.set_reply(Reply(status=status, error=error))
    with pytest.raises(ollama.ResponseError) as info:
        result: Any = client.chat(model="gemma4:e4b", messages=USER, stream=stream)
        if stream:
            list(result)
    assert info.value.status_code == status
    assert info.value.error == (error or "Service Unavailable")


def test_error_line_mid_stream(server: FakeOllama, client: ollama.Client) -> None:
    server.set_reply(Reply(text="abcdefgh", stream_error="an error was encountered while running the model"))
    seen = []
    with pytest.raises(ollama.ResponseError, match="an error was encountered"):
        for part in client.chat(model="gemma4:e4b", messages=USER, stream=True):
            seen.append(part.message.content)
    assert "".join(seen) == "abcdefgh"


def test_dropped_connection_mid_stream(server: FakeOllama, client: ollama.Client) -> None:
    server.set_reply(Reply(text="abcdefgh", disconnect=True))
    with pytest.raises(httpx.RemoteProtocolError):
        list(client.chat(model="gemma4:e4b", messages=USER, stream=True))


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("num_predict", "reason", "content"), [(3, "length", "abcdefghijkl"), (50, "stop", None)])
def test_num_predict_cuts_the_reply(
    server: FakeOllama, client: ollama.Client, stream: bool, num_predict: int, reason: str, content: str | None
) -> None:
    text = "abcdefghijklmnopqrstuvwxyz"
    server.set_reply(Reply(text=text, chunk_chars=4))
    result: Any = client.chat(model="gemma4:e4b", messages=USER, stream=stream, options={"num_predict": num_predict})
    if stream:
        parts = list(result)
        final, got = parts[-1], "".join(p.message.content for p in parts)
    else:
        final, got = result, result.message.content
    assert final.done_reason == reason
    assert got == (content or text)
    assert final.eval_count == (3 if reason == "length" else 7)


@pytest.mark.parametrize(
    ("first", "changed", "header", "expected"),
    [
        # Both labels of streak.py, at the numbers the prompt printed (not the labelled ones).
        (10, {12, 13}, "File: src/streak.py", [(12, 13, "Count each date once"), (15, 15, "Name the magic number")]),
        (1, set(), "File: streak.py", [(3, 4, "Count each date once"), (6, 6, "Name the magic number")]),
        # The prompt names other.py: only its label counts, even though streak.py's code is there too.
        (1, set(), "File: other.py", [(6, 6, "Shared line in another sample")]),
        # No file named: every sample's labels are candidates.
        (1, set(), "", [(3, 4, "Count each date once"), (6, 6, "Name the magic number"),
                        (6, 6, "Shared line in another sample")]),
    ],
)
def test_oracle_reports_labelled_findings_in_the_prompt(
    server: FakeOllama, client: ollama.Client, first: int, changed: set[int], header: str, expected: list[tuple[int, int, str]]
) -> None:
    prompt = f"Review this unit.\n{header}\n{numbered(CODE, first, changed)}\n"
    resp = client.chat(model="gemma4:e4b", messages=[USER[0], {"role": "user", "content": prompt}])
    findings = json.loads(resp.message.content)["findings"]
    assert [(f["line"], f["end_line"], f["title"]) for f in findings] == expected
    first_finding = findings[0]
    assert list(first_finding) == ["line", "end_line", "severity", "category", "title", "explanation",
                                   "existing_code", "suggested_code", "confidence"]
    assert first_finding["severity"] in {"error", "info"} and 0 < first_finding["confidence"] <= 1


@pytest.mark.parametrize(
    "code",
    [
        ["def streak(days):", "    return len(set(days))"],  # the labelled code is absent
        ["    for day in days:", "        streak += 2"],  # only part of a multi-line label
    ],
)
def test_oracle_answers_no_findings_without_the_labelled_code(client: ollama.Client, code: list[str]) -> None:
    prompt = f"File: streak.py\n{numbered(code, 1)}"
    resp = client.chat(model="gemma4:e4b", messages=[{"role": "user", "content": prompt}])
    assert json.loads(resp.message.content) == {"findings": []}


def test_oracle_reads_only_the_last_user_message(labels: Path) -> None:
    oracle = LabelOracle(labels)
    old = {"role": "user", "content": numbered(CODE, 1)}
    assert oracle({"messages": [old, {"role": "user", "content": "nothing numbered"}]}).text == '{"findings": []}'
    assert json.loads(oracle({"messages": [{"role": "user", "content": "x"}, old]}).text)["findings"]


def test_missing_labels_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FakeOllama(labels_path=tmp_path / "missing.toml")


def test_client_closing_the_stream_cancels_generation(server: FakeOllama, client: ollama.Client) -> None:
    server.set_reply(Reply(text="x" * 400, chunk_chars=4, tokens_per_second=20))  # 5 s if nobody stops it
    stream = client.chat(model="gemma4:e4b", messages=USER, stream=True)
    for part in stream:
        assert part.message.content == "xxxx"
        break
    stream.close()
    assert server.wait(lambda f: f.cancelled == 1, timeout=3)
    assert server.completed == 0


def test_hung_request_times_out_and_counts_as_cancelled(server: FakeOllama) -> None:
    server.set_reply(Reply(hang=True))
    with ollama.Client(host=server.url, timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.chat(model="gemma4:e4b", messages=USER)
    assert server.wait(lambda f: f.cancelled == 1, timeout=3)


def test_stop_does_not_wait_for_a_hung_request(labels: Path) -> None:
    fake = FakeOllama(labels_path=labels, responder=Reply(hang=True)).start()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            ollama.Client(host=fake.url, timeout=30).chat(model="gemma4:e4b", messages=USER)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    assert fake.wait(lambda f: len(f.requests) == 1)
    fake.stop()
    asker.join(timeout=10)
    assert not asker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx.TransportError)
    assert fake.cancelled == 0  # the server went away, not the client


def _ask_quietly(url: str) -> None:
    """A chat in the background whose failure (the server stopping) is expected."""
    try:
        ollama.Client(host=url, timeout=30).chat(model="gemma4:e4b", messages=USER)
    except (ollama.ResponseError, httpx.HTTPError):
        pass


def test_requests_beyond_num_parallel_queue(labels: Path) -> None:
    replies = iter([Reply(hang=True), Reply(text="second")])
    with FakeOllama(labels_path=labels, responder=lambda body: next(replies), num_parallel=1) as fake:
        threading.Thread(target=_ask_quietly, args=(fake.url,), daemon=True).start()
        assert fake.wait(lambda f: len(f.requests) == 1)
        with ollama.Client(host=fake.url, timeout=0.3) as queued, pytest.raises(httpx.ReadTimeout):
            queued.chat(model="gemma4:e4b", messages=USER)  # waits behind the hung request's slot
        assert fake.wait(lambda f: f.cancelled == 1)
        assert fake.completed == 0


def test_fixture_serves_the_default_oracle(fake_ollama: FakeOllama) -> None:  # noqa: F811
    resp = ollama.Client(host=fake_ollama.url).chat(model="gemma4:e4b", messages=USER)
    assert json.loads(resp.message.content) == {"findings": []}
    assert fake_ollama.requests[-1]["model"] == "gemma4:e4b"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 300.0), (0, 0.0), ("0", 0.0), (30, 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("1.5s", 1.5),
     (-1, None), ("-1m", None)],
)
def test_keep_alive_parsing(value: Any, seconds: float | None) -> None:
    assert parse_keep_alive(value) == seconds


def test_invalid_keep_alive_is_rejected_like_ollama(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="gemma4:e4b", messages=USER, keep_alive="10 minutes")
    assert info.value.status_code == 400 and "invalid duration" in info.value.error


def test_numbered_lines_follow_the_prompt_format() -> None:
    assert numbered_lines(numbered(["a", "  b ", ""], 98, {99})) == [(98, "a"), (99, "  b"), (100, "")]
    assert numbered_lines("no numbers here\n  12 not a code line") == []


def test_cli_prints_the_listening_line_and_serves(labels: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_ollama", "--port", "0", "--labels", str(labels),
         "--tokens-per-second", "1000", "--models", "gemma4:e2b"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        url = match.group(1)
        assert httpx.get(f"{url}/api/version", timeout=5).json() == {"version": "0.21.1"}
        assert [m.model for m in ollama.Client(host=url).list().models] == ["gemma4:e2b"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""
