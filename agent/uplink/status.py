"""The JSON the MQTT uplink publishes about the box: ``status`` and ``lines/<line>``.

Functions over :class:`~agent.core.Core` (read-only: no port is touched,
a few cheap queries), and :class:`StatePublisher`, which
decides when they go out; no MQTT here.

``lines/<line>``::

    {"line": "sim1", "index": 1, "state": "ready", "online": true,
     "registered": true, "registration": "home", "signal_dbm": -71,
     "operator": "CHINA MOBILE", "iccid_tail": "123456", "provider": "",
     "usable": true, "daily_left": -1, "total_left": 940, "last_error": ""}

``registration`` is ``home``, ``roaming``, ``searching``, ``denied``,
``none``, ``unknown``, or null before the modem said; quotas left count SMS
parts, -1 is unlimited.

``status``::

    {"box": "branch-7", "version": "0.1.0", "started": "2024-05-01T08:00:00+08:00",
     "uptime": 3600, "at": "2024-05-01T09:00:00+08:00",
     "queue": {"unsent": 0, "sending": 0, "sent": 12, "failed": 1,
               "sent_today": 12, "failed_today": 1},
     "lines": {"total": 4, "online": 4, "registered": 4, "usable": 3, "disabled": 0},
     "outbox": {"mqtt": {"pending": 0, "dropped": 0}, "goip-result": {...}},
     "mqtt": {"connected_since": "2024-05-01T08:00:01+08:00", "published": 40, "backlog": 0,
              "dropped": 0, "inflight": 0, "last_error": null}}

``outbox`` is every destination's backlog (MQTT and webhooks); ``dropped``
counts events given up (too old, over the bound), across restarts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..core import Core

LINES_EVERY, STATUS_EVERY = 1.0, 5.0  # seconds between checks for a change
ICCID_TAIL = 6
VOLATILE = ("uptime", "at")  # status keys that change without anything happening

_REGISTRATION = {0: "none", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming",
                 6: "home", 7: "roaming"}  # 6/7: "SMS only" variants (3GPP 27.007)
_QUEUE = {"U": "unsent", "Q": "sending", "S": "sent", "F": "failed", "sent_today": "sent_today",
          "failed_today": "failed_today"}


def _left(value: int | None) -> int:
    return -1 if value is None else value


def lines(core: Core) -> dict[str, dict[str, Any]]:
    """Every configured line's ``lines/<line>`` object, by line name, in configuration order."""
    out = {}
    for line in core.lines_view(counts_today=False):  # polled every second: no message counts
        reg = line.registration
        out[line.name] = {
            "line": line.name, "index": line.index, "state": line.state, "online": line.online,
            "registered": line.registered, "registration": None if reg is None else _REGISTRATION.get(reg, "unknown"),
            "signal_dbm": line.signal_dbm, "operator": line.operator,
            "iccid_tail": line.iccid[-ICCID_TAIL:] if line.iccid else "", "provider": line.provider,
            "usable": line.usable, "daily_left": _left(line.daily_left), "total_left": _left(line.total_left),
            "last_error": line.last_error}
    return out


def status(core: Core, *, box_id: str, version: str, started: datetime, uptime: float,
           mqtt: dict[str, Any], line_objects: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``status`` object.  ``mqtt`` is the uplink's own figures; ``line_objects``
    the result of :func:`lines` when the caller has it already."""
    objs = lines(core) if line_objects is None else line_objects
    depths = core.queue_depths()
    outbox = {name: {"pending": s.get("pending", 0), "dropped": s.get("dropped", 0)}
              for name, s in core.outbox_stats().items()}
    return {
        "box": box_id, "version": version, "started": _local(started), "uptime": int(uptime),
        "at": _local(datetime.now().astimezone()),
        "queue": {name: depths.get(key, 0) for key, name in _QUEUE.items()},
        "lines": {"total": len(objs), "online": sum(o["online"] for o in objs.values()),
                  "registered": sum(o["registered"] for o in objs.values()),
                  "usable": sum(o["usable"] for o in objs.values()),
                  "disabled": sum(o["state"] == "disabled" for o in objs.values())},
        "outbox": outbox,
        "mqtt": mqtt,
    }


class StatePublisher:
    """Decides when ``lines/<line>`` and ``status`` go out through ``retain(topic, object)``:
    a line when its object changed (checked every :data:`LINES_EVERY` s), the status
    when it :func:`changed` (checked every ``status_every`` s), and everything every
    ``interval`` s and after :meth:`refresh`.  ``lines`` and ``status`` build the
    objects; ``clock`` is monotonic seconds.  Used by one thread."""

    def __init__(self, lines: Callable[[], dict[str, dict[str, Any]]], status: Callable[[], dict[str, Any]],
                 retain: Callable[[str, dict[str, Any]], None], *, interval: float,
                 status_every: float = STATUS_EVERY, clock: Callable[[], float]) -> None:
        self._lines = lines
        self._status = status
        self._retain = retain
        self._interval = interval
        self._status_every = status_every
        self._clock = clock
        self._forced = True
        self._last_lines: dict[str, dict[str, Any]] = {}
        self._last_status: dict[str, Any] | None = None
        self._due_lines = self._due_status = self._due_all = 0.0

    def refresh(self) -> None:
        """Publish everything at the next turn (a new connection: the retained copies may be gone)."""
        self._forced = True

    def turn(self) -> float:
        """Publish what is due; return the seconds until the next turn is due."""
        now = self._clock()
        forced = self._forced or now >= self._due_all
        if forced:
            self._forced = False
            self._due_all = now + self._interval
        if forced or now >= self._due_lines:
            self._due_lines = now + LINES_EVERY
            lines = self._lines()
            for name, obj in lines.items():
                if forced or obj != self._last_lines.get(name):
                    self._retain(f"lines/{name}", obj)
            self._last_lines = lines
            if forced or now >= self._due_status:
                self._due_status = now + self._status_every
                current = self._status()
                if forced or changed(self._last_status, current):
                    self._retain("status", current)
                self._last_status = current
        return max(0.0, min(self._due_lines, self._due_all) - now)


def changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when ``new`` says something ``old`` did not (the clock aside)."""
    if old is None:
        return True
    return {k: v for k, v in old.items() if k not in VOLATILE} != {k: v for k, v in new.items() if k not in VOLATILE}


def _local(when: datetime) -> str:
    """ISO 8601 with the UTC offset: the centre may be in another time zone."""
    return when.astimezone().isoformat(timespec="seconds")
