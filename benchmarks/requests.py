"""Per-request cost of the model-server HTTP path, against the fake Ollama with instant replies.

Every Ollama request gets its own connection (so a cancel or the whole-request deadline can
shut it down without touching other reviews); this prints what that costs: building the
client, and a whole short streamed request, for the Ollama and OpenAI-compatible backends.

    python benchmarks/requests.py [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.backends.base import ModelRequest  # noqa: E402
from gemma_review.backends.ollama import OllamaBackend, _SocketRecorder  # noqa: E402
from gemma_review.backends.openai import OpenAIBackend  # noqa: E402
from gemma_review.config import Settings  # noqa: E402
from tests.fake_ollama import FakeOllama, Reply  # noqa: E402

REQUEST = ModelRequest(messages=[{"role": "user", "content": "x = 1"}], schema={"type": "object"},
                       num_ctx=4096, num_predict=64, timeout=30)


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def show(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    print(f"{label:<48} median {statistics.median(ms):6.2f} ms   p90 {ms[int(len(ms) * 0.9)]:6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests
    with FakeOllama(responder=Reply(text='{"findings": []}', chunk_chars=16)) as fake:
        ollama = OllamaBackend(Settings(host=fake.url, backend="ollama"))
        openai = OpenAIBackend(Settings(host=fake.url, backend="openai"))
        list(ollama.stream_chat(REQUEST))  # imports and the first connection are not what is measured
        list(openai.stream_chat(REQUEST))
        show("ollama: build a request's client", timed(lambda: ollama._new_client(30, _SocketRecorder()).close(), n))
        show("ollama: whole streamed request", timed(lambda: list(ollama.stream_chat(REQUEST)), n))
        show("openai: whole streamed request (shared client)", timed(lambda: list(openai.stream_chat(REQUEST)), n))
        openai.close()
    print(f"{n} requests each; fake server on 127.0.0.1, replies without delay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
