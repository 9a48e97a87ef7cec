"""A sent message's delivery, worked out from the status reports of its parts.

Parts and reports can be recorded in any order: a line records each part as
soon as the network accepted it (:func:`record_part`), the router records the
outcome of the whole message later, and a status report may come in between,
before the message is ``S``.  So the delivery is settled (:func:`settle`)
both when a report is stored and when the message becomes ``S``, from what
the parts hold at that moment, and only once the message is ``S``:

* ``failed`` as soon as one part has a final failure (TP-Status 0x40-0x7F);
* ``delivered`` once every part has a final success (0x00-0x1F);
* ``pending`` while some part has a report but the message is not final yet.

A final delivery never changes again (a late or repeated report cannot undo
it), and its ``receipt`` event is written exactly once, in the transaction
that made it final, after the message's ``result`` (so every consumer hears
"sent" before "delivered").  Every function runs inside the caller's write
transaction.
"""

from __future__ import annotations

from peewee import SqliteDatabase

from .outbox import RECEIPT, Outbox
from .times import LocalTime

DELIVERED = "delivered"
FAILED = "failed"
PENDING = "pending"


def final(status: int | None) -> bool:
    """A TP-Status is final unless the SMSC is still trying (0x20-0x3F)."""
    return status is not None and not 0x20 <= status < 0x40


def record_part(db: SqliteDatabase, message_id: int, seq: int, line: str, reference: int | None, now: float) -> bool:
    """Record that part ``seq`` of a message being sent ('Q') left on ``line`` with
    TP-MR ``reference`` (None: unknown).  A part recorded before is left as it is
    (with any report it has).  Return True when a row was written."""
    cur = db.execute_sql(
        "INSERT OR IGNORE INTO sent_parts (message_id, seq, line, reference, sent_at)"
        " SELECT id, ?, ?, ?, ? FROM smsserver_out WHERE id = ? AND status = 'Q'",
        (seq, line, reference, now, message_id))
    return cur.rowcount == 1


def settle(db: SqliteDatabase, outbox: Outbox, times: LocalTime, message_id: int, *, now: float,
           when: str | None = None) -> str | None:
    """Work out the delivery of message ``message_id`` from its parts and write it.

    ``when`` is the local time of the report that prompted this (its discharge
    time, else when it came); None takes the latest report's arrival.  Return
    the delivery that became final now (``delivered``/``failed``), else None.
    Nothing changes for a message that is not 'S' or whose delivery is final."""
    row = db.execute_sql("SELECT status, delivery FROM smsserver_out WHERE id = ?", (message_id,)).fetchone()
    if row is None or row[0] != "S" or row[1] in (DELIVERED, FAILED):
        return None
    parts = db.execute_sql("SELECT status, report_at FROM sent_parts WHERE message_id = ? ORDER BY seq",
                           (message_id,)).fetchall()
    statuses = [p[0] for p in parts]
    failures = [s for s in statuses if final(s) and s >= 0x40]
    if failures:
        delivery, status = FAILED, failures[0]
    elif statuses and all(final(s) for s in statuses):
        delivery, status = DELIVERED, statuses[-1]
    elif any(s is not None for s in statuses):
        delivery, status = PENDING, None
    else:
        return None
    if delivery == PENDING:
        if row[1] != PENDING:
            db.execute_sql("UPDATE smsserver_out SET delivery = ?, updated = ? WHERE id = ?", (PENDING, now, message_id))
        return None
    if when is None:
        latest = max((p[1] for p in parts if p[1] is not None), default=now)
        when = times.text(latest)
    db.execute_sql("UPDATE smsserver_out SET delivery = ?, delivered_date = ?, updated = ? WHERE id = ?",
                   (delivery, when, now, message_id))
    _emit_receipt(db, outbox, message_id, delivery == DELIVERED, status, when)
    return delivery


def _emit_receipt(db: SqliteDatabase, outbox: Outbox, message_id: int, delivered: bool, status: int | None,
                  at: str) -> None:
    if not outbox.wants(RECEIPT):
        return
    task_id, sub_task, recipient, line, client_ref, wanted = db.execute_sql(
        "SELECT task_id, sub_task, recipient, line, client_ref, status_report FROM smsserver_out WHERE id = ?",
        (message_id,)).fetchone()
    outbox.emit(RECEIPT, {"message_id": message_id, "task_id": task_id, "sub_task": sub_task,
                          "recipient": recipient, "line": line, "client_ref": client_ref,
                          "delivered": delivered, "status": status, "status_report": bool(wanted), "at": at})
