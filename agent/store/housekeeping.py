"""Housekeeping: deleting what is old, in small transactions."""

from __future__ import annotations

import logging
from typing import Any

from peewee import SqliteDatabase

from .db import write
from .journal import Journal
from .outbox import Outbox
from .reads import Reads
from .times import LocalTime

log = logging.getLogger(__name__)

_PURGE_BATCH = 5000  # rows per delete transaction, so a big purge never holds the write lock long


class Housekeeping:
    """The purge of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime, reads: Reads, journal: Journal, outbox: Outbox) -> None:
        self._db = db
        self._t = times
        self._reads = reads
        self._journal = journal
        self._outbox = outbox

    def purge(self, older_than_days: float) -> int:
        """Delete what is older than ``older_than_days``: finished ('S'/'F')
        ``smsserver_out`` rows (their ``sent_parts`` go with them), received
        messages and reports, calls; also used multipart bookkeeping (a door's parts too), empty
        tasks, idempotency keys whose rows are all gone, reads of purged rows,
        and outbox items still undelivered (given up and counted, e.g. for a
        destination no longer configured).  Return how many messages,
        received rows and calls went."""
        cutoff, local_cutoff = self._t.days_ago(older_than_days)
        count = self._purge("smsserver_out", "status IN ('S', 'F') AND"
                            " (updated < ? OR (updated IS NULL AND create_date < ?))", (cutoff, local_cutoff))
        count += self._purge("smsserver_in", "receive_date < ?", (local_cutoff,))
        count += self._purge("smsserver_calls", "call_date < ?", (local_cutoff,))
        self._purge("mo_parts", "message_id IS NOT NULL AND received < ?", (cutoff,))
        self._purge("door_parts", "done = 1 AND created < ?", (cutoff,))
        self._purge("tasks", "created < ? AND NOT EXISTS (SELECT 1 FROM smsserver_out o WHERE o.task_id = tasks.id)",
                    (cutoff,))
        self._purge("submissions", "created < ? AND NOT EXISTS (SELECT 1 FROM smsserver_out o"
                    " WHERE o.id BETWEEN submissions.first_id AND submissions.last_id)", (cutoff,))
        self._reads.forget_purged()
        self._journal.purge(self._t.now() - older_than_days * 86400)
        dropped = self._outbox.expire_all(older_than_days * 86400)
        if dropped:
            log.warning("%d undelivered outbox item(s) older than %g days given up", dropped, older_than_days)
        return count

    def _purge(self, table: str, where: str, params: tuple[Any, ...]) -> int:
        count = 0
        while True:
            with write(self._db, durable=False):
                n = self._db.execute_sql(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT ?)",
                    (*params, _PURGE_BATCH)).rowcount
            count += n
            if n < _PURGE_BATCH:
                return count
