"""What the parts of one line's worker share: its settings, its state, its open session.

A :class:`Line` is handed to every part of a line's worker (the sender, the
receiver, the connection) and used only in the line's thread, except
:attr:`Line.state` and :attr:`Line.started`: other threads read the state
snapshot (replaced whole on every change, never mutated) and wait on the
event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from ..config import LineConfig, ModemsConfig
from ..watchdog import NO_BEAT, Heartbeat
from .channel import Urc
from .port import Wakeup
from .session import Session
from ..model import DISABLED, OFFLINE, READY, STARTING, STOPPED, LineEvents, LineState

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(eq=False)
class Line:
    """One modem line as its worker's parts see it.

    ``stop`` is the agent's shared stop event; ``clock`` is monotonic, ``now``
    gives aware datetimes for records.  :attr:`session` is the open AT session
    (None while the port is closed); :attr:`urcs` holds the unsolicited codes
    the channel read and nobody has acted on yet.  :attr:`wakeup` wakes the
    line's thread (a request, a stop); :attr:`interrupt` is set only when
    stopping and cuts a command's wait short.  :attr:`heartbeat` is the
    watchdog's, told the bound of every wait.
    """

    config: LineConfig
    modems: ModemsConfig
    events: LineEvents
    stop: threading.Event
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utc_now
    session: Session | None = None
    urcs: deque[Urc] = field(default_factory=deque)
    wakeup: Wakeup = field(default_factory=Wakeup)
    interrupt: Wakeup = field(default_factory=Wakeup)
    heartbeat: Heartbeat = NO_BEAT
    started: threading.Event = field(default_factory=threading.Event)  # ready, or given up for now
    state: LineState = field(init=False)

    def __post_init__(self) -> None:
        enabled = self.config.enabled
        self.state = LineState(name=self.config.name, device=self.config.device,
                               state=STARTING if enabled else DISABLED)
        if not enabled:
            self.started.set()

    @property
    def name(self) -> str:
        return self.config.name

    def set(self, **changes: Any) -> None:
        """Publish a new state snapshot with ``changes`` (LineState fields) and tell the sink.

        A sink that raises is logged; the state is changed all the same.
        """
        self.state = replace(self.state, updated_at=self.now(), **changes)
        if self.state.state in (READY, OFFLINE, DISABLED, STOPPED):
            self.started.set()
        try:
            self.events.on_state(self.state)
        except Exception:
            log.exception("%s: state sink failed", self.name)

    def error(self, text: str, **changes: Any) -> None:
        """:meth:`set` with ``text`` as the last error, stamped now."""
        self.set(last_error=text, last_error_at=self.now(), **changes)

    def close(self) -> None:
        """Close the port of the open session, if any; :attr:`session` is None after."""
        session, self.session = self.session, None
        if session is not None:
            session.channel.port.close()
