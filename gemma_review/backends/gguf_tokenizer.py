"""The GGUF's own tokenizer in this process: llama.cpp's counts without asking llama.cpp.

llama.cpp's ``/tokenize`` costs about 20 µs per token (p95 89 ms for a packed request on
a 2-core machine), most of it in llama.cpp itself, not in HTTP. For a SentencePiece vocab
(``tokenizer.ggml.model == "llama"``: Gemma) the same counts come from the ``tokenizers``
library (Rust) built from the GGUF's tokens, scores and token types:

- BPE whose merges are every split of a vocab piece into two vocab pieces, ranked by the
  piece's score (SentencePiece BPE merges the best-scoring pair first), byte fallback;
- spaces escaped as ``▁`` (no space prefix: only vocabs with ``add_space_prefix`` false);
- user-defined and control pieces matched in the raw text first, as llama.cpp's
  ``/tokenize`` does (it parses special tokens).

Building it takes a few seconds once per model file; the result is kept as a
``tokenizer.json`` beside the cache's models. The backend checks the first count against
``/tokenize`` and keeps using the server when they differ.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from typing import Any

SPM = "llama"  # llama.cpp's name for a SentencePiece vocab
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_HEADER_READ = 64 << 20  # the tokenizer metadata of any current GGUF fits well within this


def tokenizers_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tokenizers") is not None


def read_metadata(path: Path, prefix: str = "tokenizer.") -> dict[str, Any]:
    """The GGUF's key/value metadata under ``prefix`` (strings as bytes, arrays as lists)."""
    with path.open("rb") as fh:
        data = fh.read(_HEADER_READ)
    if data[:4] != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file")
    version = struct.unpack_from("<I", data, 4)[0]
    if version < 2:
        raise ValueError(f"GGUF version {version} is not supported")
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    pos = 24

    def string(pos: int) -> tuple[bytes, int]:
        n = struct.unpack_from("<Q", data, pos)[0]
        pos += 8
        return data[pos : pos + n], pos + n

    def value(kind: int, pos: int) -> tuple[Any, int]:
        if kind == 8:
            return string(pos)
        if kind == 9:
            item, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            if item == 8:
                out = []
                for _ in range(count):
                    s, pos = string(pos)
                    out.append(s)
                return out, pos
            if item == 9:
                raise ValueError("nested GGUF arrays are not supported")
            fmt = _SCALARS[item]
            return list(struct.unpack_from(f"<{count}{fmt}", data, pos)), pos + struct.calcsize(fmt) * count
        fmt = _SCALARS[kind]
        return struct.unpack_from("<" + fmt, data, pos)[0], pos + struct.calcsize(fmt)

    out: dict[str, Any] = {}
    for _ in range(n_kv):
        key, pos = string(pos)
        kind = struct.unpack_from("<I", data, pos)[0]
        got, pos = value(kind, pos + 4)
        name = key.decode("utf-8", "replace")
        if name.startswith(prefix):
            out[name] = got
    return out


def build(meta: dict[str, Any]) -> Any:
    """A ``tokenizers.Tokenizer`` that counts like llama.cpp for this SentencePiece vocab."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers

    if meta.get("tokenizer.ggml.model") != SPM.encode():
        raise ValueError("not a SentencePiece (llama) vocab")
    if meta.get("tokenizer.ggml.add_space_prefix", True):
        raise ValueError("vocabs that add a space prefix are not supported")
    pieces = [t.decode("utf-8", "replace") for t in meta["tokenizer.ggml.tokens"]]
    scores = meta["tokenizer.ggml.scores"]
    types = meta["tokenizer.ggml.token_type"]
    vocab = {p: i for i, p in enumerate(pieces)}
    ranked = []
    for i, piece in enumerate(pieces):
        if types[i] != NORMAL or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                ranked.append((-scores[i], i, left, right))
    ranked.sort()
    unk = pieces[int(meta.get("tokenizer.ggml.unknown_token_id", 0))]
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=[(a, b) for _, _, a, b in ranked], unk_token=unk, fuse_unk=True, byte_fallback=True)
    )
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.add_tokens(
        [AddedToken(pieces[i], special=False, normalized=False) for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)]
    )
    return tokenizer


def cached_path(model: Path, cache_dir: Path) -> Path:
    st = model.stat()
    return cache_dir / f"{model.name}.{st.st_size}.{st.st_mtime_ns}.tokenizer.json"


def load(model: Path, cache_dir: Path) -> Any:
    """The tokenizer of ``model``, built once and kept under ``cache_dir``."""
    from tokenizers import Tokenizer

    kept = cached_path(model, cache_dir)
    if kept.is_file():
        try:
            return Tokenizer.from_file(str(kept))
        except Exception:  # noqa: BLE001 - a damaged file is rebuilt
            pass
    tokenizer = build(read_metadata(model))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        os.close(fd)
        tokenizer.save(tmp)
        os.replace(tmp, kept)
    except OSError:
        pass  # a read-only cache only costs the build next time
    return tokenizer


CHUNK = 2000  # characters per piece counted in parallel


def pieces(text: str, size: int = CHUNK) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters, each cut just after a run of
    newlines. Newline runs are user-defined pieces that llama.cpp (like the tokenizer here)
    matches first and tokenizes the text between them apart, so the pieces' counts add up
    to the whole text's count exactly."""
    out: list[str] = []
    start = 0
    while len(text) - start > size:
        end = text.find("\n", start + size)
        if end < 0:
            break
        while end < len(text) and text[end] == "\n":
            end += 1  # the whole run stays with this piece
        out.append(text[start:end])
        start = end
    out.append(text[start:])
    return out


def count(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """Tokens of the contents, joined as ``OpenAIChatClient.count_tokens`` sends them."""
    text = "\n".join(str(m.get("content", "")) for m in messages)
    encode = getattr(tokenizer, "encode_batch_fast", None) or tokenizer.encode_batch  # no offsets: faster
    return sum(len(e.ids) for e in encode(pieces(text), add_special_tokens=False))
