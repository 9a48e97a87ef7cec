"""``GET /metrics``: the Prometheus text exposition format (0.0.4), written by hand.

No client library at run time: the format is a few lines of text, and the box
should not carry a dependency (and its registry of global state) for it.
:func:`render` reads the Core the way the status page does (line views
and cheap read-only queries; no health-check write), and
:class:`RequestCounter` counts the HTTP requests of every dialect.

Metrics (``line`` labels are the configured line names):

===========================================  =======  ============================================
``sms_agent_info{box_id,version}``           gauge    always 1
``sms_agent_uptime_seconds``                 gauge    since the HTTP app was built
``sms_agent_clock_ok``                       gauge    0 when the clock reads a year before 2024
``sms_agent_line_online{line}``              gauge    1 when the modem answers (ready or busy)
``sms_agent_line_registered{line}``          gauge    1 when its SIM is on the network
``sms_agent_line_usable{line}``              gauge    1 when it can take a message now
``sms_agent_line_state{line,state}``         gauge    1 for the line's state, 0 for the others
``sms_agent_line_signal_dbm{line}``          gauge    absent while unknown
``sms_agent_line_sent_parts_total{line}``    counter  parts accepted by the network (since start)
``sms_agent_line_failed_parts_total{line}``  counter  parts refused or timed out (since start)
``sms_agent_line_received_total{line}``      counter  messages read from the modem (since start)
``sms_agent_line_messages_today{line,result}``  gauge  messages sent / failed since local midnight
``sms_agent_line_daily_sent_parts{line}``    gauge    the SIM's quota counter today
``sms_agent_line_daily_limit_parts{line}``   gauge    -1 unlimited
``sms_agent_queue_messages{state}``          gauge    rows by state: unsent, sending, sent, failed
``sms_agent_messages_today{result}``         gauge    sent / failed since local midnight
``sms_agent_outbox_pending{destination}``    gauge    events waiting for a push destination
``sms_agent_outbox_oldest_age_seconds{destination}``  gauge  absent when nothing waits
``sms_agent_outbox_dropped_total{destination}``  counter  events given up (kept across restarts)
``sms_agent_mqtt_configured``                gauge
``sms_agent_mqtt_connected``                 gauge    0 when not configured
``sms_agent_http_requests_total{dialect,code}``  counter  every request the HTTP server answered
===========================================  =======  ============================================

``dialect`` is the module whose route answered (``goip``, ``jindi``,
``simctl``, ``status``...), or ``none`` when no route matched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .. import __version__
from ..model import BUSY, DISABLED, OFFLINE, READY, RECOVERING, STARTING, STOPPED
from .status_data import CLOCK_MIN_YEAR

if TYPE_CHECKING:
    from ..core import Core
    from ..lineview import LineView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = (STARTING, READY, BUSY, RECOVERING, OFFLINE, DISABLED, STOPPED)
_QUEUE = (("unsent", "U"), ("sending", "Q"), ("sent", "S"), ("failed", "F"))


class RequestCounter:
    """HTTP requests by (dialect, status code); safe to use from every server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}

    def count(self, dialect: str, code: int) -> None:
        with self._lock:
            key = (dialect, code)
            self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Writer:
    """Collects families: each once with its HELP and TYPE, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float | None]]) -> None:
        rows = [(labels, value) for labels, value in samples if value is not None]
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in rows:
            assert value is not None
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(core: Core, requests: RequestCounter | None, *, box_id: str, started: float,
           now: float | None = None) -> str:
    """Given the Core, the request counter, the box id and the epoch the agent
    started serving at, return the exposition text (see the module doc)."""
    now = time.time() if now is None else now
    w = _Writer()
    w.family("sms_agent_info", "gauge", "The box and the agent's version.",
             [({"box_id": box_id, "version": __version__}, 1)])
    w.family("sms_agent_uptime_seconds", "gauge", "Seconds since the agent started serving.",
             [({}, round(max(0.0, now - started), 1))])
    w.family("sms_agent_clock_ok", "gauge", "0 when the clock is obviously wrong (quotas count wrong days).",
             [({}, int(time.gmtime(now).tm_year >= CLOCK_MIN_YEAR))])
    _lines(w, core)
    depths = core.queue_depths()
    w.family("sms_agent_queue_messages", "gauge", "Messages in the queue table by state.",
             [({"state": name}, depths[code]) for name, code in _QUEUE])
    w.family("sms_agent_messages_today", "gauge", "Messages sent or failed since local midnight.",
             [({"result": "sent"}, depths["sent_today"]), ({"result": "failed"}, depths["failed_today"])])
    outbox = sorted(core.outbox_stats().items())
    w.family("sms_agent_outbox_pending", "gauge", "Events waiting for a push destination.",
             [({"destination": d}, s["pending"]) for d, s in outbox])
    w.family("sms_agent_outbox_oldest_age_seconds", "gauge", "Age of the oldest waiting event.",
             [({"destination": d}, None if s["oldest"] is None else round(max(0.0, now - s["oldest"]), 1))
              for d, s in outbox])
    w.family("sms_agent_outbox_dropped_total", "counter", "Events given up for a destination.",
             [({"destination": d}, s["dropped"]) for d, s in outbox])
    uplink = getattr(core, "uplink", None)
    w.family("sms_agent_mqtt_configured", "gauge", "1 when an MQTT uplink is configured.",
             [({}, int(uplink is not None))])
    w.family("sms_agent_mqtt_connected", "gauge", "1 while the MQTT uplink is connected.",
             [({}, int(bool(uplink is not None and getattr(uplink, "connected", False))))])
    counts = sorted((requests.snapshot() if requests else {}).items())
    w.family("sms_agent_http_requests_total", "counter", "HTTP requests answered, by dialect and status code.",
             [({"dialect": dialect, "code": str(code)}, n) for (dialect, code), n in counts])
    return w.text()


def _lines(w: _Writer, core: Core) -> None:
    views = core.lines_view()

    def per_line(fn: Callable[[LineView], float | None]) -> list[tuple[dict[str, str], float | None]]:
        return [({"line": v.name}, fn(v)) for v in views]

    w.family("sms_agent_line_online", "gauge", "1 when the line's modem answers.",
             per_line(lambda v: int(v.online)))
    w.family("sms_agent_line_registered", "gauge", "1 when the line's SIM is registered on the network.",
             per_line(lambda v: int(v.registered)))
    w.family("sms_agent_line_usable", "gauge", "1 when the line can take a message now.",
             per_line(lambda v: int(v.usable)))
    w.family("sms_agent_line_state", "gauge", "1 for the line worker's current state.",
             [({"line": v.name, "state": s}, int(v.state == s)) for v in views for s in STATES])
    w.family("sms_agent_line_signal_dbm", "gauge", "Signal strength in dBm (absent while unknown).",
             per_line(lambda v: v.signal_dbm))
    w.family("sms_agent_line_sent_parts_total", "counter", "SMS parts the network accepted on the line.",
             per_line(lambda v: v.sent_parts))
    w.family("sms_agent_line_failed_parts_total", "counter", "SMS parts refused or timed out on the line.",
             per_line(lambda v: v.failed_parts))
    w.family("sms_agent_line_received_total", "counter", "Messages read from the line's modem.",
             per_line(lambda v: v.received))
    w.family("sms_agent_line_messages_today", "gauge", "Messages sent or failed on the line since local midnight.",
             [({"line": v.name, "result": r}, v.sent_today if r == "sent" else v.failed_today)
              for v in views for r in ("sent", "failed")])
    w.family("sms_agent_line_daily_sent_parts", "gauge", "Parts counted on the line's SIM today (its quota).",
             per_line(lambda v: v.daily_sent))
    w.family("sms_agent_line_daily_limit_parts", "gauge", "Daily quota of the line in parts; -1 unlimited.",
             per_line(lambda v: -1 if v.daily_limit is None else v.daily_limit))
