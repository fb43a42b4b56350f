"""Text that reaches a terminal: model output and file names are untrusted.

A model (or a hostile repository's file name) can write ESC sequences that recolour,
retitle or rewrite the user's terminal, BEL, or C1 controls that some terminals obey.
Everything shown on a terminal goes through :func:`safe` first.
"""

from __future__ import annotations

import re

# Whole escape sequences first (CSI ``ESC [ ... final``, OSC/DCS/APC/PM ``... BEL|ST``, two-byte
# ``ESC x``), so no printable remainder such as ``[31m`` is left behind; then any lone control.
_SEQUENCE = re.compile(
    r"(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"  # OSC, DCS, SOS, PM, APC
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b[ -/]*[0-~]?",  # the rest (ESC 7, ESC ( B, ...) and a lone ESC
    re.DOTALL,
)
# C0 except tab and newline, DEL, C1, and the bidi overrides that reorder what is shown
# (CVE-2021-42574, "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` without terminal control sequences; tabs and newlines are kept."""
    if not text:
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def one_line(text: str) -> str:
    """``safe`` and on a single line: for messages that must stay one line on stderr."""
    return " ".join(safe(text).split())


def encodable(text: str) -> str:
    """Lone surrogates (undecodable file-name bytes, ``"\\ud800"`` in a model's JSON) as ``\\udcff``.

    They cannot be encoded as UTF-8; without this every writer would raise.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Never part of JSON syntax, so only ever inside strings: escaping them keeps the data
# exact and the document valid while a terminal showing it sees no control (or bare surrogate).
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def json_escaped(document: str) -> str:
    """A JSON document with C1 controls, bidi overrides and lone surrogates as ``\\u`` escapes."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
