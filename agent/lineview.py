"""The read model of a line: what it is doing and what it has left, computed in one place.

Pure: no I/O, no clock.  :func:`line_views` turns the lines' snapshots, the
SIM counters, the limits and provider groups in force and today's message
counts into one :class:`LineView` per line; every reader (the status page,
``/metrics``, GoIP ``querylines``, the MQTT ``lines/<line>`` and ``status``
objects, the quota replies of the dialects, ``sms-agent lines`` and
``status``) shows that view.  The running agent gives the live snapshots of
its bank (:meth:`agent.core.Core.lines_view`); the command line, which has
no bank, gives the snapshots the agent last stored (:func:`stored_state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence

from .model import BUSY, DISABLED, READY, LineState
from .routing import remaining


class SentCounts(Protocol):
    """What a SIM has sent (:class:`agent.store.records.SimCounters` is one)."""

    @property
    def daily_sent(self) -> int: ...

    @property
    def total_sent(self) -> int: ...


@dataclass(frozen=True)
class LineView:
    """One line as every reader shows it (a snapshot; no port is touched).

    Quotas count SMS parts on the line's SIM: ``*_limit`` and ``*_left`` are
    None when unlimited.  ``sent_today`` / ``failed_today`` count messages
    since local midnight (None: not counted, the view was asked for without
    them); ``sent_parts``, ``failed_parts`` and ``received`` count since the
    line's worker started (0 without a live snapshot)."""

    name: str
    index: int  # 1-based position among the lines given (the configuration order, from the Core)
    state: str  # the worker's state: starting, ready, busy, recovering, offline, disabled, stopped
    enabled: bool  # not disabled by an operator
    online: bool  # the modem answers the agent (ready or busy)
    registered: bool  # its SIM is on the network
    usable: bool  # can take a message now: online, registered, below both quotas
    provider: str  # the provider group in force ('' none)
    registration: int | None  # +CREG stat (0 none, 1 home, 2 searching, 3 denied, 5 roaming), None unknown
    sim_status: str  # +CPIN answer: READY, SIM PIN, NOT INSERTED... ('' unknown)
    signal_dbm: int | None
    operator: str
    iccid: str
    imei: str
    number: str  # the SIM's own number when the modem knows it (AT+CNUM), else ''
    device: str
    model: str
    last_error: str
    last_error_at: datetime | None
    last_send_at: datetime | None
    recovery_step: str  # the rung of the recovery ladder being tried, '' when healthy
    daily_sent: int
    daily_limit: int | None
    daily_left: int | None
    total_sent: int
    total_limit: int | None
    total_left: int | None
    sent_today: int | None
    failed_today: int | None
    sent_parts: int
    failed_parts: int
    received: int

    @property
    def left(self) -> int | None:
        """Parts this line may still send today: the smaller of its daily and total
        remainders (None: unlimited)."""
        known = [n for n in (self.daily_left, self.total_left) if n is not None]
        return min(known) if known else None


def limits_in_force(configured: tuple[int, int], override: tuple[int | None, int | None]) -> tuple[int, int]:
    """Given a line's configured (daily, total) limits and an operator's override
    (None where the configured value holds), return the (daily, total) in force."""
    daily, total = override
    return (configured[0] if daily is None else daily, configured[1] if total is None else total)


def line_view(snap: LineState, *, index: int, sent: SentCounts | None, limits: tuple[int, int], provider: str,
              today: Mapping[str, int] | None) -> LineView:
    """Given a line's snapshot, its SIM's counters (None: none counted yet, or the
    SIM unknown), its (daily, total) limits in force (negative: unlimited), its
    provider group and its ``{"sent_today": n, "failed_today": n}`` (a missing
    key: 0; None: not counted), return its :class:`LineView`."""
    daily_sent = sent.daily_sent if sent is not None else 0
    total_sent = sent.total_sent if sent is not None else 0
    daily_limit, total_limit = limits
    daily_left, total_left = remaining(daily_limit, daily_sent), remaining(total_limit, total_sent)
    online = snap.state in (READY, BUSY)
    return LineView(
        name=snap.name, index=index, state=snap.state, enabled=snap.state != DISABLED, online=online,
        registered=snap.registered, usable=online and snap.registered and daily_left != 0 and total_left != 0,
        provider=provider, registration=snap.registration, sim_status=snap.sim, signal_dbm=snap.signal_dbm,
        operator=snap.operator, iccid=snap.iccid, imei=snap.imei, number=snap.number, device=snap.device,
        model=snap.model, last_error=snap.last_error, last_error_at=snap.last_error_at,
        last_send_at=snap.last_send_at, recovery_step=snap.recovery_step,
        daily_sent=daily_sent, daily_limit=None if daily_limit < 0 else daily_limit, daily_left=daily_left,
        total_sent=total_sent, total_limit=None if total_limit < 0 else total_limit, total_left=total_left,
        sent_today=None if today is None else today.get("sent_today", 0),
        failed_today=None if today is None else today.get("failed_today", 0),
        sent_parts=snap.sent_parts, failed_parts=snap.failed_parts, received=snap.received)


def line_views(snapshots: Sequence[LineState], *, counters: Mapping[str, SentCounts],
               limits: Mapping[str, tuple[int, int]], providers: Mapping[str, str],
               today: Mapping[str, Mapping[str, int]] | None) -> list[LineView]:
    """Given the lines' snapshots in the order to show them, the SIM counters by
    ICCID, the (daily, total) limits in force by line name (every line needs
    one), the provider groups by line name (missing: '') and today's counts by
    line name (a missing line: 0; None: not counted), return a
    :class:`LineView` per snapshot, in order, ``index`` counting from 1."""
    return [line_view(snap, index=index, sent=counters.get(snap.iccid) if snap.iccid else None,
                      limits=limits[snap.name], provider=providers.get(snap.name, ""),
                      today=None if today is None else today.get(snap.name, {}))
            for index, snap in enumerate(snapshots, start=1)]


def stored_state(row: Mapping[str, Any]) -> LineState:
    """Given a row of the store's ``lines`` table (the snapshot the agent last
    wrote, :meth:`agent.store.sims.Sims.lines`), return it as a
    :class:`LineState` for :func:`line_views`; what the table does not keep
    (SIM status, registration, times, counts since start) is unknown."""
    return LineState(name=row["name"], device=row.get("device") or "", state=row.get("state") or "",
                     signal_dbm=row.get("signal_dbm"), registered=bool(row.get("registered")),
                     operator=row.get("operator") or "", iccid=row.get("iccid") or "", imei=row.get("imei") or "",
                     imsi=row.get("imsi") or "", number=row.get("number") or "", model=row.get("model") or "",
                     last_error=row.get("last_error") or "")
