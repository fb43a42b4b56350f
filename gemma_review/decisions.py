"""Decisions the team made about findings, kept in the repository (``.gemma-review/decisions.jsonl``).

One record per line, a JSON object with its keys in a fixed order, the lines sorted by
(path, category, fingerprint): a dismissal reads as one added line in a diff, and two
people dismissing different findings merge without a conflict.

The file is untrusted input (it comes with a clone): too large, not UTF-8, a control
character, a malformed or unknown record, and the whole file is ignored with one warning
(:attr:`Decisions.warning`); the review goes on as if it were absent. It is only ever
written by ``dismiss``, ``baseline``, ``decisions prune`` and the editor's dismiss action,
through :func:`write` (a temporary file renamed over the old one).

Matching (:meth:`Decisions.match`, documented in docs/decisions.md): a finding is the
decided one when

1. its fingerprint is the record's (same file, category and anchored code, any line); else
2. same category and the same code ignoring whitespace, in the same file or in a file the
   record names that no longer exists (a rename); else
3. same file and category, the code similar (``CODE_RATIO``, or one quote inside the other)
   *and* the titles about the same thing (``TITLE_SIMILARITY`` over their content words).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .findings import Finding, fingerprint as content_fingerprint

STORE_DIR = ".gemma-review"
STORE_NAME = "decisions.jsonl"
VERDICTS = ("dismissed", "accepted-risk", "baseline")
MAX_BYTES = 16 * 1024 * 1024  # ~40,000 records of real size; larger is not a decisions file
MAX_FIELD = 20_000  # characters in one field (a quote of a few hundred lines)
CODE_RATIO = 0.8  # difflib ratio of the whitespace-free quotes for a look-alike ...
TITLE_SIMILARITY = 0.34  # ... with this share of the shorter title's content words in common
CODE_RATIO_LOW, TITLE_SIMILARITY_HIGH = 0.7, 0.5  # or less alike code, titles more alike
MIN_CONTAINED = 16  # whitespace-free characters of a quote found inside the other quote
STEM = 5  # title words compare by their first characters after a crude suffix strip
FIELDS = ("fingerprint", "path", "category", "title", "code", "verdict", "reason", "who", "when")
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    "a an the of to in on for with and or is are be not no this that it its from by as at use using "
    "should could may might can will into than then when which instead unnecessary potential possible "
    "consider avoid".split()
)


@dataclass(frozen=True)
class Decision:
    fingerprint: str
    path: str
    category: str
    title: str
    code: str  # the anchored code the finding quoted
    verdict: str  # one of VERDICTS
    reason: str = ""
    who: str = ""
    when: str = ""  # UTC date, YYYY-MM-DD

    def line(self) -> str:
        # Readable UTF-8 in diffs; a lone surrogate (a file name or title that was not UTF-8)
        # is escaped rather than written as bytes no UTF-8 reader could take back.
        line = json.dumps({k: getattr(self, k) for k in FIELDS}, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            line = json.dumps({k: getattr(self, k) for k in FIELDS})
        return line

    @property
    def why(self) -> str:
        """The text --explain shows: the verdict, the reason, who and when."""
        who = " ".join(x for x in (self.who, self.when) if x)
        return f"{self.verdict}" + (f": {self.reason}" if self.reason else "") + (f" ({who})" if who else "")


def squash(code: str) -> str:
    return "".join(code.split())


def title_words(title: str) -> frozenset[str]:
    """Content words of a title, crudely stemmed ("Deduplicating dates" ~ "deduplicate date")."""
    out = set()
    for w in _WORD.findall(title.lower()):
        if w in _STOP or len(w) < 3:
            continue
        for suffix in ("ing", "ed", "es", "s", "e"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 4:
                w = w[: -len(suffix)]
                break
        out.add(w[:STEM])  # "comparison" ~ "compare", "deduplicating" ~ "deduplicate"
    return frozenset(out)


def title_similarity(a: str | frozenset[str], b: str | frozenset[str]) -> float:
    wa = title_words(a) if isinstance(a, str) else a
    wb = title_words(b) if isinstance(b, str) else b
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def code_similarity(a: str, b: str, floor: float = CODE_RATIO_LOW) -> float:
    """1.0 when one whitespace-free quote holds the other (and it is not tiny), else difflib's
    ratio; 0.0 as soon as the cheap upper bounds are below ``floor``."""
    if not a or not b:
        return 0.0
    if (a in b or b in a) and min(len(a), len(b)) >= MIN_CONTAINED:
        return 1.0
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if m.real_quick_ratio() < floor or m.quick_ratio() < floor:
        return 0.0
    return m.ratio()


def look_alike(code_a: str, title_a: str | frozenset[str], code_b: str, title_b: str | frozenset[str]) -> bool:
    """Rule 3: similar code *and* titles about the same thing (whitespace-free code)."""
    titles = title_similarity(title_a, title_b)
    if titles < TITLE_SIMILARITY:
        return False
    code = code_similarity(code_a, code_b)
    return code >= CODE_RATIO or (code >= CODE_RATIO_LOW and titles >= TITLE_SIMILARITY_HIGH)


@dataclass
class Decisions:
    """The loaded store, indexed so matching a finding is a few dictionary lookups."""

    records: list[Decision] = field(default_factory=list)
    warning: str | None = None  # why the file was ignored
    root: Path | None = None
    _by_fp: dict[str, Decision] = field(default_factory=dict, repr=False)
    _by_code: dict[tuple[str, str], list[Decision]] = field(default_factory=dict, repr=False)
    _by_place: dict[tuple[str, str], list[tuple[Decision, str, frozenset[str]]]] = field(default_factory=dict, repr=False)
    _exists: dict[str, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for d in self.records:
            self._by_fp.setdefault(d.fingerprint, d)
            self._by_code.setdefault((d.category, squash(d.code)), []).append(d)
            self._by_place.setdefault((d.path, d.category), []).append((d, squash(d.code), title_words(d.title)))

    def __len__(self) -> int:
        return len(self.records)

    def _gone(self, path: str) -> bool:
        if self.root is None:
            return False
        if path not in self._exists:
            self._exists[path] = (self.root / path).exists()
        return not self._exists[path]

    def match(self, f: Finding) -> Decision | None:
        """The decision ``f`` falls under (see the module's docstring), or None."""
        if not self.records:
            return None
        d = self._by_fp.get(f.fingerprint)
        if d is not None:
            return d
        code = squash(f.existing_code)
        for d in self._by_code.get((f.category, code), ()):
            if d.path == f.path or self._gone(d.path):
                return d
        place = self._by_place.get((f.path, f.category), ())
        if place:
            words = title_words(f.title)
            for d, d_code, d_words in place:
                if look_alike(code, words, d_code, d_words):
                    return d
        return None


def store_path(root: Path) -> Path:
    return root / STORE_DIR / STORE_NAME


def _record(obj: Any, n: int) -> Decision:
    if not isinstance(obj, dict):
        raise ValueError(f"line {n} is not a JSON object")
    missing = [k for k in ("fingerprint", "path", "category", "code", "verdict") if k not in obj]
    if missing:
        raise ValueError(f"line {n} lacks {', '.join(missing)}")
    values = {}
    for k in FIELDS:
        v = obj.get(k, "")
        if not isinstance(v, str) or len(v) > MAX_FIELD:
            raise ValueError(f"line {n}: {k} is not a string of at most {MAX_FIELD} characters")
        if _CONTROL.search(v) or (k != "code" and ("\n" in v or "\r" in v)):
            raise ValueError(f"line {n}: {k} holds a control character")
        values[k] = v
    if values["verdict"] not in VERDICTS:
        raise ValueError(f"line {n}: verdict {values['verdict']!r} is not one of {', '.join(VERDICTS)}")
    if not _FINGERPRINT.match(values["fingerprint"]):
        raise ValueError(f"line {n}: fingerprint is not 16 hex digits")
    return Decision(**values)


def parse(data: bytes) -> list[Decision]:
    """The records of a decisions file; ValueError (one line, why) when it cannot be trusted."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if b"\x00" in data:
        raise ValueError("binary (holds NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError(f"line {n} is not JSON") from None
        out.append(_record(obj, n))
    return out


def load(root: Path) -> Decisions:
    """The store of the repository at ``root`` (empty when absent; ignored with a warning when bad)."""
    path = store_path(root)
    try:
        if not path.exists():
            return Decisions(root=root)
        if not path.is_file():
            raise ValueError("not a regular file")
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        records = parse(path.read_bytes())
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        rel = f"{STORE_DIR}/{STORE_NAME}"
        return Decisions(root=root, warning=f"ignoring {rel}: {why}; findings are shown as if it were absent")
    return Decisions(records, root=root)


def sort_key(d: Decision) -> tuple[str, str, str]:
    return (d.path, d.category, d.fingerprint)


def write(root: Path, records: Iterable[Decision]) -> Path:
    """Write the store atomically (temporary file, fsync, rename); one record per fingerprint."""
    path = store_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    unique: dict[str, Decision] = {}
    for d in records:
        unique[d.fingerprint] = d
    text = "".join(d.line() + "\n" for d in sorted(unique.values(), key=sort_key))
    fd, tmp = tempfile.mkstemp(prefix=".decisions-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def of_finding(f: Finding, verdict: str, reason: str, who: str, when: str) -> Decision:
    return Decision(f.fingerprint, f.path, f.category, f.title, f.existing_code, verdict, reason, who, when)


def finding_record(f: Finding) -> dict[str, Any]:
    """What ``dismiss`` needs of a shown finding (kept per repository in the cache dir)."""
    return {"fingerprint": f.fingerprint, "path": f.path, "category": f.category, "title": f.title,
            "code": f.existing_code, "severity": f.severity}


def stale(d: Decision, text: str) -> bool:
    """The decided code is not in ``text`` (a file's content), whitespace ignored."""
    return squash(d.code) not in squash(text)


def refingerprint(d: Decision) -> str:
    """The fingerprint the engine gives the record's code today (a sanity check for tests)."""
    return content_fingerprint(d.path, d.category, d.code.split("\n"))


def as_dict(d: Decision) -> dict[str, str]:
    return asdict(d)


class Store:
    """The repository's decisions, read again whenever the file changes (an editor session
    sees a dismissal made in another editor, by the CLI or by a ``git pull``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stamp: tuple[int, int, int] | None = None
        self._loaded = Decisions(root=root)

    def current(self) -> Decisions:
        try:
            st = store_path(self.root).stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp or (stamp is None and self._loaded.records):
            self._loaded = load(self.root)
            self._stamp = stamp
        return self._loaded


# --- the last findings shown in a repository (so `dismiss FINGERPRINT` can fill the record) ---
REMEMBERED = 5000  # findings kept per repository, newest first


def _memory_file(cache_dir: Path, root: Path) -> Path:
    import hashlib

    key = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return cache_dir / "last-findings" / f"{key}.json"


def recall(cache_dir: Path, root: Path) -> dict[str, dict[str, Any]]:
    """fingerprint -> finding record of the findings reviews of ``root`` showed (or dismissed)."""
    try:
        data = json.loads(_memory_file(cache_dir, root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def remember(cache_dir: Path, root: Path, findings: Iterable[Finding]) -> None:
    """Add ``findings`` to what :func:`recall` returns (newest first; best effort, never fails a review)."""
    new = {f.fingerprint: finding_record(f) for f in findings}
    if not new:
        return
    old = recall(cache_dir, root)
    if all(old.get(k) == v for k, v in new.items()):
        return  # an editor reviewing the same file again writes nothing
    merged = {**new, **{k: v for k, v in old.items() if k not in new}}
    merged = dict(list(merged.items())[:REMEMBERED])
    path = _memory_file(cache_dir, root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".last-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(merged, out)  # ASCII: a title with a lone surrogate (not UTF-8) must not fail the write
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass
