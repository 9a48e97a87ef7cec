"""The durable store: every query the rest of the agent needs.

:class:`Store` is the only door to the SQLite file (see :mod:`agent.store.db`
for the file, the schema and the transactions).  It is shared by threads:
each thread gets its own connection, write transactions are short and take
the write lock at once, and the busy timeout covers contention with the other
threads, the CLI and applications writing ``smsserver_out`` with plain SQL.

Durability, per method: a submission (:meth:`Store.enqueue`), the move to 'Q'
(:meth:`Store.mark_queued`) and everything received (:meth:`Store.store_sms`,
:meth:`Store.store_report`, :meth:`Store.store_call`) are committed with
synchronous=FULL before the method returns.  Bookkeeping (outcomes, line
snapshots, expiry, counters) commits with synchronous=NORMAL: the database
stays consistent after a power cut but the last of those may be lost, which
crash recovery (:meth:`Store.requeue_in_flight`) covers.

Time: DATETIME columns hold local time in the configured zone as text
(:mod:`agent.store.times`); epochs (REAL) come from the injected clock.
The router side lives in :mod:`agent.store.dispatch`, quotas and line
snapshots in :mod:`agent.store.sims`, the receive side in :mod:`agent.store.inbox`,
per-consumer reading in :mod:`agent.store.reads`, events for the outside world
(written in the transaction of the data they report) in :mod:`agent.store.outbox`,
and their copy for the pull dialects, read per consumer, in :mod:`agent.store.journal`;
the purge of old data in :mod:`agent.store.housekeeping`.

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
from ..model import EXPIRED, Accepted, CallRecord, DeliveryReport, IncomingSms, LineState, NewMessage
from ..routing import Candidate
from . import models
from .db import migrate, open_database, write
from .dispatch import Dispatch, count_parts
from .inbox import DEFAULT_WINDOW_HOURS, Inbox
from .housekeeping import Housekeeping
from .journal import Journal, JournalItem
from .outbox import KINDS, Outbox
from .reads import Reads
from .records import Assignment, OutboxItem, Outcome, SimCounters, fingerprint
from .sims import Sims
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
        self._m = models.bind(self._db)
        self._max_parts = max_parts
        self._journal = Journal(self._db)
        self._outbox = Outbox(self._db, self._t, push_targets, self._journal)
        self._dispatch = Dispatch(self._db, self._t, self._outbox, max_parts=max_parts)
        self._sims = Sims(self._db, self._m, self._t)
        self._inbox = Inbox(self._db, self._t, self._outbox)
        self._reads = Reads(self._db)

    def open(self) -> None:
        """Create or migrate the schema (idempotent).  Raise StoreError naming the
        file when it cannot be opened or its schema is newer than this agent."""
        try:
            migrate(self._db, now=self._t.now())
        except OperationalError as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the calling thread's connection (other threads' connections are
        closed when their threads end).  The store reopens on next use."""
        self._db.close()

    # --- submissions ------------------------------------------------------------------

    def enqueue(self, messages: Sequence[NewMessage], *, task: bool = False, source: str = "",
                client_ref: str = "") -> Accepted:
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
            task_id = None
            if task:
                task_id = self._db.execute_sql(
                    "INSERT INTO tasks (created, source, client_ref, count) VALUES (?, ?, ?, ?)",
                    (now, source, client_ref or (refs.pop() if len(refs) == 1 else ""), len(rows))).lastrowid
                for row, m in zip(rows, messages):
                    row[10], row[11] = task_id, f"{task_id}.{m.recipient}"
            self._db.cursor().executemany(_OUT_INSERT, rows)
            last = self._db.execute_sql("SELECT last_insert_rowid()").fetchone()[0]
            if client_ref:
                self._db.execute_sql("INSERT INTO submissions (source, client_ref, task_id, first_id, last_id, created,"
                                     " fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (source, client_ref, task_id, last - len(rows) + 1, last, now, digest))
        log.debug("enqueued %d message(s) from %s, ids %d-%d", len(rows), source or "?", last - len(rows) + 1, last)
        return Accepted(list(range(last - len(rows) + 1, last + 1)), task_id)

    def data_version(self) -> int:
        """Return ``PRAGMA data_version`` of the calling thread's own connection:
        it changes when another connection (another thread, the CLI, an
        application's SQL) has committed since the last call, so polling it is cheap."""
        return int(self._db.execute_sql("PRAGMA data_version").fetchone()[0])

    # --- router side (agent.store.dispatch) ----------------------------------------------

    def candidates(self, *, now: float, lines: Collection[str], providers: Collection[str],
                   limit: int = 200) -> list[Candidate]:
        return self._dispatch.candidates(now=now, lines=lines, providers=providers, limit=limit)

    def pending_wakeup(self, *, now: float) -> float | None:
        return self._dispatch.pending_wakeup(now=now)

    def mark_queued(self, assignments: Sequence[Assignment]) -> list[int]:
        return self._dispatch.mark_queued(assignments)

    def record_outcomes(self, outcomes: Sequence[Outcome], *, durable: bool = False) -> None:
        self._dispatch.record_outcomes(outcomes, durable=durable)

    def record_stored(self, message_id: int, locations: Sequence[str]) -> bool:
        return self._dispatch.record_stored(message_id, locations)

    def unresolved(self, line: str, *, before: float) -> list[tuple[int, list[str]]]:
        return self._dispatch.unresolved(line, before=before)

    candidates.__doc__ = Dispatch.candidates.__doc__
    pending_wakeup.__doc__ = Dispatch.pending_wakeup.__doc__
    mark_queued.__doc__ = Dispatch.mark_queued.__doc__
    record_outcomes.__doc__ = Dispatch.record_outcomes.__doc__
    record_stored.__doc__ = Dispatch.record_stored.__doc__
    unresolved.__doc__ = Dispatch.unresolved.__doc__

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
        them from the modem's memory when it connects (:meth:`unresolved`).
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
        # Plain SQL: these serve every status query, where building a peewee query cost more than running it.
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

    # --- quotas and lines (agent.store.sims) ---------------------------------------------

    def sim_counters(self, iccids: Collection[str]) -> dict[str, SimCounters]:
        return self._sims.sim_counters(iccids)

    def reset_daily(self) -> int:
        return self._sims.reset_daily()

    def set_sim_counters(self, iccid: str, *, daily_sent: int | None = None, total_sent: int | None = None) -> None:
        self._sims.set_sim_counters(iccid, daily_sent=daily_sent, total_sent=total_sent)

    def set_line_limits(self, name: str, *, daily: int | None, total: int | None) -> None:
        self._sims.set_line_limits(name, daily=daily, total=total)

    def line_limits(self) -> dict[str, tuple[int | None, int | None]]:
        return self._sims.line_limits()

    def set_line_provider(self, name: str, provider: str | None) -> None:
        self._sims.set_line_provider(name, provider)

    def line_providers(self) -> dict[str, str]:
        return self._sims.line_providers()

    def update_line(self, state: LineState, *, provider: str = "") -> None:
        self._sims.update_line(state, provider=provider)

    def lines(self) -> list[dict[str, Any]]:
        return self._sims.lines()

    sim_counters.__doc__ = Sims.sim_counters.__doc__
    reset_daily.__doc__ = Sims.reset_daily.__doc__
    set_sim_counters.__doc__ = Sims.set_sim_counters.__doc__
    update_line.__doc__ = Sims.update_line.__doc__
    lines.__doc__ = Sims.lines.__doc__

    # --- receive side (agent.store.inbox) -------------------------------------------------

    def store_sms(self, sms: IncomingSms, *, window_hours: float = DEFAULT_WINDOW_HOURS) -> int | None:
        return self._inbox.store_sms(sms, window_hours=window_hours)

    def store_report(self, report: DeliveryReport, *, window_hours: float = DEFAULT_WINDOW_HOURS) -> int | None:
        return self._inbox.store_report(report, window_hours=window_hours)

    def record_part(self, message_id: int, seq: int, line: str, reference: int | None) -> bool:
        return self._dispatch.record_part(message_id, seq, line, reference)

    def flush_stale_parts(self, older_than_seconds: float) -> int:
        return self._inbox.flush_stale_parts(older_than_seconds)

    def store_call(self, call: CallRecord) -> int:
        return self._inbox.store_call(call)

    store_sms.__doc__ = Inbox.store_sms.__doc__
    store_report.__doc__ = Inbox.store_report.__doc__
    record_part.__doc__ = Dispatch.record_part.__doc__
    flush_stale_parts.__doc__ = Inbox.flush_stale_parts.__doc__
    store_call.__doc__ = Inbox.store_call.__doc__

    def read_inbox(self, consumer: str, *, line: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        return self._reads.read_inbox(consumer, line=line, limit=limit)

    read_inbox.__doc__ = Reads.read_inbox.__doc__

    # --- outbox (agent.store.outbox) -------------------------------------------------------

    def outbox_next(self, destination: str, limit: int = 50) -> list[OutboxItem]:
        return self._outbox.next(destination, limit)

    def outbox_next_attempt(self, destination: str) -> float | None:
        return self._outbox.next_attempt(destination)

    def outbox_done(self, ids: Sequence[int]) -> int:
        return self._outbox.done(ids)

    def outbox_retry(self, id: int, next_attempt: float, error: str) -> None:
        self._outbox.retry(id, next_attempt, error)

    def outbox_drop(self, ids: Sequence[int], reason: str) -> int:
        return self._outbox.drop(ids, reason)

    def outbox_expire(self, destination: str, max_age_seconds: float) -> int:
        return self._outbox.expire(destination, max_age_seconds)

    def outbox_stats(self) -> dict[str, dict[str, Any]]:
        return self._outbox.stats()

    outbox_next.__doc__ = Outbox.next.__doc__
    outbox_next_attempt.__doc__ = Outbox.next_attempt.__doc__
    outbox_done.__doc__ = Outbox.done.__doc__
    outbox_retry.__doc__ = Outbox.retry.__doc__
    outbox_drop.__doc__ = Outbox.drop.__doc__
    outbox_expire.__doc__ = Outbox.expire.__doc__
    outbox_stats.__doc__ = Outbox.stats.__doc__

    # --- housekeeping --------------------------------------------------------------------

    def purge(self, older_than_days: float) -> int:
        """See :meth:`agent.store.housekeeping.Housekeeping.purge`."""
        return Housekeeping(self._db, self._t, self._reads, self._journal, self._outbox).purge(older_than_days)

    # --- the status page (agent.store.status) ----------------------------------------------

    def _status_queries(self) -> Any:
        from .status import StatusQueries  # imported here so this section stays self-contained

        return StatusQueries(self._db, self._t)

    def recent_received(self, limit: int = 20) -> list[dict[str, Any]]:
        """See :meth:`agent.store.status.StatusQueries.recent_received`."""
        return self._status_queries().recent_received(limit)

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        """See :meth:`agent.store.status.StatusQueries.recent_failures`."""
        return self._status_queries().recent_failures(limit)

    def line_counts_today(self) -> dict[str, dict[str, int]]:
        """See :meth:`agent.store.status.StatusQueries.line_counts_today`."""
        return self._status_queries().line_counts_today()

    def writable(self, timeout: float = 2.0) -> str:
        """See :meth:`agent.store.status.StatusQueries.writable`."""
        return self._status_queries().writable(timeout)

    # --- the MQTT uplink's outbox cursor and bound (agent.store.outbox) -----------------------

    def outbox_after(self, destination: str, after_id: int, limit: int = 50, *,
                     upto: int | None = None) -> list[OutboxItem]:
        """See :meth:`agent.store.outbox.Outbox.after`."""
        return self._outbox.after(destination, after_id, limit, upto=upto)

    def outbox_last_id(self, destination: str) -> int:
        """See :meth:`agent.store.outbox.Outbox.last_id`."""
        return self._outbox.last_id(destination)

    def read_journal(self, consumer: str, kinds: Collection[str], *, limit: int = 500,
                     since: float | None = None, sent_results: bool = True) -> list[JournalItem]:
        """See :meth:`agent.store.journal.Journal.read`."""
        return self._journal.read(consumer, kinds, limit=limit, since=since, sent_results=sent_results)

    def outbox_trim(self, destination: str, max_items: int) -> int:
        """See :meth:`agent.store.outbox.Outbox.trim`."""
        return self._outbox.trim(destination, max_items)
