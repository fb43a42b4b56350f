"""The review cache: round trips, moved units, broken files, concurrent writers."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import pytest

from gemma_review.cache import ReviewCache, unit_key
from gemma_review.findings import Fix
from tests.helpers import finding


# Every field set, so a round trip through the cache is checked field by field.
full_finding = partial(
    finding, column=5, end_column=20, explanation="why", existing_code="    x = 1", suggested_code="    x = 2",
    confidence=0.75, fingerprint="0123456789abcdef", extra={"source": "test"},
)


@pytest.fixture
def cache(tmp_path: Path) -> ReviewCache:
    return ReviewCache(tmp_path / "cache")


def test_round_trip(cache: ReviewCache) -> None:
    stored = [full_finding(12, 14, fix=Fix(12, 14, "    x = 2", "hash")), full_finding(20, title="Other")]
    cache.put("k", 10, stored, truncated=False)
    got = cache.get("k", 10)
    assert got is not None
    assert got == (stored, False)


def test_round_trip_keeps_the_other_locations(cache: ReviewCache) -> None:
    """Issue 21 item 7: a finding's folded places survive the cache and move with its unit."""
    from gemma_review.findings import Location

    stored = [full_finding(12, also=(Location(15, 15, 5, 9, "  y "), Location(18, 19, 1, 3, "z\nw")))]
    cache.put("k", 10, stored, truncated=False)
    assert cache.get("k", 10) == (stored, False)
    (moved,), _ = cache.get("k", 20)  # type: ignore[misc]
    assert [(loc.line, loc.end_line) for loc in moved.also] == [(25, 25), (28, 29)]


def test_missing_key(cache: ReviewCache) -> None:
    assert cache.get("nothing here", 1) is None


def test_empty_review_is_cached(cache: ReviewCache) -> None:
    cache.put("clean", 1, [], truncated=True)
    assert cache.get("clean", 1) == ([], True)


@pytest.mark.parametrize("new_start", [1, 10, 11, 250])
def test_moved_unit_returns_moved_lines(cache: ReviewCache, new_start: int) -> None:
    cache.put("k", 10, [full_finding(12, 14, fix=Fix(12, 14, "x", "h"))], truncated=False)
    got = cache.get("k", new_start)
    assert got is not None
    (f,), _ = got
    delta = new_start - 10
    assert (f.line, f.end_line) == (12 + delta, 14 + delta)
    assert (f.fix.start_line, f.fix.end_line) == (12 + delta, 14 + delta)


def test_put_replaces(cache: ReviewCache) -> None:
    cache.put("k", 1, [full_finding(1)], truncated=False)
    cache.put("k", 1, [full_finding(2), full_finding(3)], truncated=False)
    got = cache.get("k", 1)
    assert got is not None and [f.line for f in got[0]] == [2, 3]


def test_shared_between_instances(tmp_path: Path) -> None:
    ReviewCache(tmp_path).put("k", 1, [full_finding(1)], truncated=False)
    assert ReviewCache(tmp_path).get("k", 1) is not None
    stats = ReviewCache(tmp_path).stats()
    assert stats["entries"] == 1 and stats["bytes"] > 0


def test_clear(cache: ReviewCache) -> None:
    cache.put("k", 1, [full_finding(1)], truncated=False)
    cache.clear()
    assert cache.get("k", 1) is None
    cache.put("k2", 1, [], truncated=False)  # usable again after clearing
    assert cache.get("k2", 1) == ([], False)


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4096, b""],
    ids=["text", "bad header", "empty"],
)
def test_corrupt_database_does_not_crash(tmp_path: Path, garbage: bytes) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "reviews.sqlite3").write_bytes(garbage)
    cache = ReviewCache(folder)
    cache.put("k", 1, [full_finding(1)], truncated=False)
    got = cache.get("k", 1)
    assert got is None or got == ([full_finding(1)], False)  # an empty file is simply a new database
    assert cache.stats()["path"].endswith("reviews.sqlite3")


def test_unusable_cache_folder_does_not_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = ReviewCache(blocker / "cache")
    cache.put("k", 1, [full_finding(1)], truncated=False)
    assert cache.get("k", 1) is None


def test_row_from_an_older_finding_shape_is_a_miss(cache: ReviewCache) -> None:
    cache.put("k", 1, [full_finding(1)], truncated=False)
    import sqlite3

    conn = sqlite3.connect(cache.path)
    conn.execute("UPDATE reviews SET findings = ?", ('[{"line": 1, "unknown_field": 2}]',))
    conn.commit()
    conn.close()
    assert cache.get("k", 1) is None


def test_two_threads_writing(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(tag: str) -> None:
        try:
            cache = ReviewCache(folder)  # each thread its own instance, like CLI + LSP
            start.wait()
            for i in range(25):
                cache.put(f"{tag}-{i}", 1, [full_finding(i + 1)], truncated=False)
                assert cache.get(f"{tag}-{i}", 1) is not None
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache = ReviewCache(folder)
    assert cache.stats()["entries"] == 50
    for tag in ("a", "b"):
        got = cache.get(f"{tag}-24", 1)
        assert got is not None and got[0][0].line == 25


def test_one_instance_shared_by_threads(tmp_path: Path) -> None:
    cache = ReviewCache(tmp_path / "one")
    threads = [threading.Thread(target=lambda t=t: [cache.put(f"{t}-{i}", 1, [], False) for i in range(25)]) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.stats()["entries"] == 100


def test_unit_key() -> None:
    a = unit_key("1", "model", ["x = 1"], [0])
    assert a == unit_key("1", "model", ["x = 1"], [0])
    assert a != unit_key("1", "model", ["x = 2"], [0])
    assert a != unit_key("1", "model", ["x = 1"], [1])
    assert a != unit_key("2", "model", ["x = 1"], [0])
    assert len(a) == 64
