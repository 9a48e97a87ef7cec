"""One binary door put together: its listener, the intake of submissions, the outbox
feed of its sessions, and the record of failed logins.

Failed binds (wrong system_id/password, CMPP authenticator) are logged once per
client address per minute, and from the third failure of an address within a
minute its answers come a second late (:meth:`Door.login_failed`), so guessing
a password is slow while a client with the right one is never held up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import tzinfo

from ..config_doors import DoorTimers
from ..core import Core
from ..metrics_recorder import Recorder
from ..store.queue import Store
from .feed import Feed
from .intake import Intake
from .listener import Conn, Listener, Session

log = logging.getLogger(__name__)

FAILURE_WINDOW = 60.0
FAILURES_FREE = 2  # failures of an address within the window answered at once
FAILURE_DELAY = 1.0
SWEEP_SECONDS = 30.0  # how often the door clears the outbox items it will never send


class Door:
    """Door ``name`` ('smpp', 'cmpp'): accept on host:port, a session per connection
    made by ``session(door, conn, now)``."""

    def __init__(self, name: str, host: str, port: int, timers: DoorTimers, core: Core, store: Store,
                 stop: threading.Event, session: Callable[["Door", Conn, float], Session], *,
                 tz: tzinfo | None, recorder: Recorder | None = None) -> None:
        self.name = name
        self._recorder = recorder or Recorder()
        self.timers = timers
        self.core = core
        self.tz = tz
        self.feed = Feed(store, core, name, tz=tz)
        self.intake = Intake(core, name, tz=tz, parts_timeout=timers.parts_timeout)
        self._failures: dict[str, list[float]] = {}
        self._logged: dict[str, float] = {}
        self.listener = Listener(name, host, port, lambda conn: session(self, conn, time.monotonic()), stop,
                                 max_sessions=timers.max_sessions, idle=self._idle,
                                 unbind_timeout=timers.unbind_timeout, counted=self._counted)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.address
        return str(host), int(port)

    def start(self) -> None:
        self.listener.start()

    def stop(self, deadline: float) -> None:
        self.listener.stop_now(deadline)

    @property
    def alive(self) -> bool:
        return self.listener.is_alive()

    def wake(self) -> None:
        """New outbox events may be there (any thread)."""
        self.feed.dirty = True
        self.listener.wake()

    def status(self) -> dict[str, object]:
        return {"listen": f"{self.address[0]}:{self.address[1]}", "sessions": self.listener.sessions,
                "delivered": self.feed.delivered}

    def answered(self, status: int, started: float, now: float) -> None:
        """A submission read at ``started`` was answered with ``status`` at ``now`` (monotonic), for /metrics."""
        self._recorder.door_submits.inc(self.name, f"0x{status:X}" if status else "0")
        self._recorder.door_accept.observe(now - started, self.name)

    def _counted(self, sessions: int) -> None:
        self._recorder.door_sessions[self.name] = sessions

    def login_failed(self, peer: str, what: str) -> float:
        """A failed bind from ``peer`` ('host:port'); return the seconds to wait before answering."""
        host = peer.rpartition(":")[0]
        now = time.monotonic()
        recent = [t for t in self._failures.get(host, []) if now - t < FAILURE_WINDOW]
        recent.append(now)
        self._failures[host] = recent[-20:]
        if now - self._logged.get(host, -FAILURE_WINDOW) >= FAILURE_WINDOW:
            self._logged[host] = now
            log.warning("%s: login refused from %s: %s (further failures from there are not logged for a minute)",
                        self.name, host, what)
        if len(self._failures) > 1000:  # forget the quiet ones
            self._failures = {h: ts for h, ts in self._failures.items() if now - ts[-1] < FAILURE_WINDOW}
        return FAILURE_DELAY if len(recent) > FAILURES_FREE else 0.0

    def _idle(self, now: float) -> float:
        """The door's own timer: long messages whose parts stopped coming are sent as they are,
        and outbox items the door will never send are cleared (also with no receiver bound)."""
        self.intake.flush()
        try:
            self.feed.sweep()
        except Exception:  # the database said no: the next tick tries again
            log.exception("%s: the outbox could not be swept", self.name)
        return now + min(SWEEP_SECONDS, self.timers.parts_timeout / 4)
