"""Reading source text the way git counts lines, and writing it back safely."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError


def split_lines(text: str) -> list[str]:
    """Lines as git numbers them: split on LF only, a trailing CR dropped, no final empty line.

    ``str.splitlines`` also splits on form feeds and Unicode separators, which would
    shift every line number after them relative to the diff.
    """
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class NotText(Exception):
    """Bytes that are not reviewable text; ``str`` is the skip reason."""


def decode(data: bytes) -> str:
    if b"\0" in data[:8192]:
        raise NotText("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText("not valid UTF-8 text") from None


def read_text(path: Path) -> str:
    """Exact file text (no newline translation). Raises InputError with a clear line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; pass files, or a diff with --diff") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return decode(data)
    except NotText as exc:
        raise InputError(f"{path}: {exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, keeping its permission bits."""
    path = path.resolve()  # write through a symlink, do not replace the link with a file
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gemma-review", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
