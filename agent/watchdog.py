"""Is every long-lived thread alive and making progress?  The answer behind systemd's WATCHDOG=1.

Each long-lived thread registers a :class:`Heartbeat` and calls
:meth:`Heartbeat.beat` whenever it makes progress, saying how long it may
legitimately take before the next beat: a line worker before each read of its
port (the read's timeout), a router at each turn, a thread about to wait for
work with no deadline says ``None``.  A line in recovery waits with bounded
timeouts too, so it counts as alive.

:meth:`Watchdog.check` names every thread that has died or is overdue (its
last promise plus ``grace`` has passed); the main thread pings systemd only
while the answer is empty, so a hung router, line worker, HTTP server, MQTT or
push thread stops the pings and systemd restarts the agent.  A change of the
answer is logged once, naming the threads.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

DEFAULT_GRACE = 30.0


class Heartbeat:
    """The progress of one thread (see the module doc)."""

    def __init__(self, name: str, alive: Callable[[], bool], clock: Callable[[], float]) -> None:
        self.name = name
        self._alive = alive
        self._clock = clock
        self._due: float | None = None  # None: waiting for work, no deadline
        self._since = clock()

    def beat(self, within: float | None) -> None:
        """Progress now; the next beat comes within ``within`` seconds (None: no deadline)."""
        now = self._clock()
        self._since = now
        self._due = None if within is None else now + within

    def overdue(self, now: float, grace: float) -> float | None:
        """Seconds since the last beat when the thread is past its promise plus
        ``grace``, else None."""
        due = self._due
        if due is None or now <= due + grace:
            return None
        return now - self._since

    @property
    def alive(self) -> bool:
        return self._alive()


class Watchdog:
    """The heartbeats of the agent's threads.  ``grace``: seconds allowed past a promise."""

    def __init__(self, *, grace: float = DEFAULT_GRACE, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self._beats: list[Heartbeat] = []
        self._lock = threading.Lock()
        self._last: tuple[str, ...] = ()

    def register(self, name: str, alive: Callable[[], bool]) -> Heartbeat:
        """A heartbeat for the thread named ``name``; ``alive`` says whether it still runs."""
        beat = Heartbeat(name, alive, self._clock)
        with self._lock:
            self._beats.append(beat)
        return beat

    def unregister(self, beat: Heartbeat) -> None:
        with self._lock:
            if beat in self._beats:
                self._beats.remove(beat)

    def check(self) -> list[str]:
        """The problems now, one phrase per thread (empty: all is well); a change is logged once."""
        now = self._clock()
        with self._lock:
            beats = list(self._beats)
        problems = []
        for b in beats:
            if not b.alive:
                problems.append(f"{b.name} has died")
                continue
            late = b.overdue(now, self.grace)
            if late is not None:
                problems.append(f"{b.name} has made no progress for {late:.0f}s")
        names = tuple(problems)
        if names != self._last:
            if problems:
                log.error("watchdog: %s; systemd is no longer told all is well", "; ".join(problems))
            else:
                log.warning("watchdog: every thread makes progress again")
            self._last = names
        return problems


class _NoBeat(Heartbeat):
    def __init__(self) -> None:
        super().__init__("", lambda: True, time.monotonic)

    def beat(self, within: float | None) -> None:
        pass


NO_BEAT: Heartbeat = _NoBeat()  # for parts built without a watchdog (tests, the CLI)
