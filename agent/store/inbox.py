"""The receive side of the store: messages, parts, status reports and calls.

Called from the line workers' threads.  Every method commits with
synchronous=FULL before it returns, because the worker deletes the message
from the modem right after: what returned is on disk, what raised stays on
the SIM and is read again.

Decisions (Jindi's ``smsserver_in`` knows types ``I`` and ``S`` only):

* SMS-DELIVER, one part: type ``I``; ``encoding`` ``7``/``U``/``8`` from the
  PDU's alphabet (8-bit data is kept as its ISO-8859-1 reading, the PDU as is);
  ``message_date`` is the SCTS in local time.
* Concatenated parts wait in ``mo_parts``; the part that completes
  (line, sender, reference, total) makes one ``I`` row with the texts joined
  in sequence order and ``parts`` = total.  The parts rows stay, marked with
  that row's id (``message_id``), so a part read again after its message was
  assembled (the modem deletes only after we return) is recognised instead
  of starting a phantom message; :meth:`Store.purge` removes them later.
* De-duplication (a message read twice is stored once): parts by
  UNIQUE(line, sender, ref, total, seq, scts); whole messages by ``mo_key`` =
  ``line|sender|scts|ref|seq|total|digest`` where digest hashes the text, so
  two different messages from one sender in the same second are both kept;
  a message the line names itself (``IncomingSms.key``, a GoIP receive id,
  which the box resends until acknowledged) by ``line|key|<key>|digest``.
* Undecodable PDU: type ``I``, ``text`` '', ``encoding`` ``8``, the raw PDU
  in ``pdu`` and the decoder's words in ``error`` (never lost).
* SMS-SUBMIT found in the modem's storage (a draft or a copy of a sent
  message): type ``O`` (Jindi's /read calls it OUTBOUND), its destination in
  ``originator`` (the row's only address column), ``message_date`` = when read.
* Status report: type ``S``, ``originator`` = the recipient, ``text``
  ``delivered``/``pending``/``failed``, ``report_status`` the TP-Status,
  ``reference`` its TP-MR, ``message_id`` the matched outbound row and
  ``original_ref_no`` that row's ``ref_no`` (so it joins
  ``smsserver_out.ref_no`` even for a long message; the TP-MR when
  unmatched).  A report read twice is stored once.  An SMS-STATUS-REPORT
  read as a message is handled the same way.
* An incomplete long message older than the reassembly timeout becomes one
  ``I`` row with the parts present and ``…`` for each gap, ``error`` naming
  the missing parts (:meth:`Inbox.flush_stale_parts`).
* Events (:mod:`agent.store.outbox`), in the transaction of their row: ``mo``
  for each new complete ``I`` row (not for parts, duplicates or ``O`` rows),
  ``receipt`` when reports make a message's delivery final, ``call`` per call.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from peewee import SqliteDatabase

from ..codec.pdu import Deliver, StatusReport, Submit
from ..model import CallRecord, DeliveryReport, IncomingSms
from . import delivery
from .db import write
from .outbox import CALL, MO, Outbox
from .times import LocalTime

log = logging.getLogger(__name__)

ENCODING = {"gsm7": "7", "ucs2": "U", "8bit": "8"}
GAP = "…"
DEFAULT_WINDOW_HOURS = 72.0
_MATCH_SCAN = 50  # same (line, TP-MR) rows considered when preferring the report's recipient


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_final = delivery.final


def _word(status: int) -> str:
    return "pending" if not _final(status) else "delivered" if status < 0x20 else "failed"


def _same_number(a: str, b: str) -> bool:
    """True when two numbers agree on their national significant digits (at most 9)."""
    da, db_ = "".join(c for c in a if c.isdigit()), "".join(c for c in b if c.isdigit())
    n = min(len(da), len(db_), 9)
    return n > 0 and da[-n:] == db_[-n:] and (n >= 6 or da == db_)


class Inbox:
    """The receive-side queries, ``store.inbox`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime, outbox: Outbox) -> None:
        self._db = db
        self._t = times
        self._outbox = outbox

    # --- messages -------------------------------------------------------------------

    def store_sms(self, sms: IncomingSms, *, window_hours: float = DEFAULT_WINDOW_HOURS) -> int | None:
        """Given a message read from a line, store it durably (see the module doc).

        Return the id of the new ``smsserver_in`` row, or None when nothing new
        was stored: a duplicate, or a part whose message is still incomplete."""
        msg, line = sms.message, sms.line
        received = self._t.text(sms.received_at) if sms.received_at else self._t.text()
        base = {"gateway_id": line, "line": line, "receive_date": received, "pdu": sms.pdu}
        if msg is None:
            row = {**base, "type": "I", "originator": "", "encoding": "8", "text": "", "message_date": received,
                   "mo_key": f"{line}|undecodable|{_digest(sms.pdu.strip().upper())}",
                   "error": sms.error or "undecodable PDU"}
            log.warning("%s: undecodable PDU stored raw: %s", line, row["error"])
            with write(self._db, durable=True):
                return self._insert_mo(row)
        if isinstance(msg, StatusReport):
            report = DeliveryReport(line, msg.reference, msg.status, msg.recipient, msg.scts,
                                    msg.discharge_time, sms.pdu, sms.received_at)
            return self._report(report, window_hours)[1]
        if isinstance(msg, Submit):
            row = {**base, "type": "O", "originator": msg.recipient, "encoding": ENCODING[msg.encoding],
                   "text": msg.text, "message_date": received,
                   "mo_key": f"{line}|submit|{msg.recipient}|{msg.mr}|{_digest(sms.pdu.strip().upper())}"}
            with write(self._db, durable=True):
                return self._insert("smsserver_in", row)
        if msg.concat is None:
            scts = msg.scts.isoformat()
            key = (f"{line}|key|{sms.key}|{_digest(msg.text)}" if sms.key
                   else f"{line}|{msg.sender}|{scts}|-|1|1|{_digest(msg.text)}")
            row = {**base, "type": "I", "originator": msg.sender, "encoding": ENCODING[msg.encoding],
                   "text": msg.text, "message_date": self._t.text(msg.scts), "mo_key": key}
            with write(self._db, durable=True):
                return self._insert_mo(row)
        return self._store_part(sms, msg, received)

    def _store_part(self, sms: IncomingSms, msg: Deliver, received: str) -> int | None:
        assert msg.concat is not None
        c = msg.concat
        key = (sms.line, msg.sender, c.ref, c.total)
        with write(self._db, durable=True):
            cur = self._db.execute_sql(
                "INSERT OR IGNORE INTO mo_parts (line, sender, ref, total, seq, scts, text, encoding, pdu, received)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, c.seq, msg.scts.isoformat(), msg.text, ENCODING[msg.encoding], sms.pdu, self._t.now()))
            if cur.rowcount != 1:
                log.info("%s: part %d/%d (ref %d) from %s already stored", sms.line, c.seq, c.total, c.ref,
                         msg.sender)
                return None
            chosen = self._first_per_seq(key)
            if len(chosen) < c.total:
                return None
            return self._assemble(key, chosen, received)

    def _first_per_seq(self, key: tuple) -> dict[int, dict[str, Any]]:
        """The waiting parts of a group, the first received for each sequence number."""
        rows = self._db.execute_sql(
            "SELECT id, seq, scts, text, encoding, pdu FROM mo_parts"
            " WHERE line = ? AND sender = ? AND ref = ? AND total = ? AND message_id IS NULL ORDER BY seq, id",
            key).fetchall()
        chosen: dict[int, dict[str, Any]] = {}
        for id_, seq, scts, text, encoding, pdu in rows:
            chosen.setdefault(seq, {"id": id_, "scts": scts, "text": text, "encoding": encoding, "pdu": pdu})
        return chosen

    def _assemble(self, key: tuple, chosen: dict[int, dict[str, Any]], received: str) -> int | None:
        """Write one ``smsserver_in`` row from the chosen parts (gaps marked) and
        mark them as used; return its id, or None when that exact message was
        already stored.  Runs inside the caller's transaction."""
        line, sender, ref, total = key
        seqs = sorted(chosen)
        missing = [seq for seq in range(1, total + 1) if seq not in chosen]
        text = "".join(chosen[seq]["text"] if seq in chosen else GAP for seq in range(1, total + 1))
        first = chosen[seqs[0]]
        scts = datetime.fromisoformat(first["scts"])
        tag = "*" if not missing else "partial"
        row = {"type": "I", "originator": sender, "encoding": first["encoding"], "text": text,
               "message_date": self._t.text(scts), "receive_date": received, "gateway_id": line, "line": line,
               "pdu": ",".join(chosen[seq]["pdu"] or "" for seq in seqs), "parts": total,
               "mo_key": f"{line}|{sender}|{first['scts']}|{ref}|{tag}|{total}|{_digest(text)}",
               "error": f"incomplete: part(s) {', '.join(map(str, missing))} of {total} missing" if missing else None}
        new_id = self._insert_mo(row)
        target = new_id
        if target is None:  # identical message already stored: the parts belong to it
            target = self._db.execute_sql("SELECT id FROM smsserver_in WHERE mo_key = ?",
                                          (row["mo_key"],)).fetchone()[0]
        ids = [chosen[seq]["id"] for seq in seqs]
        self._db.execute_sql(f"UPDATE mo_parts SET message_id = ? WHERE id IN ({', '.join('?' * len(ids))})",
                             (target, *ids))
        return new_id

    def flush_stale_parts(self, older_than_seconds: float) -> int:
        """Store every incomplete long message whose newest part arrived more than
        ``older_than_seconds`` ago as one row with the gaps marked ``…``.
        Return how many rows were written."""
        limit = self._t.now() - older_than_seconds
        received = self._t.text()
        count = 0
        with write(self._db, durable=True):
            groups = self._db.execute_sql(
                "SELECT line, sender, ref, total FROM mo_parts WHERE message_id IS NULL"
                " GROUP BY line, sender, ref, total HAVING MAX(received) < ?", (limit,)).fetchall()
            for key in groups:
                # Parts of a reused reference may hold one seq twice: each pass takes the first of each.
                while chosen := self._first_per_seq(tuple(key)):
                    if self._assemble(tuple(key), chosen, received) is not None:
                        count += 1
        if count:
            log.warning("%d incomplete long message(s) stored with gaps", count)
        return count

    # --- status reports ---------------------------------------------------------------

    def store_report(self, report: DeliveryReport, *, window_hours: float = DEFAULT_WINDOW_HOURS) -> int | None:
        """Given a status report, store it as an ``S`` row and update the part it
        reports on and, once every part has a final status, the message's
        ``delivery``.

        The part is the newest one sent on the same line with the same TP-MR
        within ``window_hours``, preferring one whose recipient matches the
        report (references wrap every 256 parts).  Return the matched
        ``smsserver_out`` id, or None when nothing matched or the report was
        stored before."""
        return self._report(report, window_hours)[0]

    def _report(self, report: DeliveryReport, window_hours: float) -> tuple[int | None, int | None]:
        """Store a report; return (matched message id, new smsserver_in id)."""
        now = self._t.now()
        discharge = self._t.text(report.discharge_time) if report.discharge_time else None
        received = self._t.text(report.received_at) if report.received_at else self._t.text(now)
        with write(self._db, durable=True):
            match = self._match(report, now - window_hours * 3600)
            row = {"type": "S", "originator": report.recipient, "encoding": "7", "text": _word(report.status),
                   "message_date": self._t.text(report.scts) if report.scts else received,
                   "receive_date": received,
                   "original_ref_no": (match[4] or None) if match else str(report.reference),
                   "original_receive_date": discharge, "gateway_id": report.line, "line": report.line,
                   "pdu": report.pdu, "reference": report.reference, "report_status": report.status,
                   "message_id": match[1] if match else None,
                   "mo_key": f"S|{report.line}|{report.reference}|{report.recipient}|"
                             f"{report.scts.isoformat() if report.scts else ''}|{discharge}|{report.status}"}
            in_id = self._insert("smsserver_in", row)
            if in_id is None:
                return None, None
            if match is None:
                log.info("%s: status report for reference %d (to %s) matches no message sent in %gh",
                         report.line, report.reference, report.recipient, window_hours)
                return None, in_id
            part_id, message_id, old = match[0], match[1], match[2]
            if not (_final(old) and not _final(report.status)):  # a late 'still trying' never undoes a final
                self._db.execute_sql("UPDATE sent_parts SET status = ?, report_at = ? WHERE id = ?",
                                     (report.status, now, part_id))
            delivery.settle(self._db, self._outbox, self._t, message_id, now=now, when=discharge or received)
            return message_id, in_id

    def _match(self, report: DeliveryReport, since: float) -> tuple[Any, ...] | None:
        """The part a report is about: sent on its line with its TP-MR since
        ``since``, to its recipient (when the report names one), preferring a
        part still waiting for its final report, then the newest.  References
        wrap every 256 parts: a report naming another recipient than every
        such part is not attached to a stranger's message."""
        candidates = self._db.execute_sql(
            "SELECT p.id, p.message_id, p.status, o.recipient, o.ref_no FROM sent_parts p"
            " JOIN smsserver_out o ON o.id = p.message_id"
            " WHERE p.line = ? AND p.reference = ? AND p.sent_at >= ? ORDER BY p.sent_at DESC, p.id DESC LIMIT ?",
            (report.line, report.reference, since, _MATCH_SCAN)).fetchall()
        if report.recipient.strip("+"):
            candidates = [c for c in candidates if _same_number(c[3] or "", report.recipient)]
        return next((c for c in candidates if not _final(c[2])), candidates[0] if candidates else None)

    # --- calls -------------------------------------------------------------------------

    def store_call(self, call: CallRecord) -> int:
        """Given a call record, store it in ``smsserver_calls``; return its id."""
        row = {"call_date": self._t.text(call.started_at), "gateway_id": call.line, "caller_id": call.caller,
               "rings": call.rings}
        with write(self._db, durable=True):
            new_id = self._insert("smsserver_calls", row)
            assert new_id is not None
            self._outbox.emit(CALL, {"id": new_id, "line": call.line, "caller": call.caller, "at": row["call_date"],
                                     "rings": call.rings})
        return new_id

    # --- helpers ------------------------------------------------------------------------

    def _insert_mo(self, row: dict[str, Any]) -> int | None:
        """Insert a complete received message (type 'I') and its ``mo`` event;
        return its id, or None for a duplicate (no event)."""
        new_id = self._insert("smsserver_in", row)
        if new_id is not None and self._outbox.wants(MO):
            number = self._db.execute_sql("SELECT number FROM lines WHERE name = ?", (row["gateway_id"],)).fetchone()
            self._outbox.emit(MO, {"id": new_id, "line": row["gateway_id"], "originator": row["originator"],
                                   "text": row["text"], "encoding": row["encoding"],
                                   "message_date": row["message_date"], "receive_date": row["receive_date"],
                                   "parts": row.get("parts", 1), "error": row.get("error"),
                                   "number": (number[0] if number else None) or ""})
        return new_id

    def _insert(self, table: str, row: dict[str, Any]) -> int | None:
        """INSERT OR IGNORE one row (table and column names are ours); return its id,
        or None when a UNIQUE key made it a duplicate."""
        columns = ", ".join(row)
        cur = self._db.execute_sql(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})",
                                   tuple(row.values()))
        return cur.lastrowid if cur.rowcount == 1 else None
