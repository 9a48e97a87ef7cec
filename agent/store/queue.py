"""The durable store: the SQLite file, a submission, and the parts that do the rest.

:class:`Store` is the only door to the SQLite file (see :mod:`agent.store.db`
for the file, the schema and the transactions).  It is shared by threads:
each thread gets its own connection, write transactions are short and take
the write lock at once, and the busy timeout covers contention with the other
threads, the CLI and applications writing ``smsserver_out`` with plain SQL.

The store does its own work (opening the file, a submission over several
tables, the queue's rows as a whole: expiry, crash recovery, depths, a
message by id or task, the purge) and hands out its parts, read-only, for the
rest: ``store.dispatch`` the router's side (:mod:`agent.store.dispatch`),
``store.sims`` quotas and line snapshots (:mod:`agent.store.sims`),
``store.inbox`` the receive side (:mod:`agent.store.inbox`), ``store.reads``
per-consumer reading of what was received (:mod:`agent.store.reads`),
``store.outbox`` events for the outside world, written in the transaction of
the data they report (:mod:`agent.store.outbox`), ``store.journal`` their copy
for the pull dialects, read per consumer (:mod:`agent.store.journal`), and
``store.status`` the status page's reads (:mod:`agent.store.status`), ``store.doors``
the binary doors' parts and tasks (:mod:`agent.store.doors`); the purge
of old data is in :mod:`agent.store.housekeeping`.

Durability, per method: a submission (:meth:`Store.enqueue`), the move to 'Q'
(:meth:`Dispatch.mark_queued`) and everything received (:meth:`Inbox.store_sms`,
:meth:`Inbox.store_report`, :meth:`Inbox.store_call`) are committed with
synchronous=FULL before the method returns.  Bookkeeping (outcomes, line
snapshots, expiry, counters) commits with synchronous=NORMAL: the database
stays consistent after a power cut but the last of those may be lost, which
crash recovery (:meth:`Store.requeue_in_flight`) covers.

Time: DATETIME columns hold local time in the configured zone as text
(:mod:`agent.store.times`); epochs (REAL) come from the injected clock.

Idempotent submissions: a submission with a ``client_ref`` records
(source, client_ref) -> its task, id range and content digest in ``submissions``
(UNIQUE), in the transaction that inserts its rows; a later submission with the
same pair finds it inside its own ``BEGIN IMMEDIATE`` transaction (the write lock
serialises racing twins) and gets the first answer back, or DuplicateRequest
when it carries other content.  The key lives as long as a row of its submission.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

from peewee import OperationalError

from ..errors import DuplicateRequest, StoreError
from ..model import EXPIRED, Accepted, NewMessage
from .db import migrate, open_database, prepare_file, write
from .dispatch import Dispatch, count_parts
from .doors import Doors
from .inbox import Inbox
from .housekeeping import Housekeeping
from .journal import Journal, JournalItem
from .outbox import KINDS, Outbox
from .reads import Reads
from .records import Assignment, OutboxItem, Outcome, SimCounters, fingerprint
from .sims import Sims
from .status import StatusQueries
from .times import LocalTime

__all__ = ["KINDS", "Assignment", "JournalItem", "OutboxItem", "Outcome", "SimCounters",
           "Store"]

log = logging.getLogger(__name__)

_OUT_INSERT = (
    "INSERT INTO smsserver_out (type, recipient, text, originator, encoding, status_report, flash_sms, priority,"
    " status, gateway_id, user_id, create_date, task_id, sub_task, client_ref, provider, requested_gateway, parts,"
    " scheduled, expires, updated) VALUES ('O', ?, ?, ?, ?, ?, ?, ?, 'U', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_CHUNK = 500


class Store:
    """The agent's database.  ``path`` is the SQLite file; ``timezone`` the zone of
    the DATETIME columns and of the quota day (None: the system's local time);
    ``clock`` returns epoch seconds; texts needing more than ``max_parts``
    parts fail with BAD_FORMAT.  ``push_targets`` maps an event kind
    (:data:`agent.store.outbox.KINDS`) to the destinations that want it; raise
    ValueError for an unknown kind."""

    def __init__(self, path: str | Path, *, timezone: tzinfo | None = None,
                 clock: Callable[[], float] = time.time, max_parts: int = 255,
                 push_targets: Mapping[str, Collection[str]] = MappingProxyType({})) -> None:
        self.path = Path(path)
        self._t = LocalTime(timezone, clock)
        self._db = open_database(self.path)
        self._max_parts = max_parts
        self._journal = Journal(self._db)
        self._outbox = Outbox(self._db, self._t, push_targets, self._journal)
        self._dispatch = Dispatch(self._db, self._t, self._outbox, max_parts=max_parts)
        self._sims = Sims(self._db, self._t)
        self._inbox = Inbox(self._db, self._t, self._outbox)
        self._reads = Reads(self._db)
        self._status = StatusQueries(self._db, self._t)
        self._doors = Doors(self._db, self._t, self.enqueue)

    @property
    def dispatch(self) -> Dispatch:
        """The router's side: candidates, the move to 'Q', outcomes, parts sent and stored."""
        return self._dispatch

    @property
    def sims(self) -> Sims:
        """SIM quota counters, operator overrides per line, and the line snapshots."""
        return self._sims

    @property
    def inbox(self) -> Inbox:
        """The receive side: received SMS (reassembled), status reports, calls."""
        return self._inbox

    @property
    def reads(self) -> Reads:
        """Received messages read per consumer, each message once."""
        return self._reads

    @property
    def outbox(self) -> Outbox:
        """Events waiting to leave the box, per destination, until acknowledged."""
        return self._outbox

    @property
    def journal(self) -> Journal:
        """Delivery outcomes and received messages, read per consumer by the pull dialects."""
        return self._journal

    @property
    def status(self) -> StatusQueries:
        """The status page's reads (recent traffic, today's counts per line, the health check)."""
        return self._status

    @property
    def doors(self) -> Doors:
        """The binary doors' side: parts a client split itself, and the tasks door ids are made of."""
        return self._doors

    def open(self) -> None:
        """Create or migrate the schema (idempotent).  Raise StoreError naming the
        file when it cannot be opened or its schema is newer than this agent."""
        try:
            prepare_file(self.path)
        except OSError as exc:
            raise StoreError(f"cannot create the database {self.path}: {exc.strerror or exc}") from None
        try:
            migrate(self._db, now=self._t.now())
        except OperationalError as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the calling thread's connection (other threads' connections are
        closed when their threads end).  The store reopens on next use."""
        self._db.close()

    # --- submissions --------------------------------------------------------------------

    def enqueue(self, messages: Sequence[NewMessage], *, task: bool = False, source: str = "",
                client_ref: str = "", task_id: int | None = None) -> Accepted:
        """Given messages (one per recipient), store them as 'U' rows in one
        transaction committed with synchronous=FULL, so the caller may
        acknowledge them once this returns; their ids are consecutive.  With
        ``task`` a ``tasks`` row is made (its id is the GoIP taskID) and each row
        gets ``task_id`` and ``sub_task`` = ``f"{task_id}.{recipient}"``.
        A text that cannot be sent in its encoding is accepted with parts NULL
        and fails (BAD_FORMAT) when the router first sees it.
        With a ``client_ref`` that ``source`` used before, insert nothing and
        return the first submission's Accepted with ``duplicate`` set when the
        messages are the same (:func:`records.fingerprint`; a submission stored
        without one counts as the same), else raise DuplicateRequest (checked
        inside the same transaction, so racing twins make one submission).
        ``task_id``: the rows join that task, made before (a message whose
        parts a binary door received one by one, :mod:`agent.store.doors`);
        inside a caller's transaction the rows commit with it.
        Raise ValueError when there is no message, or one has no recipient or
        an encoding other than '7', '8' or 'U'."""
        if not messages:
            raise ValueError("nothing to enqueue")
        now = self._t.now()
        created = self._t.text(now)
        memo: dict[tuple[str, str], int | None] = {}
        rows = []
        for m in messages:
            if not m.recipient or m.encoding not in ("7", "8", "U"):
                raise ValueError(f"message to {m.recipient!r}: recipient and encoding '7', '8' or 'U' are needed")
            parts = m.parts
            if parts is None:
                key = (m.text, m.encoding)
                if key not in memo:  # a group send repeats one text: count it once
                    memo[key] = count_parts(m.text, m.encoding, self._max_parts)
                parts = memo[key]
            rows.append([m.recipient, m.text, m.originator, m.encoding, int(m.status_report), int(m.flash),
                         m.priority, m.gateway or "*", m.user_id or None, created, None, None, m.client_ref or None,
                         m.provider, m.gateway or "*", parts,
                         self._t.text(m.scheduled) if m.scheduled else None,
                         self._t.text(m.expires) if m.expires else None, now])
        refs = {m.client_ref for m in messages}
        # What is sent, not when it was asked: every stored value but the times, task and part count.
        digest = fingerprint([*r[:9], *r[12:14], *r[16:18]] for r in rows) if client_ref else None
        with write(self._db, durable=True):
            if client_ref:
                seen = self._db.execute_sql("SELECT task_id, first_id, last_id, fingerprint FROM submissions"
                                            " WHERE source = ? AND client_ref = ?", (source, client_ref)).fetchone()
                if seen is not None:
                    ids = list(range(seen[1], seen[2] + 1))
                    if seen[3] is not None and seen[3] != digest:
                        raise DuplicateRequest(source, client_ref, seen[0], ids)
                    log.info("submission %r from %s seen before: answered with ids %d-%d", client_ref,
                             source or "?", seen[1], seen[2])
                    return Accepted(ids, seen[0], duplicate=True)
            if task_id is not None:
                self._db.execute_sql("UPDATE tasks SET count = count + ? WHERE id = ?", (len(rows), task_id))
            elif task:
                task_id = self._db.execute_sql(
                    "INSERT INTO tasks (created, source, client_ref, count) VALUES (?, ?, ?, ?)",
                    (now, source, client_ref or (refs.pop() if len(refs) == 1 else ""), len(rows))).lastrowid
            if task_id is not None:
                for row, m in zip(rows, messages):
                    row[10], row[11] = task_id, f"{task_id}.{m.recipient}"
            self._db.cursor().executemany(_OUT_INSERT, rows)
            last = self._db.execute_sql("SELECT last_insert_rowid()").fetchone()[0]
            if client_ref:
                self._db.execute_sql("INSERT INTO submissions (source, client_ref, task_id, first_id, last_id, created,"
                                     " fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (source, client_ref, task_id, last - len(rows) + 1, last, now, digest))
        log.debug("enqueued %d message(s) from %s, ids %d-%d", len(rows), source or "?", last - len(rows) + 1, last)
        return Accepted(list(range(last - len(rows) + 1, last + 1)), task_id, created=now)

    def data_version(self) -> int:
        """Return ``PRAGMA data_version`` of the calling thread's own connection:
        it changes when another connection (another thread, the CLI, an
        application's SQL) has committed since the last call, so polling it is cheap."""
        return int(self._db.execute_sql("PRAGMA data_version").fetchone()[0])

    # --- the queue's rows as a whole -------------------------------------------------------

    def expire(self, ids: Sequence[int], *, cause: str = EXPIRED) -> int:
        """Fail the given messages that are still waiting ('U' -> 'F') with
        failure_cause ``cause``, each with its ``result`` event; return how many were."""
        now, count = self._t.now(), 0
        with write(self._db, durable=False):
            for start in range(0, len(ids), _CHUNK):
                chunk = list(ids[start:start + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                waiting = [r[0] for r in self._db.execute_sql(
                    f"SELECT id FROM smsserver_out WHERE status = 'U' AND id IN ({marks})", chunk).fetchall()]
                count += self._db.execute_sql(
                    "UPDATE smsserver_out SET status = 'F', failure_cause = ?, updated = ?"
                    f" WHERE status = 'U' AND id IN ({marks})", (cause, now, *chunk)).rowcount
                for id_ in waiting:
                    self._outbox.emit_result(id_, self._t.text(now))
        return count

    def requeue_in_flight(self, *, keep_lines: Collection[str] = (), before: float | None = None) -> int:
        """Crash recovery: every 'Q' row (the agent stopped while a line had it)
        goes back to 'U' flagged ``in_doubt`` (it may have been sent), with its
        requested gateway restored.  Its quota reservation stays counted, since
        its parts may have left.  Rows whose parts are in the storage of a
        line of ``keep_lines`` (send_mode = store) stay 'Q': that line settles
        them from the modem's memory when it connects (:meth:`Dispatch.unresolved`).
        ``before``: only rows last changed before this epoch (leftovers of an
        earlier run, not this run's sends).  Return how many rows were requeued."""
        keep = list(keep_lines)
        sql = ("UPDATE smsserver_out SET status = 'U', in_doubt = 1, gateway_id = requested_gateway,"
               " quota_day = NULL, updated = ? WHERE status = 'Q'")
        params: list[Any] = [self._t.now()]
        if keep:
            sql += f" AND NOT (stored IS NOT NULL AND line IN ({', '.join('?' * len(keep))}))"
            params += keep
        if before is not None:
            sql += " AND updated < ?"
            params.append(before)
        with write(self._db, durable=True):
            return self._db.execute_sql(sql, tuple(params)).rowcount

    def awaiting_lines(self) -> int:
        """How many rows wait 'Q' for their line to settle them from its modem's memory."""
        return int(self._db.execute_sql(
            "SELECT COUNT(*) FROM smsserver_out WHERE status = 'Q' AND stored IS NOT NULL").fetchone()[0])

    def message(self, id: int) -> dict[str, Any] | None:
        """Return the ``smsserver_out`` row ``id`` as a dict, or None."""
        rows = self._rows("SELECT * FROM smsserver_out WHERE id = ?", (id,))
        return rows[0] if rows else None

    def messages_by_task(self, task_id: int) -> list[dict[str, Any]]:
        """Return the rows of a task, by id (empty for an unknown task)."""
        return self._rows("SELECT * FROM smsserver_out WHERE task_id = ? ORDER BY id", (task_id,))

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        cur = self._db.execute_sql(sql, params)
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row)) for row in cur.fetchall()]

    def queue_depths(self) -> dict[str, int]:
        """Return row counts by status 'U', 'Q', 'S', 'F', and 'sent_today' /
        'failed_today' (since local midnight)."""
        depths = dict.fromkeys(("U", "Q", "S", "F"), 0)
        for status, n in self._db.execute_sql("SELECT status, COUNT(*) FROM smsserver_out GROUP BY status"):
            depths[status] = n
        midnight = self._t.midnight()
        depths["sent_today"] = self._db.execute_sql(
            "SELECT COUNT(*) FROM smsserver_out WHERE sent_date >= ? AND status = 'S'",
            (self._t.text(midnight),)).fetchone()[0]
        depths["failed_today"] = self._db.execute_sql(
            "SELECT COUNT(*) FROM smsserver_out WHERE updated >= ? AND status = 'F'", (midnight,)).fetchone()[0]
        return depths

    # --- housekeeping --------------------------------------------------------------------

    def purge(self, older_than_days: float) -> int:
        """Delete what is older than ``older_than_days`` from every part's tables, in
        small transactions (:meth:`agent.store.housekeeping.Housekeeping.purge` says
        what goes); return how many messages, received rows and calls went."""
        return Housekeeping(self._db, self._t, self._reads, self._journal, self._outbox).purge(older_than_days)

