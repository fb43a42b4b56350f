"""Token estimates without a tokenizer download.

Gemma's SentencePiece vocabulary averages roughly 3.5-4 bytes per token on source
code; counting 3 bytes per token (and at least one per line) over-estimates on
purpose, so a budgeted prompt never overflows the context.
"""

from __future__ import annotations

BYTES_PER_TOKEN = 3.0


def estimate_tokens(text: str) -> int:
    data = len(text.encode("utf-8", "surrogateescape"))
    return int(data / BYTES_PER_TOKEN) + text.count("\n") + 1
