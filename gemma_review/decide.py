"""``gemma-review dismiss``, ``baseline`` and ``decisions prune``: write the team's decisions.

Typed commands (the CLI parses arguments and calls them). The store is
``.gemma-review/decisions.jsonl`` at the repository root (:mod:`gemma_review.decisions`);
these commands and the editor's dismiss action are the only writers, and none of them
rewrites a store it could not read (the user fixes or removes it first).

``dismiss FINGERPRINT`` needs the finding's details (path, category, title, code): every
review keeps the findings it showed, per repository, in the cache dir
(:func:`decisions.remember`), so a fingerprint from the last reviews' text, JSON or SARIF
output is enough.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import decisions as dec
from .errors import EXIT_OK, InputError
from .terminal import one_line

DISMISS_VERDICTS = ("dismissed", "accepted-risk")
STORE = f"{dec.STORE_DIR}/{dec.STORE_NAME}"


def repo_root(cwd: Path) -> Path:
    from .git_repo import find_root

    return find_root(cwd) or cwd


def who(root: Path) -> str:
    """``Name <email>`` from git's config (what a commit would record), or ""."""
    from .git_repo import GitError, run_git

    parts = []
    for key in ("user.name", "user.email"):
        try:
            parts.append(run_git(root, "config", key, ok=(0, 1)).decode("utf-8", "replace").strip())
        except (GitError, InputError):
            parts.append("")
    name, email = parts
    return f"{name} <{email}>" if name and email else name or email


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def trusted(root: Path) -> dec.Decisions:
    """The store, or InputError when it cannot be read (never overwrite what we did not parse)."""
    loaded = dec.load(root)
    if loaded.warning:
        raise InputError(f"{loaded.warning.split(';')[0]}; fix or remove it before recording decisions")
    return loaded


def check_reason(category: str, reason: str, fingerprint: str) -> None:
    if category == "security" and not reason.strip():
        raise InputError(f"{fingerprint} is a security finding: dismissing it needs --reason TEXT")


def record_findings(root: Path, found: Sequence[Mapping[str, Any]], verdict: str, reason: str) -> Path:
    """Add (or replace, by fingerprint) one record per finding; the store's path."""
    store = trusted(root)
    by = who(root)
    when = today()
    new = [
        dec.Decision(str(f["fingerprint"]), str(f["path"]), str(f["category"]), one_line(str(f["title"])),
                     str(f["code"]), verdict, one_line(reason), by, when)
        for f in found
    ]
    return dec.write(root, [*store.records, *new])


def dismiss(fingerprints: Sequence[str], reason: str = "", verdict: str = "dismissed", cwd: Path | None = None) -> int:
    """Record the findings with these fingerprints (from the last reviews of this repository)."""
    from .config import load_settings
    from .engine import memory_dir

    cwd = Path.cwd() if cwd is None else cwd
    if verdict not in DISMISS_VERDICTS:
        raise InputError(f"--verdict must be one of {', '.join(DISMISS_VERDICTS)}")
    root = repo_root(cwd)
    settings = load_settings(cwd).settings
    known = dec.recall(memory_dir(settings), root)
    found = []
    for fp in fingerprints:
        f = known.get(fp.strip().lower())
        if f is None:
            raise InputError(
                f"no finding with fingerprint {one_line(fp)} in the recent reviews of {root}; "
                "review again and copy a fingerprint from its output"
            )
        check_reason(str(f.get("category")), reason, fp)
        found.append(f)
    path = record_findings(root, found, verdict, reason)
    from .verdicts import record

    record(settings, root, "dismissed", [(str(f.get("category")), str(f.get("severity", "")), str(f.get("fingerprint")))
                                         for f in found])
    n = len(found)
    print(f"{verdict} {n} finding{'s' if n != 1 else ''} in {path.relative_to(root)}; commit it to share with the team")
    return EXIT_OK


def baseline(
    overrides: Mapping[str, Any],
    paths: Sequence[Path] = (),
    base: str | None = None,
    update: bool = False,
    cwd: Path | None = None,
    config_file: Path | None = None,
) -> int:
    """Review and record every current finding as ``baseline`` (``update``: the baseline anew)."""
    from .config import load_settings
    from .engine import ReviewEngine
    from .report.text import write_notes
    from .review import Source, gather

    cwd = Path.cwd() if cwd is None else cwd
    root = repo_root(cwd)
    store = trusted(root)
    loaded = load_settings(cwd, overrides=overrides, config_file=config_file)
    for warning in loaded.warnings:
        sys.stderr.write(f"gemma-review: warning: {warning}\n")
    source = Source(paths=tuple(paths) or ((cwd,) if base is None else ()), base=base)
    changes = gather(source, root)  # paths relative to the repository root, as the hook and editor give them
    engine = ReviewEngine(loaded.settings, root=loaded.root)
    engine.counts_verdicts = False
    kept = [d for d in store.records if not (update and d.verdict == "baseline")]
    engine.decisions = _Fixed(dec.Decisions(kept, root=root))  # --update: the old baseline hides nothing
    try:
        result = engine.run([changes]).execute()
    finally:
        engine.close()
    write_notes(result)
    if result.cancelled:
        raise InputError("the review was interrupted; the baseline was not written")
    found = [dec.finding_record(f) for f in result.findings]
    path = dec.write(root, [*kept, *(
        dec.Decision(f["fingerprint"], f["path"], f["category"], one_line(f["title"]), f["code"], "baseline", "", who(root), today())
        for f in found)])
    n = len(found)
    print(f"recorded {n} finding{'s' if n != 1 else ''} as baseline in {path.relative_to(root)}")
    return EXIT_OK


class _Fixed:
    """A decisions store that never changes (what a baseline run compares against)."""

    def __init__(self, decisions: dec.Decisions) -> None:
        self._decisions = decisions

    def current(self) -> dec.Decisions:
        return self._decisions


def repository_texts(root: Path, limit: int = 2 * 1024 * 1024) -> dict[str, str]:
    """path -> whitespace-free text of every file git knows (tracked or not ignored)."""
    from .git_repo import GitError, run_git

    try:
        names = run_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").decode(
            "utf-8", "surrogateescape").split("\0")
    except (GitError, InputError):
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
    out = {}
    for name in names:
        p = root / name
        if not name or name.startswith(dec.STORE_DIR + "/") or not p.is_file():
            continue
        try:
            if p.stat().st_size > limit:
                continue
            out[name] = dec.squash(p.read_bytes().decode("utf-8", "replace"))
        except OSError:
            continue
    return out


def prune(cwd: Path | None = None, dry_run: bool = False) -> int:
    """Remove the records whose code no file in the repository holds any more."""
    cwd = Path.cwd() if cwd is None else cwd
    root = repo_root(cwd)
    store = trusted(root)
    texts = repository_texts(root)

    def alive(d: dec.Decision) -> bool:
        code = dec.squash(d.code)
        if d.path in texts and code in texts[d.path]:
            return True
        return any(code in t for t in texts.values())

    kept = [d for d in store.records if alive(d)]
    gone = len(store.records) - len(kept)
    if gone and not dry_run:
        dec.write(root, kept)
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {gone} stale decision{'s' if gone != 1 else ''}; {len(kept)} kept")
    return EXIT_OK

