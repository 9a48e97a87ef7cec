"""The journal: every delivery outcome and received message, for the pull dialects.

Push destinations get their own copy of an event in the outbox and delete it
once delivered.  Pull dialects (SOMP ``/mo``, httpInterface ``queryReport`` /
``queryMo``...) instead *ask* for what happened since they last asked, and
any number of them may ask independently.  So each ``result``, ``receipt``
and ``mo`` event (the payloads of :mod:`agent.store.outbox`) is also written
once to ``journal``, in the same transaction as the data it reports, whoever
is configured, and each consumer keeps a cursor over it
(``journal_cursors``): a read returns the consumer's next items of the kinds
it asks for, in order, and moves its cursor past everything it looked at.
A consumer that never reads costs nothing but the rows, which the purge job
removes with the rest of the old data (``[queue] purge_days``).

Most ``result`` entries say "sent", which report readers do not want: they
are marked (``sent`` = 1) so a read can leave them out in SQL.  A poll that
finds nothing wanted writes nothing, unless more than
:data:`SKIP_AHEAD` unwanted entries lie ahead of the cursor: then the cursor
moves past them (without fsync: losing that move only costs a rescan).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from peewee import SqliteDatabase

from .db import write

log = logging.getLogger(__name__)

JOURNAL_KINDS = ("result", "receipt", "mo")
SKIP_AHEAD = 1000


@dataclass(frozen=True)
class JournalItem:
    """One journal entry: ``kind`` and ``payload`` as in :mod:`agent.store.outbox`,
    ``created`` the epoch it was written."""

    id: int
    kind: str
    payload: dict[str, Any] = field(hash=False)
    created: float


class Journal:
    """The journal queries, ``store.journal`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def append(self, kind: str, payload: dict[str, Any], payload_json: str, created: float) -> None:
        """Write one entry, inside the caller's write transaction."""
        sent = int(kind == "result" and payload.get("status") == "sent")
        self._db.execute_sql("INSERT INTO journal (kind, payload, created, sent) VALUES (?, ?, ?, ?)",
                             (kind, payload_json, created, sent))

    def read(self, consumer: str, kinds: Collection[str], *, limit: int = 500,
             since: float | None = None, sent_results: bool = True) -> list[JournalItem]:
        """Return up to ``limit`` entries of ``kinds`` after ``consumer``'s cursor, oldest
        first, and move the cursor past them (and past the entries of other kinds
        between them), committed durably before this returns: each entry is
        returned to a consumer once.  With ``since`` (an epoch), entries written
        before it are skipped for good; without ``sent_results``, so are the
        ``result`` entries of messages sent (only failures are returned).  Raise
        ValueError for an empty consumer, a limit below 1, or a kind that is not
        journaled."""
        if not consumer or limit < 1:
            raise ValueError("a consumer name and a limit of at least 1 are needed")
        unknown = set(kinds) - set(JOURNAL_KINDS)
        if not kinds or unknown:
            raise ValueError(f"journal kinds are some of {list(JOURNAL_KINDS)}, not {sorted(unknown) or 'none'}")
        marks = ", ".join("?" * len(kinds))
        where = f"id > ? AND kind IN ({marks}) AND created >= ?" + ("" if sent_results else " AND sent = 0")
        args = (*kinds, since if since is not None else float("-inf"))
        # Nothing new (the usual poll): answer without taking the write lock.
        cursor = self._cursor(consumer)
        if not self._db.execute_sql(f"SELECT 1 FROM journal WHERE {where} LIMIT 1", (cursor, *args)).fetchone():
            self._skip_ahead(consumer, cursor)
            return []
        with write(self._db, durable=True):
            cursor = self._cursor(consumer)
            rows = self._db.execute_sql(f"SELECT id, kind, payload, created FROM journal WHERE {where}"
                                        " ORDER BY id LIMIT ?", (cursor, *args, limit)).fetchall()
            if not rows:
                return []
            if len(rows) < limit:  # the consumer has seen all there is: skip other kinds up to the end
                last = self._db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
            else:
                last = rows[-1][0]
            self._db.execute_sql("INSERT INTO journal_cursors (consumer, last_id) VALUES (?, ?)"
                                 " ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id",
                                 (consumer, max(last, cursor)))
        log.debug("%d journal item(s) read by %s", len(rows), consumer)
        return [JournalItem(id_, kind, _load(payload), created) for id_, kind, payload, created in rows]

    def _skip_ahead(self, consumer: str, cursor: int) -> None:
        """Move a cursor with nothing wanted ahead of it past what it will never read,
        once there is enough of it that rescanning on every poll would cost."""
        last = int(self._db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])
        if last - cursor <= SKIP_AHEAD:
            return
        with write(self._db, durable=False):
            self._db.execute_sql("INSERT INTO journal_cursors (consumer, last_id) VALUES (?, ?)"
                                 " ON CONFLICT (consumer) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)",
                                 (consumer, last))

    def purge(self, before: float) -> int:
        """Delete entries written before epoch ``before``; return how many."""
        with write(self._db, durable=False):
            return int(self._db.execute_sql("DELETE FROM journal WHERE created < ?", (before,)).rowcount)

    def _cursor(self, consumer: str) -> int:
        row = self._db.execute_sql("SELECT last_id FROM journal_cursors WHERE consumer = ?", (consumer,)).fetchone()
        return int(row[0]) if row else 0


def _load(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {"unreadable": payload}
    return data if isinstance(data, dict) else {"unreadable": payload}
