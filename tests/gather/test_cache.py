"""The lookup cache written behind: what a thread puts is served at once, reaches the file in batches
(and at close), and expired entries can be purged."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bot.gather.cache import LookupCache
from tests.gather.test_units import _net


def _rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM networks)")
                   .fetchone()[0])
    finally:
        db.close()


def test_an_answer_serves_at_once_and_is_on_disk_after_close(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = LookupCache(path, 24.0)
    cache.put("k", {"a": [1, 2]}, ttl=300)
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "WIDE"))
    cache.put_network(_net("198.51.100.0", "198.51.100.127", "NARROW"))
    assert cache.get("k") == {"a": [1, 2]}                    # from memory, as JSON gives it back
    found = cache.network_for("198.51.100.7")
    assert found is not None and found.handle == "NARROW"      # the most specific, unwritten yet
    assert _rows(path) == 0                                    # written behind, not per answer
    cache.close()
    again = LookupCache(path, 24.0)
    assert again.get("k") == {"a": [1, 2]}
    found = again.network_for("198.51.100.200")
    assert found is not None and found.handle == "WIDE"
    again.close()


def test_a_memory_answer_more_specific_than_the_files_wins(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = LookupCache(path, 24.0)
    first.put_network(_net("198.51.100.0", "198.51.100.255", "WIDE"))
    first.close()
    cache = LookupCache(path, 24.0)
    cache.put_network(_net("198.51.100.64", "198.51.100.127", "NARROW"))
    assert cache.network_for("198.51.100.70").handle == "NARROW"   # type: ignore[union-attr]
    assert cache.network_for("198.51.100.7").handle == "WIDE"      # type: ignore[union-attr]
    cache.close()


def test_answers_reach_the_file_in_batches_by_count_and_by_age(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    now = [1_000_000.0]
    cache = LookupCache(path, 24.0, clock=lambda: now[0])
    for n in range(LookupCache.FLUSH_COUNT - 1):
        cache.put(f"k{n}", n)
    assert _rows(path) == 0
    cache.put("one-more", 1)
    assert _rows(path) == LookupCache.FLUSH_COUNT               # one transaction for the batch
    cache.put("late", 1)
    now[0] += LookupCache.FLUSH_AGE + 0.5
    cache.put("later", 2)                                      # the oldest waited long enough
    assert _rows(path) == LookupCache.FLUSH_COUNT + 2
    other = LookupCache(path, 24.0, clock=lambda: now[0])      # another process sees them
    assert other.get("late") == 1 and other.get("later") == 2
    other.close()
    cache.close()


def test_expiry_applies_to_answers_still_in_memory(tmp_path: Path) -> None:
    now = [1_000_000.0]
    cache = LookupCache(tmp_path / "c.sqlite", 1.0, clock=lambda: now[0])
    cache.put("dns", "answer", ttl=60)
    cache.put("long", "answer")
    now[0] += 61
    assert cache.get("dns") is None and cache.get("long") == "answer"
    assert cache.get_entry("dns") == ("answer", 1_000_000.0)  # whatever its age, for who judges it
    now[0] += 3600
    assert cache.get("long") is None
    cache.close()


def test_purge_removes_the_expired_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    now = [1_000_000.0]
    cache = LookupCache(path, 1.0, clock=lambda: now[0])
    cache.put("old", 1)
    cache.put("short", 2, ttl=30)
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "OLD"))
    now[0] += 1800
    cache.put("fresh", 3)
    cache.put_network(_net("203.0.113.0", "203.0.113.255", "FRESH"))
    assert cache.purge() == 1                                  # "short" only: the rest is young
    now[0] += 2000                                             # "old" and its network are past the TTL
    assert cache.purge() == 2
    assert cache.get("fresh") == 3 and cache.network_for("203.0.113.9") is not None
    assert _rows(path) == 2
    cache.close()


def test_many_threads_read_and_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = LookupCache(path, 24.0)
    wrong: list[str] = []

    def work(t: int) -> None:
        for n in range(300):
            key = f"t{t}-{n}"
            cache.put(key, [t, n])
            if cache.get(key) != [t, n]:
                wrong.append(key)
            if cache.get(f"t{(t + 1) % 16}-{n}") not in (None, [(t + 1) % 16, n]):
                wrong.append(f"other {key}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.close()
    assert wrong == []
    assert _rows(path) == 16 * 300                             # nothing lost between batches
