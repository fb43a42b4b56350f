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

from .findings import Finding, Fix

SCHEMA_VERSION = 1


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
                fix = item.pop("fix", None)
                f = Finding(**item, fix=Fix(**fix) if fix else None)
                findings.append(f.moved(unit_start - 1))
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
