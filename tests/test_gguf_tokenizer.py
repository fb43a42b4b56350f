"""The GGUF's tokenizer in process counts exactly as llama.cpp's ``/tokenize`` does.

Built from the real demo model's GGUF (Gemma 3 270M) into a fresh cache folder, then
compared with the embedded llama.cpp's own ``/tokenize`` on texts where a hand-made
SentencePiece port usually goes wrong: code, CJK, emoji (ZWJ sequences, skin tones),
tabs, runs of spaces and newlines, and the chat template's markers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from gemma_review.backends import gguf_tokenizer
from gemma_review.backends.embedded import EmbeddedBackend
from gemma_review.backends.openai import OpenAIChatClient
from gemma_review.config import Settings

pytestmark = pytest.mark.real_model

REPO = Path(__file__).resolve().parent.parent

TEXTS = {
    "code": "def f(x):\n    return x + 1  # add one\n\nclass A:\n\tpass\n",
    "numbered lines": ">    1 | def average(values):\n>    2 |     return sum(values) / len(values)\n",
    "cjk": "値に 1 を加える。中文注释：这是一个测试。한국어 주석",
    "emoji": "🙂👍🏽 👨‍👩‍👧 ✅ 🇫🇷 café naïve élément",
    "tabs": "\t\tif x:\n\t\t\treturn\t1\n\t",
    "runs of spaces": "a  b   c    d     e" + " " * 40 + "end   ",
    "leading spaces": "   leading spaces",
    "runs of newlines": "a\n\nb\n\n\n\nc" + "\n" * 30 + "d\n",
    "mixed whitespace": " \n \n\t \r\n  \n\u00a0\u3000x",
    "chat template": "<start_of_turn>user\nReview this<end_of_turn>\n<start_of_turn>model\n<bos><eos>",
    "markers inside words": "x<end_of_turn>y <start_of_turn>z",
    "unknown bytes": "\x00\x01\x7f \ufffd \U0001f9ec\U000e0001",
}


@pytest.fixture(scope="module")
def tokenizer(smoke_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("tokenizers")
    cache = tmp_path_factory.mktemp("tokenizer-cache")
    built = gguf_tokenizer.load(smoke_gguf, cache)  # built from the GGUF, not from a kept file
    assert gguf_tokenizer.cached_path(smoke_gguf, cache).is_file()
    return built


@pytest.fixture(scope="module")
def served(smoke_gguf: Path) -> Iterator[OpenAIChatClient]:
    backend = EmbeddedBackend(Settings(backend="embedded", model_file=str(smoke_gguf), num_ctx=2048))
    yield backend._client_for_model(backend.load())  # llama.cpp's /tokenize over the private socket
    backend.close()


def as_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_local_counts_equal_llama_cpp_tokenize(tokenizer: Any, served: OpenAIChatClient) -> None:
    got = {name: gguf_tokenizer.count(tokenizer, as_messages(text)) for name, text in TEXTS.items()}
    want = {name: served.count_tokens(as_messages(text)) for name, text in TEXTS.items()}
    assert got == want
    # Several messages are joined with a newline, as count_tokens sends them.
    messages = [{"role": "system", "content": TEXTS["code"]}, {"role": "user", "content": TEXTS["cjk"]}]
    assert gguf_tokenizer.count(tokenizer, messages) == served.count_tokens(messages)


def test_chunked_count_equals_whole_text_count(tokenizer: Any, served: OpenAIChatClient) -> None:
    # Real source (about 60 kB: dozens of pieces) plus every text above, cut small so that
    # pieces end in every kind of newline run.
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "gemma_review").glob("*.py"))[:6])
    mixed = "\n\n\n".join(TEXTS.values()) * 3
    for text, size in ((source, gguf_tokenizer.CHUNK), (mixed, 40)):
        parts = gguf_tokenizer.pieces(text, size)
        assert len(parts) > 5 and "".join(parts) == text
        whole = len(tokenizer.encode(text, add_special_tokens=False).ids)
        assert sum(len(tokenizer.encode(p, add_special_tokens=False).ids) for p in parts) == whole
    assert gguf_tokenizer.count(tokenizer, as_messages(source)) == served.count_tokens(as_messages(source))
