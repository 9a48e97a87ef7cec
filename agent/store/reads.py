"""Reading received messages per consumer: each gets every message once.

A consumer (an API client, a dialect's ``/read``...) is a name.  What it has
read is kept as a cursor plus a small set:

* ``cursors.last_id``: every received row with an id up to it has been
  returned to the consumer (or is not a received SMS);
* ``cursor_reads (consumer, id)``: rows above the cursor returned by a read
  filtered on a line, so that a later read (filtered or not) skips them
  while the other lines' older rows stay unread.

After each read the cursor moves up to just below the first row the consumer
has not read yet, and the ids it passed leave the set.  Ids only grow
(``AUTOINCREMENT``, one writer at a time), so no row can appear below a
cursor later.  The set stays small unless a consumer reads only some lines
while the others keep receiving: then it holds the ids read above the oldest
unread message of another line, until those rows are purged.
"""

from __future__ import annotations

import logging
from typing import Any

from peewee import SqliteDatabase

from .db import write

log = logging.getLogger(__name__)

_UNREAD = ("i.id > ? AND i.type = 'I'"
           " AND NOT EXISTS (SELECT 1 FROM cursor_reads r WHERE r.consumer = ? AND r.id = i.id)")


class Reads:
    """The per-consumer inbox reads, ``store.reads`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def read_inbox(self, consumer: str, *, line: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Return up to ``limit`` received messages (``smsserver_in`` rows of type
        'I', as dicts of every column) not returned to ``consumer`` before,
        oldest first; with ``line``, only those whose ``gateway_id`` is it.
        They count as read for this consumer only, durably (synchronous=FULL)
        before this returns; a filtered read leaves other lines' messages unread.
        Raise ValueError for an empty consumer name or a limit below 1."""
        if not consumer or limit < 1:
            raise ValueError("a consumer name and a limit of at least 1 are needed")
        where, extra = _UNREAD, tuple[str, ...]()
        if line is not None:
            where, extra = _UNREAD + " AND i.gateway_id = ?", (line,)
        # Nothing new (the usual poll): answer without taking the write lock.
        if not self._db.execute_sql(f"SELECT 1 FROM smsserver_in i WHERE {where} LIMIT 1",
                                    (self._cursor(consumer), consumer, *extra)).fetchone():
            return []
        with write(self._db, durable=True):
            cursor = self._cursor(consumer)
            cur = self._db.execute_sql(f"SELECT i.* FROM smsserver_in i WHERE {where} ORDER BY i.id LIMIT ?",
                                       (cursor, consumer, *extra, limit))
            columns = [d[0] for d in cur.description]
            rows = [dict(zip(columns, r)) for r in cur.fetchall()]
            if not rows:
                return []
            self._db.cursor().executemany("INSERT OR IGNORE INTO cursor_reads (consumer, id) VALUES (?, ?)",
                                          [(consumer, r["id"]) for r in rows])
            self._advance(consumer, cursor)
        log.debug("%d received message(s) read by %s%s", len(rows), consumer, f" on {line}" if line else "")
        return rows

    def _cursor(self, consumer: str) -> int:
        row = self._db.execute_sql("SELECT last_id FROM cursors WHERE consumer = ?", (consumer,)).fetchone()
        return int(row[0]) if row else 0

    def _advance(self, consumer: str, cursor: int) -> None:
        """Move the cursor up to just below the consumer's first unread row (to
        the last row when none is unread) and fold the set into it."""
        first_unread = self._db.execute_sql(f"SELECT MIN(i.id) FROM smsserver_in i WHERE {_UNREAD}",
                                            (cursor, consumer)).fetchone()[0]
        if first_unread is None:
            new = self._db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM smsserver_in").fetchone()[0]
        else:
            new = first_unread - 1
        new = max(new, cursor)
        self._db.execute_sql("INSERT INTO cursors (consumer, last_id) VALUES (?, ?)"
                             " ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id", (consumer, new))
        self._db.execute_sql("DELETE FROM cursor_reads WHERE consumer = ? AND id <= ?", (consumer, new))

    def forget_purged(self) -> int:
        """Drop remembered reads of rows purged from ``smsserver_in``; return how many."""
        with write(self._db, durable=False):
            return self._db.execute_sql(
                "DELETE FROM cursor_reads WHERE id < (SELECT COALESCE(MIN(id), 0) FROM smsserver_in)"
                " OR NOT EXISTS (SELECT 1 FROM smsserver_in)").rowcount
