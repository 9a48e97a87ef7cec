"""The recovery ladder of a line, as a pure policy.

When a modem stops behaving (a command timed out, garbage came back, the
port vanished), the worker climbs a ladder of ever heavier remedies and
stops at the first that brings an ``AT`` -> ``OK`` back:

1. ``ping``      ``AT`` once more (a lost byte, a stuck prompt escaped by ESC);
2. ``reinit``    the whole initialisation again (echo, PDU mode, CNMI...);
3. ``reset``     ``AT+CFUN=1,1``: the modem restarts itself;
4. ``reopen``    close the port and open it again, with exponential backoff
                 (a USB device that was unplugged comes back here, possibly
                 at another path found by its IMEI);
5. ``quarantine`` after ``quarantine_after`` failed reopens the line is
                 offline: its queued work is handed back to be routed to other
                 lines, and a reopen is tried every ``quarantine_retry``
                 seconds so that a repaired modem is taken back without a
                 restart of the agent.

A lost port (PortError) skips rungs 1-3: there is nothing to talk to.

The waits of the ladder are not waited out when the modem comes back
(see :mod:`agent.modem.watch`): while a line waits to reopen (rungs 4-5) its
worker looks at the device paths every :data:`WATCH_INTERVAL` seconds (the
line's path, and the ``scan`` globs when the modem may come back elsewhere)
and reopens at once, with the backoff started afresh, when a device
appeared or changed; a modem that went silent with its port still there is
asked ``AT`` every :data:`PROBE_INTERVAL` seconds and reopened as soon as it
answers.  Every ``AT`` of a ping is repeated each second within its timeout,
and the reset's wait for the boot banner asks ``AT`` too, so that a modem
answering again is heard within seconds on any rung.
"""

from __future__ import annotations

from dataclasses import dataclass

PING = "ping"
REINIT = "reinit"
RESET = "reset"
REOPEN = "reopen"
QUARANTINE = "quarantine"

IN_PLACE = (PING, REINIT, RESET)

WATCH_INTERVAL = 2.0  # seconds between looks at the device paths of a line waiting to reopen
PROBE_INTERVAL = 3.0  # seconds between the AT probes of a silent modem waiting to reopen
PROBE_TIMEOUT = 2.0  # an answering modem says OK to AT well within this


@dataclass(frozen=True)
class Backoff:
    """Waits between reopen attempts: ``base * 2**n`` capped at ``maximum``,
    then ``quarantine_retry`` once ``quarantine_after`` attempts have failed."""

    base: float = 1.0
    maximum: float = 60.0
    quarantine_after: int = 5
    quarantine_retry: float = 300.0

    def quarantined(self, failed_attempts: int) -> bool:
        return failed_attempts >= self.quarantine_after

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the next reopen, given how many reopens failed in a row."""
        if failed_attempts <= 0:
            return 0.0
        if self.quarantined(failed_attempts):
            return self.quarantine_retry
        return min(self.base * (2 ** (failed_attempts - 1)), self.maximum)


def rungs(port_lost: bool) -> tuple[str, ...]:
    """The in-place remedies to try, in order, before closing the port."""
    return () if port_lost else IN_PLACE
