"""The recovery ladder of a line, applied: part of the line worker (runs in its thread).

:mod:`agent.modem.recovery` holds the policy (the rungs, the backoff); this
class climbs it on the worker's session: ``climb`` tries the in-place rungs
(AT ping, re-initialisation, AT+CFUN=1,1) and falls back to closing the port;
``open_failed`` counts failed (re)opens, schedules the next one with backoff
and quarantines the line after ``quarantine_after`` of them; ``port_lost``
handles a vanished device (the first reopen is immediate).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import CommandTimeout, ModemError, PortError
from . import recovery
from .session import SimProblem
from ..model import OFFLINE, READY, RECOVERING

if TYPE_CHECKING:
    from .worker import LineWorker

log = logging.getLogger(__name__)


class Ladder:
    def __init__(self, worker: LineWorker) -> None:
        self.w = worker

    def open_failed(self, reason: str) -> None:
        w = self.w
        w._failed_opens += 1
        delay = w._backoff.delay(w._failed_opens)
        w._reopen_at = w._clock() + delay
        if w._backoff.quarantined(w._failed_opens):
            if w._state.state != OFFLINE:
                log.error("%s: quarantined after %d failed attempts (%s); retrying every %gs",
                          w.name, w._failed_opens, reason, delay)
            w._error(reason, state=OFFLINE, recovery_step=recovery.QUARANTINE)
        else:
            log.warning("%s: %s; reopening in %.2fs", w.name, reason, delay)
            w._error(reason, state=RECOVERING, recovery_step=recovery.REOPEN)

    def port_lost(self, exc: PortError) -> None:
        w = self.w
        log.error("%s: port lost: %s", w.name, exc)
        w._close()
        w._error(f"port lost: {exc}", state=RECOVERING, recovery_step=recovery.REOPEN)
        self.open_failed(f"port lost: {exc}")
        # The first reopen is immediate: a USB glitch often heals at once.
        w._reopen_at = w._clock()

    def climb(self, exc: Exception) -> None:
        """Try the in-place remedies in order; fall back to closing the port."""
        w = self.w
        log.warning("%s: modem misbehaves (%s); recovering", w.name, exc)
        w._error(str(exc), state=RECOVERING)
        w._bounce_all(f"line recovering: {exc}")
        for rung in recovery.rungs(port_lost=False):
            if w._stop.is_set() or w._session is None:
                return
            w._set(recovery_step=rung)
            try:
                if rung == recovery.PING:
                    w._session.channel.abort()
                    w._session.ping()
                    w._check_health()
                    w._set(state=READY, recovery_step="")
                elif rung == recovery.REINIT:
                    w._initialise()
                else:
                    self.restart_modem()
                log.info("%s: recovered by %s", w.name, rung)
                return
            except PortError as lost:
                self.port_lost(lost)
                return
            except (ModemError, SimProblem) as again:
                log.warning("%s: %s did not help: %s", w.name, rung, again)
        w._close()
        self.open_failed(f"modem not answering ({exc})")

    def restart_modem(self) -> None:
        """AT+CFUN=1,1, wait for the boot banner (at most ``reset_wait`` s), initialise."""
        w = self.w
        assert w._session is not None
        try:
            w._session.reset_modem()
        except CommandTimeout:
            pass  # many modems reboot before they answer
        deadline = w._clock() + w.modems.reset_wait
        while True:
            w._wakeup.clear()  # requests wait in the inbox; a stop still wakes us
            left = deadline - w._clock()
            if w._reinit_needed or w._stop.is_set() or left <= 0:
                break
            w._session.channel.pump(left, w._wakeup)
            w._receiver.note_resets()
        w._reinit_needed = False
        w._initialise()
