"""The durable store's file: every document as BSON in one SQLite table, one transaction per write.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction is in the
operating system's hands before ``commit()`` returns, so it survives ``kill -9`` of the process
at any point (a torn write is rolled back from the WAL on the next open). Only a power cut or
kernel crash can lose the last transactions; ``synchronous=FULL`` would close that gap at an
fsync per write (see the README's storage section for the figures).

Checkpoints (copying committed pages from the WAL into the database file, with an fsync) run in a
thread of their own on a second connection, not in the writes: SQLite's automatic checkpoint ran
inside whichever commit crossed 1,000 WAL pages, and held that write, and so the event loop and
every webhook waiting on it, for 10-45 ms (20,000 single-document writes: 38 over 10 ms, max 44 ms
on a quiet disk). A passive checkpoint never blocks the writer, and a commit is durable once it is
in the WAL, so nothing acknowledged depends on it.

One process owns the file: an exclusive ``flock`` on a side file, held until ``close()``. A
second process (a CLI command while the gateway runs) fails loudly instead of working on a copy
that the first one would overwrite.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions

log = logging.getLogger("youthdesk.store")

CHECKPOINT_SECONDS = 1.0

# mongomock keeps datetimes naive (in UTC); decoding them naive again keeps its view unchanged.
_CODEC = CodecOptions(document_class=dict, tz_aware=False)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    db TEXT NOT NULL,
    coll TEXT NOT NULL,
    id BLOB NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (db, coll, id)
) WITHOUT ROWID
"""


# A document written again is updated in its row: ``INSERT OR REPLACE`` deletes the row and inserts it anew,
# 40-42 us of CPU against 16-20 us for rewriting a 1.5 kB conversation among 20,000 messages (a harness not
# kept), and most writes rewrite a stored document (numbering, routing, the outbox).
_UPSERT = ("INSERT INTO documents VALUES (?, ?, ?, ?) "
           "ON CONFLICT (db, coll, id) DO UPDATE SET body = excluded.body")


class StoreFileInUse(RuntimeError):
    """Another process holds the store file."""


def _id_key(document_id: Any) -> bytes:
    return bson.encode({"_id": document_id}, codec_options=_CODEC)


class DocumentFile:
    """Opens (creating if needed) and locks ``path``; ``close()`` releases both."""

    def __init__(self, path: Path, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.path = path.resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StoreFileInUse(f"{self.path} is in use by another youthdesk process "
                                 "(stop it first, or set MONGODB_URI to share a MongoDB server)") from None
        # isolation_level=None: transactions are explicit, one per store operation.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the writer's way
        self._db.execute(_SCHEMA)
        os.chmod(self.path, 0o600)
        self._checkpointer = _Checkpointer(self.path, checkpoint_seconds)
        self._checkpointer.start()

    def documents(self, database: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(collection, document) for every stored document of ``database``."""
        rows = self._db.execute("SELECT coll, body FROM documents WHERE db = ?", (database,))
        for collection, body in rows:
            yield collection, bson.decode(body, codec_options=_CODEC)

    def write(self, database: str, collection: str, changed: Mapping[Any, Mapping[str, Any] | None]) -> None:
        """Store each changed document (``None``: it was deleted) in one transaction."""
        upserts: list[tuple[str, str, bytes, bytes]] = []
        deletes: list[tuple[str, str, bytes]] = []
        for document_id, document in changed.items():
            key = _id_key(document_id)
            if document is None:
                deletes.append((database, collection, key))
            else:
                upserts.append((database, collection, key, bson.encode(document, codec_options=_CODEC)))
        if len(upserts) + len(deletes) == 1:
            # One statement is its own transaction (autocommit): a BEGIN and a COMMIT fewer, about 15 %
            # of a single-document write, which is what nearly every store operation is.
            if upserts:
                self._db.execute(_UPSERT, upserts[0])
            else:
                self._db.execute("DELETE FROM documents WHERE db = ? AND coll = ? AND id = ?", deletes[0])
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._executemany(_UPSERT, upserts)
            self._executemany("DELETE FROM documents WHERE db = ? AND coll = ? AND id = ?", deletes)
            self._db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full, I/O error) can leave the transaction open: end it, or the
            # next write's BEGIN fails too.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _executemany(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        if rows:
            self._db.executemany(sql, rows)

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self._checkpointer.stop()
        self._db.close()  # the last connection: checkpoints what is left
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = -1


class _Checkpointer(threading.Thread):
    """Copies committed pages from the WAL into the database file every ``seconds``, on its own connection.

    SQLite releases the GIL while it works, so the event loop runs on meanwhile.
    """

    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__(name="store-checkpointer", daemon=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._seconds = seconds
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self._seconds):
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:  # the writer is unaffected; the WAL grows until a checkpoint succeeds
                log.exception("store checkpoint failed; retried in %s s", self._seconds)

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self._db.close()
