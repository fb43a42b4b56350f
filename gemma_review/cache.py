"""Cache: one SQLite file shared by the CLI, the hook and the language server.

The key is the unit's text and changed lines (relative to the unit, so moved code
still hits), the model, the prompt version, the guidelines and the review settings.
Findings are stored relative to the unit start and moved back on a hit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .findings import Finding

SCHEMA_VERSION = 1
VERDICT_KINDS = ("shown", "fixed", "dismissed", "ignored")  # columns of the verdicts table


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("gemma-review", appauthor=False))


def unit_key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


class ReviewCache:
    """Thread-safe by construction: every call opens its own short-lived connection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "reviews.sqlite3"
        self._ready = False
        self._init_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path if self._ready else self._prepare(), timeout=10.0, isolation_level=None)
        return conn

    def _prepare(self) -> Path:
        # One thread creates the schema; switching to WAL does not wait on the busy
        # timeout, so concurrent first connections would otherwise fail with "locked".
        with self._init_lock:
            if not self._ready:
                self.folder.mkdir(parents=True, exist_ok=True)
                for attempt in range(40):
                    conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
                    try:
                        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                            conn.execute("PRAGMA journal_mode=WAL")
                        conn.execute(
                            "CREATE TABLE IF NOT EXISTS reviews (key TEXT PRIMARY KEY, version INTEGER, "
                            "created REAL, findings TEXT, truncated INTEGER)"
                        )
                        conn.execute(
                            "CREATE TABLE IF NOT EXISTS token_ratios (model TEXT PRIMARY KEY, "
                            "tokens_per_byte REAL, updated REAL)"
                        )
                        conn.execute(
                            "CREATE TABLE IF NOT EXISTS context_events (model TEXT, kind TEXT, at REAL, detail TEXT)"
                        )
                        # What people did with findings (gemma_review.verdicts); added by
                        # CREATE IF NOT EXISTS, so a cache made by an older version just gains it.
                        conn.execute(
                            "CREATE TABLE IF NOT EXISTS verdicts (root TEXT, category TEXT, severity TEXT, "
                            "shown INTEGER DEFAULT 0, fixed INTEGER DEFAULT 0, dismissed INTEGER DEFAULT 0, "
                            "ignored INTEGER DEFAULT 0, PRIMARY KEY (root, category, severity))"
                        )
                        conn.execute(
                            "CREATE TABLE IF NOT EXISTS verdicts_seen (root TEXT, kind TEXT, fingerprint TEXT, "
                            "day TEXT, PRIMARY KEY (root, kind, fingerprint, day))"
                        )
                        break
                    except sqlite3.OperationalError:
                        # Another process (CLI, hook, editor) is creating it right now.
                        if attempt == 39:
                            raise
                        time.sleep(0.025)
                    finally:
                        conn.close()
                self._ready = True
        return self.path

    def get(self, key: str, unit_start: int) -> tuple[list[Finding], bool] | None:
        try:
            conn = self._connect()
            try:
                row = conn.execute(
                    "SELECT findings, truncated FROM reviews WHERE key = ? AND version = ?", (key, SCHEMA_VERSION)
                ).fetchone()
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            return None  # a broken or unwritable cache only costs a model call
        if row is None:
            return None
        try:
            items = json.loads(row[0])
            findings = []
            for item in items:
                findings.append(Finding.from_dict(item).moved(unit_start - 1))
        except (ValueError, TypeError):
            return None
        return findings, bool(row[1])

    def put(self, key: str, unit_start: int, findings: list[Finding], truncated: bool) -> None:
        self.put_many([(key, unit_start, findings, truncated)])

    def put_many(self, entries: list[tuple[str, int, list[Finding], bool]]) -> None:
        """Store several units' findings in one transaction (one fsync, not one per unit)."""
        rows = []
        now = time.time()
        for key, unit_start, findings, truncated in entries:
            items = [asdict(f.moved(1 - unit_start)) for f in findings]
            rows.append((key, SCHEMA_VERSION, now, json.dumps(items), int(truncated)))
        if not rows:
            return
        try:
            conn = self._connect()
            try:
                with conn:  # isolation_level=None: open the transaction explicitly
                    conn.execute("BEGIN")
                    conn.executemany("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)", rows)
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            pass

    # --- what the context module learns about a model's tokenizer ------------------
    def token_ratio(self, model: str) -> float | None:
        """The highest tokens-per-byte seen for ``model`` (None: not learned yet)."""
        row = self._one("SELECT tokens_per_byte FROM token_ratios WHERE model = ?", (model,))
        return float(row[0]) if row and row[0] else None

    def learn_token_ratio(self, model: str, tokens_per_byte: float) -> None:
        self._write(
            "INSERT INTO token_ratios VALUES (?, ?, ?) ON CONFLICT(model) DO UPDATE SET "
            "tokens_per_byte = max(tokens_per_byte, excluded.tokens_per_byte), updated = excluded.updated",
            (model, tokens_per_byte, time.time()),
        )

    def token_ratios(self) -> dict[str, float]:
        return dict(self._all("SELECT model, tokens_per_byte FROM token_ratios ORDER BY model"))

    def context_event(self, model: str, kind: str, detail: str) -> None:
        """A prompt the server cut (``cut``) or refused (``refused``), for doctor."""
        self._write("INSERT INTO context_events VALUES (?, ?, ?, ?)", (model, kind, time.time(), detail))

    def context_events(self, since: float) -> list[tuple[str, str, float, str]]:
        return self._all("SELECT model, kind, at, detail FROM context_events WHERE at >= ? ORDER BY at", (since,))

    # --- what people did with findings (gemma_review.verdicts) -------------------------
    def count_verdicts(self, root: str, kind: str, items: list[tuple[str, str, str]], day: str | None = None) -> int:
        """Add one ``kind`` per (category, severity, fingerprint); with ``day``, a fingerprint
        counts once per day (a re-review of the same code is not a new showing). Rows counted."""
        if kind not in VERDICT_KINDS or not items:
            return 0
        counted = 0
        try:
            conn = self._connect()
            try:
                with conn:
                    conn.execute("BEGIN")
                    if day is not None:
                        conn.execute("DELETE FROM verdicts_seen WHERE day < date(?, '-2 days')", (day,))
                    for category, severity, fp in items:
                        if day is not None and conn.execute(
                            "INSERT OR IGNORE INTO verdicts_seen VALUES (?, ?, ?, ?)", (root, kind, fp, day)
                        ).rowcount == 0:
                            continue
                        conn.execute(
                            f"INSERT INTO verdicts (root, category, severity, {kind}) VALUES (?, ?, ?, 1) "
                            f"ON CONFLICT (root, category, severity) DO UPDATE SET {kind} = {kind} + 1",
                            (root, category, severity),
                        )
                        counted += 1
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            return 0  # counting is a convenience: a read-only cache only loses it
        return counted

    def verdict_counts(self, root: str) -> list[tuple[str, str, int, int, int, int]]:
        """(category, severity, shown, fixed, dismissed, ignored) of one repository."""
        return self._all(
            "SELECT category, severity, shown, fixed, dismissed, ignored FROM verdicts WHERE root = ? "
            "ORDER BY category, severity", (root,)
        )

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        if not self.path.exists():
            return []
        try:
            conn = self._connect()
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            return []

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            conn = self._connect()
            try:
                conn.execute(sql, args)
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            pass  # learning is an optimisation: a read-only cache only costs the margin

    def stats(self) -> dict[str, Any]:
        size = sum(p.stat().st_size for p in self.folder.glob("reviews.sqlite3*")) if self.folder.exists() else 0
        entries = 0
        if self.path.exists():
            try:
                conn = self._connect()
                try:
                    entries = conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
                finally:
                    conn.close()
            except sqlite3.Error:
                pass
        return {"path": str(self.path), "bytes": size, "entries": entries}

    def clear(self) -> None:
        for p in self.folder.glob("reviews.sqlite3*"):
            p.unlink()
        self._ready = False
