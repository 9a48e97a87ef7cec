"""SIM quota counters and the line snapshots.

Quotas count SMS parts per SIM, keyed by ICCID, so they follow a SIM moved to
another line or modem.  ``daily_day`` is the local day (in the store's time
zone) ``daily_sent`` belongs to: a counter whose day is not today reads as 0
and is reset by the next write, so a missed midnight job never lets
yesterday's count block today.  The ``lines`` table is a snapshot for
``sms-agent lines`` run from another process; nothing routes on it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from peewee import SqliteDatabase

from ..model import LineState
from .db import write
from .records import SimCounters
from .times import LocalTime

log = logging.getLogger(__name__)

_CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit


def count_on_sim(db: SqliteDatabase, iccid: str, *, day: str, daily: int, total: int, now: float) -> None:
    """Add ``daily`` to the SIM's count for local day ``day`` (starting from 0 when
    the stored day differs) and ``total`` to its total, never below 0.
    Runs inside the caller's transaction; creates the SIM's row if needed."""
    db.execute_sql(
        "INSERT INTO sims (iccid, daily_sent, daily_day, total_sent, updated) VALUES (?, MAX(?, 0), ?, MAX(?, 0), ?)"
        " ON CONFLICT (iccid) DO UPDATE SET"
        " daily_sent = MAX(0, CASE WHEN daily_day IS excluded.daily_day THEN daily_sent ELSE 0 END + ?),"
        " daily_day = excluded.daily_day, total_sent = MAX(0, total_sent + ?), updated = excluded.updated",
        (iccid, daily, day, total, now, daily, total))


class Sims:
    """The quota and line-snapshot queries, ``store.sims`` of :class:`agent.store.queue.Store`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime) -> None:
        self._db = db
        self._t = times

    def sim_counters(self, iccids: Collection[str]) -> dict[str, SimCounters]:
        """Given ICCIDs, return the counters of those the store knows, by ICCID;
        ``daily_sent`` is 0 (and ``day`` today) when the stored day is not today."""
        today = self._t.day()
        wanted = list(dict.fromkeys(i for i in iccids if i))
        out: dict[str, SimCounters] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            rows = self._db.execute_sql("SELECT iccid, daily_sent, daily_day, total_sent FROM sims"
                                        f" WHERE iccid IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            for iccid, daily, day, total in rows:
                out[iccid] = SimCounters(iccid, daily if day == today else 0, total, today)
        return out

    def reset_daily(self) -> int:
        """The midnight job: zero ``daily_sent`` of every SIM whose day is not
        today; return how many had a count to reset."""
        today = self._t.day()
        with write(self._db, durable=False):
            counted = self._db.execute_sql(
                "SELECT COUNT(*) FROM sims WHERE daily_day IS NOT ? AND daily_sent != 0", (today,)).fetchone()[0]
            self._db.execute_sql("UPDATE sims SET daily_sent = 0, daily_day = ?, updated = ? WHERE daily_day IS NOT ?",
                                 (today, self._t.now(), today))
        return counted

    def set_sim_counters(self, iccid: str, *, daily_sent: int | None = None, total_sent: int | None = None) -> None:
        """Set a SIM's counters (an operator's correction); None leaves one as it is.
        Raise ValueError for a negative count or an empty ICCID."""
        if not iccid or any(v is not None and v < 0 for v in (daily_sent, total_sent)):
            raise ValueError("an ICCID and counts >= 0 are needed")
        today, now = self._t.day(), self._t.now()
        with write(self._db, durable=True):
            self._db.execute_sql(
                "INSERT INTO sims (iccid, daily_sent, daily_day, total_sent, updated)"
                " VALUES (?, COALESCE(?, 0), ?, COALESCE(?, 0), ?)"
                " ON CONFLICT (iccid) DO UPDATE SET"
                " daily_sent = COALESCE(?, CASE WHEN daily_day IS excluded.daily_day THEN daily_sent ELSE 0 END),"
                " daily_day = excluded.daily_day, total_sent = COALESCE(?, total_sent), updated = excluded.updated",
                (iccid, daily_sent, today, total_sent, now, daily_sent, total_sent))

    def set_line_limits(self, name: str, *, daily: int | None, total: int | None) -> None:
        """Override a line's quotas (SMS parts; -1 unlimited; None: back to the
        configured value).  Durable.  Raise ValueError below -1."""
        if any(v is not None and v < -1 for v in (daily, total)):
            raise ValueError("a limit is -1 (unlimited) or a count >= 0")
        with write(self._db, durable=True):
            if daily is None and total is None:
                self._db.execute_sql("UPDATE line_limits SET daily_limit = NULL, total_limit = NULL WHERE name = ?",
                                     (name,))
            else:
                self._db.execute_sql(
                    "INSERT INTO line_limits (name, daily_limit, total_limit, updated) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET daily_limit = excluded.daily_limit,"
                    " total_limit = excluded.total_limit, updated = excluded.updated",
                    (name, daily, total, self._t.now()))

    def set_line_provider(self, name: str, provider: str | None) -> None:
        """Put a line in provider group ``provider`` (None: back to the configured one).  Durable."""
        with write(self._db, durable=True):
            self._db.execute_sql(
                "INSERT INTO line_limits (name, provider, updated) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, updated = excluded.updated",
                (name, provider, self._t.now()))

    def line_providers(self) -> dict[str, str]:
        """Provider groups set at run time, by line name."""
        rows = self._db.execute_sql("SELECT name, provider FROM line_limits WHERE provider IS NOT NULL").fetchall()
        return {name: provider for name, provider in rows}

    def line_limits(self) -> dict[str, tuple[int | None, int | None]]:
        """Operator overrides by line name: (daily, total), None where the configured value holds."""
        rows = self._db.execute_sql("SELECT name, daily_limit, total_limit FROM line_limits"
                                    " WHERE daily_limit IS NOT NULL OR total_limit IS NOT NULL").fetchall()
        return {name: (daily, total) for name, daily, total in rows}

    def update_line(self, state: LineState, *, provider: str = "") -> None:
        """Given a line's state, replace its snapshot; when the SIM's ICCID is
        known, record on the SIM's row where it was last seen (IMSI, IMEI, line,
        provider group).  Bookkeeping: synchronous=NORMAL."""
        now = self._t.now()
        with write(self._db, durable=False):
            self._db.execute_sql(
                "INSERT INTO lines (name, device, state, signal_dbm, registered, operator, iccid, imei, imsi, number,"
                " model, provider, last_error, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET device = excluded.device, state = excluded.state,"
                " signal_dbm = excluded.signal_dbm, registered = excluded.registered, operator = excluded.operator,"
                " iccid = excluded.iccid, imei = excluded.imei, imsi = excluded.imsi, number = excluded.number,"
                " model = excluded.model, provider = excluded.provider, last_error = excluded.last_error,"
                " updated = excluded.updated",
                (state.name, state.device, state.state, state.signal_dbm, int(state.registered), state.operator,
                 state.iccid, state.imei, state.imsi, state.number, state.model, provider, state.last_error, now))
            if state.iccid:
                # An identity read as '' (not yet known) never erases what was seen before.
                self._db.execute_sql(
                    "INSERT INTO sims (iccid, imsi, imei_last, line_last, provider, updated) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (iccid) DO UPDATE SET imsi = COALESCE(NULLIF(excluded.imsi, ''), imsi),"
                    " imei_last = COALESCE(NULLIF(excluded.imei_last, ''), imei_last),"
                    " line_last = excluded.line_last, provider = excluded.provider, updated = excluded.updated",
                    (state.iccid, state.imsi, state.imei, state.name, provider, now))

    def lines(self) -> list[dict[str, Any]]:
        """Return every line snapshot as a dict (``registered`` a bool), by name."""
        cur = self._db.execute_sql("SELECT * FROM lines ORDER BY name")
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, row)) for row in cur.fetchall()]
        for row in rows:
            row["registered"] = bool(row["registered"])
        return rows
