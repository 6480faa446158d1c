"""The durable store's file: writes commit to the WAL; checkpoints happen beside them, not inside them."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from store.document_file import DocumentFile


def _write_many(file: DocumentFile, count: int) -> None:
    for n in range(count):
        file.write("db", "things", {f"t{n}": {"_id": f"t{n}", "body": "x" * 1000}})


def test_a_write_never_runs_a_checkpoint(tmp_path: Path) -> None:
    # 3,000 pages of WAL: SQLite's automatic checkpoint would have run inside three of these writes.
    file = DocumentFile(tmp_path / "store.sqlite3", checkpoint_seconds=3600)
    try:
        _write_many(file, 3_000)
        assert (tmp_path / "store.sqlite3").stat().st_size < 100_000  # nothing copied out of the WAL
        assert (tmp_path / "store.sqlite3-wal").stat().st_size > 3_000_000
    finally:
        file.close()


def test_the_checkpointer_moves_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    file = DocumentFile(tmp_path / "store.sqlite3", checkpoint_seconds=0.05)
    try:
        _write_many(file, 3_000)
        deadline = time.monotonic() + 10
        while (tmp_path / "store.sqlite3").stat().st_size < 3_000_000:
            assert time.monotonic() < deadline, "no checkpoint within 10 s"
            time.sleep(0.05)
        _write_many(file, 10)  # the writer goes on beside it
    finally:
        file.close()
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM documents").fetchone() == (3_000,)


def test_what_is_committed_but_not_checkpointed_is_read_back_after_a_crash(tmp_path: Path) -> None:
    # A crash leaves the WAL behind, unchecked: the next open reads the documents from it.
    file = DocumentFile(tmp_path / "store.sqlite3", checkpoint_seconds=3600)
    _write_many(file, 500)
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal"):  # the files as kill -9 leaves them (no close, no final checkpoint)
        (copy / f"store.sqlite3{suffix}").write_bytes((tmp_path / f"store.sqlite3{suffix}").read_bytes())
    file.close()
    reopened = DocumentFile(copy / "store.sqlite3")
    try:
        assert len(list(reopened.documents("db"))) == 500
    finally:
        reopened.close()


def test_a_document_written_again_is_rewritten_in_its_row_and_read_back(tmp_path: Path) -> None:
    file = DocumentFile(tmp_path / "store.sqlite3")
    try:
        _write_many(file, 3)
        file.write("db", "things", {"t1": {"_id": "t1", "body": "new"}, "t2": None})
        file.write("db", "things", {"t0": {"_id": "t0", "body": "newer", "more": [1]}})
        file.write("db", "other", {"t0": {"_id": "t0", "body": "another collection's"}})
    finally:
        file.close()
    reopened = DocumentFile(tmp_path / "store.sqlite3")
    try:
        assert sorted(reopened.documents("db"), key=lambda found: (found[0], found[1]["_id"])) == [
            ("other", {"_id": "t0", "body": "another collection's"}),
            ("things", {"_id": "t0", "body": "newer", "more": [1]}),
            ("things", {"_id": "t1", "body": "new"})]
    finally:
        reopened.close()
