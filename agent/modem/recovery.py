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
"""

from __future__ import annotations

from dataclasses import dataclass

PING = "ping"
REINIT = "reinit"
RESET = "reset"
REOPEN = "reopen"
QUARANTINE = "quarantine"

IN_PLACE = (PING, REINIT, RESET)


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
