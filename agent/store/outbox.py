"""The outbox: events for the outside world, written with the data they report.

Everything that leaves the box (a webhook, an MQTT event) is first a row of
``outbox``, inserted in the same transaction as the data it reports, so an
event is never lost nor told before its data is committed.  The store is
given ``push_targets``: for each event kind, the names of the destinations
that want it; each event gets one row per such destination (none when no
destination wants its kind).  A destination's rows are delivered in id
order and deleted once acknowledged (:meth:`Outbox.done`), retried later
(:meth:`Outbox.retry`), or given up and counted per destination
(:meth:`Outbox.expire`, :meth:`Outbox.trim`, :meth:`Outbox.drop`; the count survives
restarts).

Kinds and their payloads (JSON objects; ``at`` and the other dates are local
time ``'YYYY-MM-DD HH:MM:SS'`` in the store's time zone):

``result`` -- a message's sending ended (never for a retry):
    ``{"message_id": int, "task_id": int|null, "sub_task": str|null,
    "recipient": str, "line": str|null, "status": "sent"|"failed",
    "error_code": int|null, "failure_cause": str|null, "client_ref": str|null,
    "in_doubt": bool, "status_report": bool (a report was asked for), "at": str}``.
    Written for an outcome sent, failed or
    given up, for a message expired before a line took it (failure_cause
    EXPIRED), and for a row the router failed before sending (BAD_FORMAT...).
``receipt`` -- status reports made a message's delivery final:
    ``{"message_id", "task_id", "sub_task", "recipient", "line", "client_ref",
    "delivered": bool, "status": int (TP-Status of the report that completed
    it), "status_report": bool, "at": str (when delivered, per the SMSC, else
    when the report came)}``.
    One per message when its delivery becomes final (every part has a final
    report) or changes; a "still trying" report or the report of one part of
    several writes none.
``mo`` -- a received SMS stored as a complete ``smsserver_in`` row of type 'I'
    (one part, a long message completed, or flushed with gaps, or an
    undecodable PDU kept raw): ``{"id": int, "line": str, "originator": str,
    "text": str, "encoding": "7"|"8"|"U", "message_date": str,
    "receive_date": str, "parts": int, "error": str|null, "number": str (the
    line's own number, '' when unknown)}``.
``call`` -- an incoming call recorded: ``{"id": int, "line": str,
    "caller": str, "at": str, "rings": int}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from peewee import SqliteDatabase

from .db import write
from .journal import JOURNAL_KINDS, Journal
from .records import OutboxItem
from .times import LocalTime

log = logging.getLogger(__name__)

RESULT = "result"
RECEIPT = "receipt"
MO = "mo"
CALL = "call"
KINDS = (RESULT, RECEIPT, MO, CALL)

_CHUNK = 500
_MAX_ID = 2 ** 63 - 1


class Outbox:
    """The outbox queries, ``store.outbox`` of :class:`agent.store.queue.Store`.

    ``targets`` maps a kind to the destinations that want it; raise
    ValueError for an unknown kind or an empty destination name."""

    def __init__(self, db: SqliteDatabase, times: LocalTime, targets: Mapping[str, Collection[str]],
                 journal: Journal | None = None) -> None:
        unknown = set(targets) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown outbox event kind(s) {sorted(unknown)}: expected some of {list(KINDS)}")
        if any(not name for names in targets.values() for name in names):
            raise ValueError("an outbox destination needs a name")
        self._db = db
        self._t = times
        self._targets = {kind: tuple(dict.fromkeys(names)) for kind, names in targets.items() if names}
        self._journal = journal

    # --- writing, inside the transaction of the data ------------------------------------

    def wants(self, kind: str) -> bool:
        """True when some destination (or the journal) wants events of ``kind``."""
        return kind in self._targets or (self._journal is not None and kind in JOURNAL_KINDS)

    def destinations(self) -> list[str]:
        """Every destination some kind is sent to, in configuration order."""
        return list(dict.fromkeys(name for names in self._targets.values() for name in names))

    def emit(self, kind: str, payload: dict[str, Any]) -> int:
        """Insert one row per destination wanting ``kind``, inside the caller's
        write transaction (so the event commits or rolls back with its data).
        Return how many outbox rows were written.  Kinds of
        :data:`~agent.store.journal.JOURNAL_KINDS` also go to the journal."""
        names = self._targets.get(kind, ())
        journaled = self._journal is not None and kind in JOURNAL_KINDS
        if not names and not journaled:
            return 0
        now = self._t.now()
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if journaled:
            assert self._journal is not None
            self._journal.append(kind, payload, text, now)
        if not names:
            return 0
        self._db.cursor().executemany(
            "INSERT INTO outbox (destination, kind, payload, created, next_attempt) VALUES (?, ?, ?, ?, ?)",
            [(name, kind, text, now, now) for name in names])
        return len(names)

    def emit_result(self, message_id: int, at: str) -> None:
        """Emit the ``result`` of message ``message_id`` as its row now stands
        ('S' is sent, anything else failed); inside the caller's transaction."""
        if not self.wants(RESULT):
            return
        row = self._db.execute_sql(
            "SELECT task_id, sub_task, recipient, line, status, error_code, failure_cause, client_ref, in_doubt,"
            " status_report FROM smsserver_out WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return
        task_id, sub_task, recipient, line, status, error_code, cause, client_ref, in_doubt, report = row
        self.emit(RESULT, {
            "message_id": message_id, "task_id": task_id, "sub_task": sub_task, "recipient": recipient,
            "line": line, "status": "sent" if status == "S" else "failed",
            "error_code": error_code if status != "S" else None, "failure_cause": cause if status != "S" else None,
            "client_ref": client_ref, "in_doubt": bool(in_doubt), "status_report": bool(report), "at": at})

    # --- delivery ---------------------------------------------------------------------

    def next(self, destination: str, limit: int = 50) -> list[OutboxItem]:
        """Return up to ``limit`` of ``destination``'s items in id order, stopping
        before the first one not yet due (its ``next_attempt`` is after now):
        a later item never overtakes an earlier one waiting for its retry."""
        now = self._t.now()
        rows = self._db.execute_sql(
            "SELECT id, destination, kind, payload, created, attempts, next_attempt, last_error FROM outbox"
            " WHERE destination = ? ORDER BY id LIMIT ?", (destination, limit)).fetchall()
        items = []
        for id_, dest, kind, payload, created, attempts, next_attempt, error in rows:
            if next_attempt > now:
                break
            items.append(OutboxItem(id_, dest, kind, _load(payload), created, attempts, next_attempt, error))
        return items

    def after(self, destination: str, after_id: int, limit: int = 50, *, upto: int | None = None) -> list[OutboxItem]:
        """Return up to ``limit`` of ``destination``'s items with ``after_id`` < id
        (<= ``upto`` when given), in id order, whatever their ``next_attempt``:
        for a consumer that keeps its own cursor and retry times (MQTT)."""
        rows = self._db.execute_sql(
            "SELECT id, destination, kind, payload, created, attempts, next_attempt, last_error FROM outbox"
            " WHERE destination = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
            (destination, after_id, _MAX_ID if upto is None else upto, limit)).fetchall()
        return [OutboxItem(id_, dest, kind, _load(payload), created, attempts, next_attempt, error)
                for id_, dest, kind, payload, created, attempts, next_attempt, error in rows]

    def last_id(self, destination: str) -> int:
        """Return the id of ``destination``'s newest item, 0 when it has none."""
        row = self._db.execute_sql("SELECT MAX(id) FROM outbox WHERE destination = ?", (destination,)).fetchone()
        return int(row[0] or 0)

    def next_attempt(self, destination: str) -> float | None:
        """Return the ``next_attempt`` epoch of ``destination``'s first item, or None when it has none."""
        row = self._db.execute_sql("SELECT next_attempt FROM outbox WHERE destination = ? ORDER BY id LIMIT 1",
                                   (destination,)).fetchone()
        return None if row is None else float(row[0])

    def done(self, ids: Sequence[int]) -> int:
        """Delete delivered items; return how many were there.  synchronous=NORMAL:
        after a power cut an item may be delivered again (at least once)."""
        return self._delete(ids)

    def retry(self, id: int, next_attempt: float, error: str) -> None:
        """Record a failed delivery of item ``id``: attempts + 1, due again at
        ``next_attempt`` (epoch), ``error`` kept as its last error."""
        with write(self._db, durable=False):
            self._db.execute_sql("UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ?"
                                 " WHERE id = ?", (next_attempt, error[:1000], id))

    def drop(self, ids: Sequence[int], reason: str) -> int:
        """Give items up (e.g. no request could be made of them): delete them and
        count them in their destination's dropped counter; return how many."""
        counts: dict[str, int] = {}
        with write(self._db, durable=False):
            for chunk in _chunks(ids):
                for (destination,) in self._db.execute_sql(
                        f"SELECT destination FROM outbox WHERE id IN ({_marks(chunk)})", chunk).fetchall():
                    counts[destination] = counts.get(destination, 0) + 1
            self._delete(ids)
            for destination, n in counts.items():
                self._count_dropped(destination, n)
        total = sum(counts.values())
        if total:
            log.warning("%d outbox item(s) given up: %s", total, reason)
        return total

    def expire(self, destination: str, max_age_seconds: float) -> int:
        """Give up ``destination``'s items created more than ``max_age_seconds``
        ago: delete them and count them; return how many."""
        cutoff = self._t.now() - max_age_seconds
        with write(self._db, durable=False):
            n = self._db.execute_sql("DELETE FROM outbox WHERE destination = ? AND created < ?",
                                     (destination, cutoff)).rowcount
            if n:
                self._count_dropped(destination, n)
        return n

    def trim(self, destination: str, max_items: int) -> int:
        """Bound ``destination``'s items to ``max_items``: give up (delete and
        count) the oldest beyond that; return how many."""
        with write(self._db, durable=False):
            row = self._db.execute_sql("SELECT id FROM outbox WHERE destination = ? ORDER BY id DESC"
                                       " LIMIT 1 OFFSET ?", (destination, max(max_items, 0))).fetchone()
            if row is None:
                return 0
            n = self._db.execute_sql("DELETE FROM outbox WHERE destination = ? AND id <= ?",
                                     (destination, row[0])).rowcount
            if n:
                self._count_dropped(destination, n)
        return n

    def expire_all(self, max_age_seconds: float) -> int:
        """:meth:`expire` for every destination with items (also those no longer configured)."""
        destinations = [r[0] for r in self._db.execute_sql("SELECT DISTINCT destination FROM outbox").fetchall()]
        return sum(self.expire(d, max_age_seconds) for d in destinations)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Return, per destination (configured or holding items or counted):
        ``{'pending': n, 'dropped': n, 'oldest': epoch of the oldest item or None}``."""
        out = {name: {"pending": 0, "dropped": 0, "oldest": None} for name in self.destinations()}
        for destination, pending, oldest in self._db.execute_sql(
                "SELECT destination, COUNT(*), MIN(created) FROM outbox GROUP BY destination"):
            out.setdefault(destination, {"pending": 0, "dropped": 0, "oldest": None}).update(
                pending=pending, oldest=oldest)
        for destination, dropped in self._db.execute_sql("SELECT destination, dropped FROM outbox_dropped"):
            out.setdefault(destination, {"pending": 0, "dropped": 0, "oldest": None})["dropped"] = dropped
        return out

    # --- helpers ------------------------------------------------------------------------

    def _delete(self, ids: Sequence[int]) -> int:
        n = 0
        with write(self._db, durable=False):
            for chunk in _chunks(ids):
                n += self._db.execute_sql(f"DELETE FROM outbox WHERE id IN ({_marks(chunk)})", chunk).rowcount
        return n

    def _count_dropped(self, destination: str, n: int) -> None:
        self._db.execute_sql(
            "INSERT INTO outbox_dropped (destination, dropped, updated) VALUES (?, ?, ?)"
            " ON CONFLICT (destination) DO UPDATE SET dropped = dropped + excluded.dropped,"
            " updated = excluded.updated", (destination, n, self._t.now()))


def _load(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {"unreadable": payload}  # handed on; the consumer decides (and may give up)
    return data if isinstance(data, dict) else {"unreadable": payload}


def _chunks(ids: Iterable[int]) -> Iterable[tuple[int, ...]]:
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        yield tuple(ids[start:start + _CHUNK])


def _marks(chunk: Sequence[Any]) -> str:
    return ", ".join("?" * len(chunk))
