"""The router's side of the queue: what may be sent, and what happened to it.

A message's life in ``smsserver_out.status``: ``U`` waiting -> ``Q`` handed to
a line (:meth:`Dispatch.mark_queued`, durable before the modem is asked) ->
``S`` sent / ``F`` failed, or back to ``U`` for a retry
(:meth:`Dispatch.record_outcomes`).  While a row is ``Q`` its parts are
reserved on the SIM's quota; the outcome corrects the reservation to the
parts that really left.

Rows inserted by applications with plain SQL have ``parts`` NULL: the first
time :meth:`Dispatch.candidates` sees one it counts the parts and copies the
application's ``gateway_id`` into ``requested_gateway`` (``gateway_id`` is
overwritten with the line used and restored from it on a retry).

failure_cause from a ``+CMS ERROR`` code (3GPP TS 24.011 8.2.5.4 RP causes,
TS 27.005 3.2.5): BAD_NUMBER for 1 unassigned number, 21 transfer rejected,
28 unidentified subscriber, 30 unknown subscriber, 96 invalid mandatory
information; BAD_FORMAT for 95/97/98/99 invalid message and 304/305 invalid
PDU/text parameter; GATEWAY_FAILURE for barring/subscription (8, 10, 50), the
network's temporary failures (``TEMPORARY_CMS``: 38, 41, 42, 47...), ME/SIM
errors 300-399 and vendor codes from 500; a retry given up without a code is
GATEWAY_FAILURE; anything else UNKNOWN.  An :class:`Outcome` may name its cause.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from peewee import SqliteDatabase

from ..codec.parts import split
from ..errors import EncodeError
from ..model import BAD_FORMAT, BAD_NUMBER, FAILED, GATEWAY_FAILURE, RELEASE, RETRY, SENT, TEMPORARY_CMS, UNKNOWN
from ..routing import Candidate
from . import delivery
from .db import write
from .outbox import Outbox
from .records import Assignment, Outcome
from .sims import count_on_sim
from .times import LocalTime

log = logging.getLogger(__name__)

_BAD_NUMBER = frozenset({1, 21, 28, 30, 96})
_BAD_FORMAT = frozenset({95, 97, 98, 99, 304, 305})
_GATEWAY = frozenset({8, 10, 50}) | TEMPORARY_CMS
_ENCODINGS = {"7": None, "U": "ucs2", "8": "8bit"}
_GATEWAY_EXPR = "(CASE WHEN parts IS NULL THEN gateway_id ELSE requested_gateway END)"
_CANDIDATE_COLUMNS = (f"id, type, recipient, text, encoding, {_GATEWAY_EXPR}, provider, priority, parts, errors,"
                      " status_report, flash_sms, in_doubt, scheduled, expires, not_before, line, create_date")


def failure_cause(error_code: int | None, *, gave_up: bool = False) -> str:
    """Given the CMS/CME code of a failure (None: no code), return Jindi's failure_cause."""
    if error_code is None:
        return GATEWAY_FAILURE if gave_up else UNKNOWN
    if error_code in _BAD_NUMBER:
        return BAD_NUMBER
    if error_code in _BAD_FORMAT:
        return BAD_FORMAT
    if error_code in _GATEWAY or 300 <= error_code < 400 or error_code >= 500:
        return GATEWAY_FAILURE
    return UNKNOWN


def count_parts(text: str, encoding: str, max_parts: int = 255) -> int | None:
    """Given a text and a Jindi encoding ('7' falls back to UCS2), return how many
    SMS parts it needs, or None when it cannot be sent that way."""
    try:
        return len(split(text, encoding=_ENCODINGS[encoding], max_parts=max_parts))
    except (EncodeError, KeyError):
        return None


def _ids_sql(n: int) -> str:
    return ", ".join("?" * n)


class Dispatch:
    """The router-side queries, ``store.dispatch`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime, outbox: Outbox, *, max_parts: int = 255) -> None:
        self._db = db
        self._t = times
        self._outbox = outbox
        self._max_parts = max_parts

    def candidates(self, *, now: float, lines: Collection[str], providers: Collection[str],
                   limit: int = 200) -> list[Candidate]:
        """Return up to ``limit`` waiting ('U') messages, highest priority then oldest
        first: those due at ``now`` (scheduled time come, retry backoff over) that
        one of ``lines`` may take (pinned to one of them, or to any line and of no
        provider or one of ``providers``), and every one whose expiry has passed.
        Rows from applications are completed on the way; one that cannot be sent
        at all (unknown type or encoding, no recipient, text that does not fit
        its encoding) is failed with BAD_NUMBER/BAD_FORMAT instead of returned."""
        lines, providers = list(lines), list(providers)
        local_now = self._t.text(now)
        sql = (f"SELECT {_CANDIDATE_COLUMNS} FROM smsserver_out WHERE status = 'U' AND ("
               " (expires IS NOT NULL AND expires <= ?) OR ("
               " (scheduled IS NULL OR scheduled <= ?) AND (not_before IS NULL OR not_before <= ?) AND ("
               f" {_GATEWAY_EXPR} IN ({_ids_sql(len(lines))}) OR (? AND {_GATEWAY_EXPR} IN ('*', '')"
               f" AND (provider = '' OR provider IN ({_ids_sql(len(providers))})))"
               " ))) ORDER BY priority DESC, id LIMIT ?")
        rows = self._db.execute_sql(sql, (local_now, local_now, now, *lines, bool(lines), *providers, limit)).fetchall()
        fresh = [row for row in rows if row[8] is None]
        completed = self._complete(fresh) if fresh else {}
        out = []
        for row in rows:
            parts = row[8] if row[8] is not None else completed.get(row[0])
            if parts is None:
                continue
            (id_, _, recipient, text, encoding, gateway, provider, priority, _, errors, status_report, flash,
             in_doubt, scheduled, expires, not_before, line, created) = row
            out.append(Candidate(
                id=id_, recipient=recipient, text=text or "", encoding=(encoding or "7").upper(),
                gateway=gateway or "*", provider=provider or "", priority=priority, parts=parts, errors=errors,
                status_report=bool(status_report), flash=bool(flash), in_doubt=bool(in_doubt),
                scheduled=self._t.epoch(scheduled), expires=self._t.epoch(expires), not_before=not_before,
                last_line=line or "", created=self._t.epoch(created, quiet=True)))
        return out

    def _complete(self, rows: list[tuple]) -> dict[int, int]:
        """Count the parts of rows an application inserted; fail those that cannot
        be sent.  Return {id: parts} of the good ones."""
        good: dict[int, int] = {}
        bad: list[tuple[int, str, str]] = []
        for row in rows:
            id_, type_, recipient, text, encoding = row[:5]
            encoding = (encoding or "7").upper()
            if (type_ or "O").upper() != "O":
                bad.append((id_, BAD_FORMAT, f"message type {type_!r} is not supported"))
            elif not (recipient or "").strip():
                bad.append((id_, BAD_NUMBER, "no recipient"))
            elif (parts := count_parts(text or "", encoding, self._max_parts)) is None:
                bad.append((id_, BAD_FORMAT, f"text cannot be sent with encoding {encoding!r}"))
            else:
                good[id_] = parts
        now = self._t.now()
        local_now = self._t.text(now)
        with write(self._db, durable=False):
            for id_, parts in good.items():
                self._db.execute_sql("UPDATE smsserver_out SET parts = ?, requested_gateway = gateway_id, updated = ?"
                                     " WHERE id = ? AND parts IS NULL AND status = 'U'", (parts, now, id_))
            for id_, cause, why in bad:
                log.warning("message %d failed before sending: %s", id_, why)
                if self._db.execute_sql("UPDATE smsserver_out SET status = 'F', failure_cause = ?, updated = ?"
                                        " WHERE id = ? AND status = 'U'", (cause, now, id_)).rowcount:
                    self._outbox.emit_result(id_, local_now)
        return good

    def pending_wakeup(self, *, now: float) -> float | None:
        """Return the earliest epoch after ``now`` at which a waiting message's
        scheduled time, retry backoff or expiry arrives, or None when none will."""
        local_now = self._t.text(now)
        row = self._db.execute_sql(
            # The partial indexes hold only waiting rows; the planner would pick out_queue and scan them all.
            "SELECT (SELECT MIN(scheduled) FROM smsserver_out INDEXED BY out_wait_scheduled"
            "        WHERE status = 'U' AND scheduled IS NOT NULL AND scheduled > ?),"
            " (SELECT MIN(not_before) FROM smsserver_out INDEXED BY out_wait_backoff"
            "        WHERE status = 'U' AND not_before IS NOT NULL AND not_before > ?),"
            " (SELECT MIN(expires) FROM smsserver_out INDEXED BY out_wait_expires"
            "        WHERE status = 'U' AND expires IS NOT NULL AND expires > ?)",
            (local_now, now, local_now)).fetchone()
        times = [self._t.epoch(row[0]), row[1], self._t.epoch(row[2])]
        # A local time in a DST gap can map to an epoch before now: never wake in the past.
        future = [t for t in times if t is not None and t > now]
        return min(future, default=None)

    def mark_queued(self, assignments: Sequence[Assignment]) -> list[int]:
        """Durably move each assigned message from 'U' to 'Q' on its line and
        reserve its parts on the SIM's quota, in one transaction committed with
        synchronous=FULL (the modem may be asked only after this returns).
        Return the ids moved; a message no longer 'U' (changed or deleted by an
        application meanwhile) is left alone and must not be sent."""
        now, day = self._t.now(), self._t.day()
        moved = []
        with write(self._db, durable=True):
            for a in assignments:
                cur = self._db.execute_sql(
                    "UPDATE smsserver_out SET status = 'Q', line = ?, iccid = ?, gateway_id = ?, parts = ?,"
                    " quota_day = ?, updated = ?,"
                    " requested_gateway = CASE WHEN parts IS NULL THEN gateway_id ELSE requested_gateway END"
                    " WHERE id = ? AND status = 'U'",
                    (a.line, a.iccid, a.line, a.parts, day if a.iccid else None, now, a.id))
                if cur.rowcount != 1:
                    log.warning("message %d is no longer waiting: not sent", a.id)
                    continue
                moved.append(a.id)
                # A new attempt: the parts of an earlier one (a retry, a send cut short) are forgotten.
                self._db.execute_sql("DELETE FROM sent_parts WHERE message_id = ?", (a.id,))
                if a.iccid:
                    count_on_sim(self._db, a.iccid, day=day, daily=a.parts, total=a.parts, now=now)
        return moved

    def record_stored(self, message_id: int, locations: Sequence[str]) -> bool:
        """Record durably where a message being sent ('Q') was written in its
        modem's storage (send_mode = store), before the modem is asked to send
        it; True when the row took it (False: it is not being sent)."""
        with write(self._db, durable=True):
            return self._db.execute_sql("UPDATE smsserver_out SET stored = ?, updated = ? WHERE id = ? AND status = 'Q'",
                                        (",".join(locations), self._t.now(), message_id)).rowcount == 1

    def record_part(self, message_id: int, seq: int, line: str, reference: int | None) -> bool:
        """Record durably that part ``seq`` of message ``message_id`` (being sent,
        'Q') left on ``line`` with TP-MR ``reference`` (None or -1: unknown), so
        that its status report finds it whenever it comes.  Return True when a
        row was written (False: recorded before, or the message is not being sent)."""
        with write(self._db, durable=True):
            return delivery.record_part(self._db, message_id, seq, line,
                                        reference if reference is not None and reference >= 0 else None,
                                        self._t.now())

    def unresolved(self, line: str, *, before: float) -> list[tuple[int, list[str]]]:
        """Messages a previous run left being sent ('Q', last changed before
        ``before``) on ``line`` with their parts in the modem's storage:
        [(id, locations)], oldest first."""
        rows = self._db.execute_sql(
            "SELECT id, stored FROM smsserver_out WHERE status = 'Q' AND line = ? AND stored IS NOT NULL"
            " AND updated < ? ORDER BY id", (line, before)).fetchall()
        return [(r[0], [loc for loc in r[1].split(",") if loc]) for r in rows]

    def record_outcomes(self, outcomes: Sequence[Outcome], *, durable: bool = False) -> None:
        """Write what the lines did, in one transaction (synchronous=NORMAL: a
        result lost to a power cut leaves the row 'Q', requeued in doubt at start).

        sent: 'S', sent_date, ref_no (the parts' references, comma-separated),
        one ``sent_parts`` row per part (those recorded as they left are kept),
        and the delivery settled from the reports that came before
        (:mod:`agent.store.delivery`).  failed: 'F' with error_code and
        failure_cause (``errors`` unchanged: it counts retries).  retry: errors + 1
        and back to 'U' with not_before = retry_at and the requested gateway
        restored, or 'F' when ``give_up``.  release (never started, or what
        the modem did cannot be told: ``in_doubt``): back to 'U' as it was,
        no error counted, ``references`` the parts that may have left.  in_doubt is sticky.  The SIM's
        counters move by (parts that left - parts reserved).  A final outcome
        (sent, failed, given up) writes its ``result`` event to the outbox.
        An outcome for a message that is not 'Q' is logged and ignored.
        ``durable``: commit with synchronous=FULL (the modem's stored copy of
        a message is deleted once its outcome is on disk)."""
        now, day = self._t.now(), self._t.day()
        local_now = self._t.text(now)
        with write(self._db, durable=durable):
            for o in outcomes:
                row = self._db.execute_sql("SELECT status, parts, iccid, quota_day FROM smsserver_out WHERE id = ?",
                                           (o.id,)).fetchone()
                if row is None or row[0] != "Q":
                    log.warning("outcome %r for message %d ignored: it is %s", o.outcome, o.id,
                                "gone" if row is None else f"in status {row[0]!r}")
                    continue
                left = self._parts_left(o, row[1])
                self._apply(o, left, now, local_now)
                self._settle_quota(o, row, left, day, now)
                if o.outcome not in (RETRY, RELEASE) or o.give_up:
                    self._outbox.emit_result(o.id, local_now)
                if o.outcome == SENT:
                    # Reports may have come before this outcome: they complete the delivery now.
                    self._db.execute_sql("UPDATE smsserver_in SET original_ref_no = ? WHERE message_id = ?"
                                         " AND type = 'S'", (",".join(map(str, o.references)), o.id))
                    delivery.settle(self._db, self._outbox, self._t, o.id, now=now)

    def _apply(self, o: Outcome, left: int, now: float, local_now: str) -> None:
        if o.outcome == SENT:
            self._db.execute_sql(
                "UPDATE smsserver_out SET status = 'S', sent_date = ?, ref_no = ?, sent_parts = ?, line = ?,"
                " error_code = NULL, failure_cause = NULL, in_doubt = in_doubt | ?, updated = ? WHERE id = ?",
                (local_now, ",".join(map(str, o.references)), left, o.line, int(o.in_doubt), now, o.id))
            # Parts the line recorded as they left keep their rows (and any report they have).
            self._db.cursor().executemany(
                "INSERT OR IGNORE INTO sent_parts (message_id, seq, line, reference, sent_at) VALUES (?, ?, ?, ?, ?)",
                [(o.id, seq, o.line, ref if ref >= 0 else None, now) for seq, ref in enumerate(o.references, 1)])
        elif o.outcome == RELEASE:
            self._db.execute_sql(
                "UPDATE smsserver_out SET status = 'U', gateway_id = requested_gateway, quota_day = NULL,"
                " in_doubt = in_doubt | ?, updated = ? WHERE id = ?", (int(o.in_doubt), now, o.id))
        elif o.outcome == RETRY and not o.give_up:
            self._db.execute_sql(
                "UPDATE smsserver_out SET status = 'U', errors = errors + 1, not_before = ?,"
                " gateway_id = requested_gateway, line = ?, error_code = ?, failure_cause = ?, sent_parts = ?,"
                " in_doubt = in_doubt | ?, quota_day = NULL, updated = ? WHERE id = ?",
                (o.retry_at, o.line, o.error_code, o.cause or failure_cause(o.error_code, gave_up=True), left,
                 int(o.in_doubt), now, o.id))
        else:
            if o.outcome not in (FAILED, RETRY):
                log.error("message %d: unknown outcome %r recorded as failed", o.id, o.outcome)
            gave_up = o.outcome == RETRY  # a temporary failure counts as a retry; a permanent one does not
            cause = o.cause or failure_cause(o.error_code, gave_up=gave_up)
            self._db.execute_sql(
                "UPDATE smsserver_out SET status = 'F', errors = errors + ?, line = ?, error_code = ?,"
                " failure_cause = ?, sent_parts = ?, in_doubt = in_doubt | ?, quota_day = NULL, updated = ?"
                " WHERE id = ?",
                (int(gave_up), o.line, o.error_code, cause, left, int(o.in_doubt), now, o.id))

    @staticmethod
    def _parts_left(o: Outcome, reserved: int | None) -> int:
        """Parts that reached the network: every accepted reference; for a success, at
        least the parts the line said it sent (a GoIP box splits a message itself and
        names one reference for all its parts)."""
        if o.outcome == SENT:
            return max(len(o.references), o.parts or 0) or (reserved or 0)
        return len(o.references)

    def _settle_quota(self, o: Outcome, row: tuple[Any, ...], left: int, day: str, now: float) -> None:
        _, parts, iccid, quota_day = row
        iccid = iccid or o.iccid
        if not iccid:
            return
        reserved = (parts or 0) if quota_day else 0
        # A reservation made on another day counted that day: today gets what left.
        daily = left - reserved if quota_day == day else left
        if daily or left != reserved:
            count_on_sim(self._db, iccid, day=day, daily=daily, total=left - reserved, now=now)
