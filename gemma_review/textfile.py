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
        raise NotText("not valid UTF-8 text; convert it to UTF-8 or exclude it") from None


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path | str, streams: bool = False) -> bytes:
    """The bytes of a regular file (or, with ``streams``, of a pipe), never waiting for a writer.

    A FIFO with no writer blocks ``open()`` and ``/dev/zero`` never ends, so the file is
    opened non-blocking and its type checked on the open descriptor before reading.
    Raises ``OSError``, or ``NotARegularFile`` naming what the path is.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        mode = os.stat(path).st_mode  # a socket cannot be opened at all (ENXIO): say what it is
        if not stat.S_ISREG(mode):
            raise NotARegularFile(file_kind(mode)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or (streams and stat.S_ISFIFO(mode))):
            raise NotARegularFile(file_kind(mode))
        os.set_blocking(fd, True)  # a pipe with no writer now reads as empty instead of EAGAIN
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


class NotARegularFile(OSError):
    """``str`` is what the path is instead: "a FIFO", "a socket", ..."""


def read_text(path: Path) -> str:
    """Exact file text (no newline translation). Raises InputError with a clear line."""
    try:
        data = read_regular(path)
    except NotARegularFile as exc:
        raise InputError(f"{path}: not a regular file ({exc}); pass source files") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; pass files, or a diff with --diff") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
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
