"""Read-only queries for the status page, /status.json and /metrics.

Every query here is a plain read on the calling thread's connection (no
write lock taken), bounded by a LIMIT or a GROUP BY over today's rows, so a
page refreshed every few seconds on a Pi costs little.  The one exception
is :meth:`StatusQueries.writable`, the health check's tiny write
transaction, which is rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from peewee import SqliteDatabase

from .db import BUSY_TIMEOUT_MS, write
from .times import LocalTime

log = logging.getLogger(__name__)

_WEEK = 7 * 86400


class _Rollback(Exception):
    """Raised inside the health check's transaction so that it is rolled back."""


class StatusQueries:
    """The status page's queries, ``store.status`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime) -> None:
        self._db = db
        self._t = times

    def recent_received(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the newest ``limit`` received messages (``smsserver_in`` rows of
        type 'I'), newest first, as dicts: ``id, line, originator, text,
        encoding, received_at`` (local text ``YYYY-MM-DD HH:MM:SS``), ``parts``,
        ``error`` (why a PDU could not be decoded, else None)."""
        rows = self._db.execute_sql(
            "SELECT id, COALESCE(line, gateway_id), originator, text, encoding, receive_date, parts, error"
            " FROM smsserver_in WHERE type = 'I' ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "line", "originator", "text", "encoding", "received_at", "parts", "error")
        return [dict(zip(keys, row)) for row in rows]

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the ``limit`` most recently failed messages of the last 7 days
        ('F' rows of ``smsserver_out``), newest first, as dicts: ``id, line,
        recipient, text, error_code, failure_cause, in_doubt`` (bool), ``at``
        (epoch of the failure)."""
        # out_updated is walked backwards and stops at the limit; the week bounds
        # the walk when failures are rare among many sent rows.
        rows = self._db.execute_sql(
            "SELECT id, line, recipient, text, error_code, failure_cause, in_doubt, updated FROM smsserver_out"
            " WHERE status = 'F' AND updated >= ? ORDER BY updated DESC, id DESC LIMIT ?",
            (self._t.now() - _WEEK, limit)).fetchall()
        keys = ("id", "line", "recipient", "text", "error_code", "failure_cause", "in_doubt", "at")
        out = [dict(zip(keys, row)) for row in rows]
        for row in out:
            row["in_doubt"] = bool(row["in_doubt"])
        return out

    def recent_calls(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the newest ``limit`` incoming calls (``smsserver_calls`` rows),
        newest first, as dicts: ``id, line, caller`` ('' when withheld),
        ``at`` (local text ``YYYY-MM-DD HH:MM:SS``), ``rings``."""
        rows = self._db.execute_sql(
            "SELECT id, gateway_id, caller_id, call_date, rings FROM smsserver_calls ORDER BY id DESC LIMIT ?",
            (limit,)).fetchall()
        return [dict(zip(("id", "line", "caller", "at", "rings"), row)) for row in rows]

    def line_counts_today(self) -> dict[str, dict[str, int]]:
        """Return messages sent and failed since local midnight, by line:
        ``{line: {"sent_today": n, "failed_today": n}}`` (lines without any are
        absent).  Sent counts by ``sent_date``, failed by ``updated``, as
        :meth:`agent.store.queue.Store.queue_depths` does."""
        midnight = self._t.midnight()
        out: dict[str, dict[str, int]] = {}
        for line, n in self._db.execute_sql(
                "SELECT line, COUNT(*) FROM smsserver_out WHERE sent_date >= ? AND status = 'S' AND line IS NOT NULL"
                " GROUP BY line", (self._t.text(midnight),)):
            out.setdefault(line, {"sent_today": 0, "failed_today": 0})["sent_today"] = n
        for line, n in self._db.execute_sql(
                "SELECT line, COUNT(*) FROM smsserver_out WHERE updated >= ? AND status = 'F' AND line IS NOT NULL"
                " GROUP BY line", (midnight,)):
            out.setdefault(line, {"sent_today": 0, "failed_today": 0})["failed_today"] = n
        return out

    def writable(self, timeout: float = 2.0) -> str:
        """The health check: take the write lock (``BEGIN IMMEDIATE``, waiting at
        most ``timeout`` seconds for another writer), rewrite ``PRAGMA
        user_version`` with its own value, and roll back.  Return '' when that
        worked, else why not (a read-only file or file system, a lock held too
        long, a missing or broken file).  Nothing is changed either way."""
        # A watchdog wants a prompt answer: a shorter busy wait than the
        # writers' own, on this thread's connection only, restored after.
        try:
            self._db.execute_sql(f"PRAGMA busy_timeout = {int(timeout * 1000):d}")
            with write(self._db, durable=False):
                version = int(self._db.execute_sql("PRAGMA user_version").fetchone()[0])
                # A write to the header page: refused at once on a read-only
                # connection or file system, and rolled back below.
                self._db.execute_sql(f"PRAGMA user_version = {version:d}")
                raise _Rollback
        except _Rollback:
            return ""
        except Exception as exc:  # any failure is the answer, not a crash of the check
            log.warning("database health check failed: %s", exc)
            return str(exc) or type(exc).__name__
        finally:
            try:
                self._db.execute_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            except Exception:  # the connection is broken: the next use reports it
                pass
