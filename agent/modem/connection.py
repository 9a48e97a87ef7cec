"""Keeping one line's modem connected: open, initialise, check health, recover.

Runs in the line's thread, on its :class:`~agent.modem.line.Line`.
:meth:`Connection.connect` opens the port (at the path where the modem's IMEI
is found now, when its configured path is gone), initialises the modem,
publishes its identity and health and reads what it stored.

:mod:`agent.modem.recovery` holds the policy (the rungs, the backoff); this
class climbs it: :meth:`Connection.climb` tries the in-place rungs (AT ping,
re-initialisation, AT+CFUN=1,1) and falls back to closing the port;
:meth:`Connection.open_failed` counts failed (re)opens, schedules the next
one with backoff and quarantines the line after ``quarantine_after`` of
them; :meth:`Connection.port_lost` handles a vanished device (the first
reopen is immediate).  Between two (re)opens, :meth:`Connection.wait_to_reopen`
looks for signs that the modem is back (:mod:`agent.modem.watch`) and cuts the
wait short when it is.

A modem silent for a health interval is shown as not answering: the health
check asks ``AT`` first, early enough for that, and a command that waits
longer (a send) tells the line when it has heard nothing for that long.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Callable

from ..errors import CommandError, CommandInterrupted, CommandTimeout, ModemError, PortError
from . import recovery
from .channel import Channel
from .line import Line
from .port import Port
from .receiver import Receiver
from .session import Identity, Session, SimProblem
from .stored import StoredSends
from .watch import DeviceWatch, answers
from ..model import OFFLINE, READY, RECOVERING, STARTING

log = logging.getLogger(__name__)

Locate = Callable[[str, str], "str | None"]  # (imei, line name) -> path of the port where that modem is now


def _timed_out(exc: BaseException) -> bool:
    """True when ``exc`` says the modem did not answer a command (not: the agent stops)."""
    return isinstance(exc, CommandTimeout) and not isinstance(exc, CommandInterrupted)


def _silent(exc: BaseException) -> bool:
    """True when ``exc`` says the modem did not even answer ``AT``."""
    return _timed_out(exc) and getattr(exc, "command", "") == "AT"


def _reason(exc: BaseException) -> str:
    return f"modem not answering ({exc})" if _timed_out(exc) else str(exc)


class Connection:
    """The port and session of one line, kept usable.

    ``receiver`` is told about restarts and sweeps the storage at every health
    check; ``stored`` (send_mode = store) settles what an earlier run left at
    every initialisation; ``bounce(reason)`` answers every queued request at
    once when the line starts recovering; ``locate`` finds a modem by IMEI.
    """

    def __init__(self, line: Line, receiver: Receiver, stored: StoredSends | None, *,
                 bounce: Callable[[str], None], locate: Locate | None = None) -> None:
        self._line = line
        self._receiver = receiver
        self._stored = stored
        self._bounce = bounce
        self._locate = locate
        modems = line.modems
        self._backoff = recovery.Backoff(modems.reopen_backoff, modems.reopen_backoff_max,
                                         modems.quarantine_after, modems.quarantine_retry)
        self._known_imei = line.config.imei
        self._failed_opens = 0
        self._retake = False  # the next open follows a modem that came back: shown as a reopen
        self._silent = False  # the last (re)open failed because the modem did not answer AT
        self._watch = DeviceWatch(line.config.device, modems.scan)
        self._next_look = 0.0  # monotonic time of the next look at the device paths
        self._next_probe = 0.0  # ... and of the next AT to a silent modem, while waiting to reopen
        self._busy_state = READY  # the state before a long command went silent
        # An answering modem says OK to AT within this; the health check asks
        # this much early, so that a modem silent since its last answer is shown
        # as not answering within one health interval.
        self._liveness = min(modems.command_timeout, recovery.PROBE_TIMEOUT)
        self.reopen_at = 0.0  # monotonic time of the next (re)open attempt
        self.health_due = 0.0  # monotonic time of the next health check

    # --- connecting ------------------------------------------------------------------

    def _port_path(self) -> str:
        line = self._line
        path = line.config.device
        if self._locate is not None and self._known_imei and not os.path.exists(path):
            found = self._locate(self._known_imei, line.name)
            if found:
                log.info("%s: modem IMEI %s found at %s", line.name, self._known_imei, found)
                return found
        return path

    def _may_move(self) -> bool:
        """True when the modem can be looked for elsewhere (by its IMEI) when its path is gone."""
        return self._locate is not None and bool(self._known_imei)

    def connect(self) -> None:
        """Open the port and initialise the modem; on failure, close it and schedule
        the next attempt (a SIM that cannot be used: the line goes offline)."""
        line = self._line
        self._watch.rebase(self._may_move())
        path = self._port_path()
        again, self._retake = self._failed_opens > 0 or self._retake, False
        line.set(state=RECOVERING if again else STARTING, recovery_step=recovery.REOPEN if again else "",
                 device=path)
        port = Port(path, baudrate=line.config.baudrate, beat=lambda within: line.heartbeat.beat(within))
        modems = line.modems
        try:
            port.open()
            channel = Channel(port, on_urc=line.urcs.append, name=line.name, interrupt=line.interrupt,
                              on_silence=self._on_silence, silence_after=modems.health_interval)
            line.session = Session(channel, line=line.name, profile=line.config.profile, pin=line.config.pin,
                                   smsc=modems.smsc, timeout=modems.command_timeout,
                                   send_timeout=modems.send_timeout, stop=line.stop)
            self.initialise()
        except SimProblem as exc:
            hw = line.session.hardware if line.session else None
            line.close()
            self._silent = False
            self.reopen_at = line.clock() + max(modems.health_interval, self._backoff.delay(1))
            if hw is not None:
                line.set(manufacturer=hw.manufacturer, model=hw.model, firmware=hw.firmware, imei=hw.imei)
            line.error(str(exc), state=OFFLINE, recovery_step="", sim=str(exc), registered=False)
            log.warning("%s: %s", line.name, exc)
        except (ModemError, OSError) as exc:
            line.close()
            self._silent = _silent(exc)
            self.open_failed(f"{path}: {_reason(exc)}")

    def initialise(self) -> None:
        """Initialise the open modem, publish its identity and health, read what it stored."""
        line = self._line
        session = line.session
        assert session is not None
        ident: Identity = session.initialise()
        self._receiver.drop_resets()
        if ident.imei:
            self._known_imei = self._known_imei or ident.imei
        self._failed_opens = 0
        line.set(profile=session.profile.name, manufacturer=ident.manufacturer, model=ident.model,
                 firmware=ident.firmware, imei=ident.imei, imsi=ident.imsi, iccid=ident.iccid,
                 number=ident.number, sim="READY")
        self.check_health()
        if self._stored is not None:
            try:
                self._stored.settle(session.storage)
            except CommandError as exc:  # a modem refusing a read: settled at its next initialisation
                log.warning("%s: stored messages not settled now: %s", line.name, exc)
        line.set(state=READY, recovery_step="")
        log.info("%s: ready (ICCID %s, signal %s dBm, %s)", line.name, ident.iccid or "?",
                 line.state.signal_dbm, line.state.operator or "no operator")

    def check_health(self) -> None:
        """Ask the modem whether it answers; publish signal, registration and operator; sweep the storage."""
        line = self._line
        assert line.session is not None
        started = line.clock()
        line.session.ping(self._liveness)
        h = line.session.health()
        interval = line.modems.health_interval
        self.health_due = started + max(interval - self._liveness, interval / 2)
        line.set(rssi=h.rssi, signal_dbm=h.signal_dbm, registered=h.registered,
                 registration=h.registration, operator=h.operator)
        # A sweep of the storage catches messages whose +CMTI was lost (a
        # reset, a URC dropped by the modem): nothing stays on the SIM unread.
        self._receiver.sweep()

    def _on_silence(self, command: str, silent: bool) -> None:
        """The channel heard nothing for a health interval while waiting for
        ``command`` (a send may take that long, a hung modem takes forever): the
        line is shown as not answering until the modem speaks again."""
        line = self._line
        if silent:
            self._busy_state = line.state.state
            seconds = line.modems.health_interval
            log.warning("%s: nothing heard for %gs since %s", line.name, seconds, command)
            line.error(f"modem not answering: nothing heard for {seconds:g}s since {command}", state=RECOVERING)
        elif line.state.state == RECOVERING:
            log.info("%s: the modem speaks again", line.name)
            line.set(state=self._busy_state)

    # --- recovering ------------------------------------------------------------------

    def wait_to_reopen(self) -> float | None:
        """While the port is closed: None to (re)open now, else the seconds to wait before asking again.

        It is time at ``reopen_at`` (the backoff, the quarantine), or sooner
        when the modem is back: every ``WATCH_INTERVAL`` s the device paths are
        looked at, and a device that appeared or changed is opened at once, the
        backoff started afresh; a modem that went silent with its port still
        there is asked ``AT`` every ``PROBE_INTERVAL`` s and opened once it answers.
        """
        line = self._line
        now = line.clock()
        if now >= self.reopen_at:
            return None
        if now >= self._next_look:
            self._next_look = now + recovery.WATCH_INTERVAL
            found = self._watch.appeared(self._may_move())
            if found:
                log.info("%s: %s appeared; opening it now", line.name, found)
                self._failed_opens, self._retake = 0, True
                return None
        path = line.state.device
        if self._silent and now >= self._next_probe and os.path.exists(path):
            self._next_probe = now + recovery.PROBE_INTERVAL
            if answers(path, baudrate=line.config.baudrate, timeout=self._liveness,
                       beat=lambda within: line.heartbeat.beat(within)):
                log.info("%s: the modem at %s answers again; opening it now", line.name, path)
                self._retake = True
                return None
            now = line.clock()
        due = min(self.reopen_at, self._next_look, self._next_probe if self._silent else math.inf)
        return max(0.0, due - now)

    def open_failed(self, reason: str) -> None:
        """Count a failed (re)open and schedule the next, quarantining the line after too many."""
        line = self._line
        self._failed_opens += 1
        delay = self._backoff.delay(self._failed_opens)
        self.reopen_at = line.clock() + delay
        self._next_probe = line.clock() + recovery.PROBE_INTERVAL
        if self._backoff.quarantined(self._failed_opens):
            if line.state.state != OFFLINE:
                log.error("%s: quarantined after %d failed attempts (%s); retrying every %gs",
                          line.name, self._failed_opens, reason, delay)
            line.error(reason, state=OFFLINE, recovery_step=recovery.QUARANTINE)
        else:
            log.warning("%s: %s; reopening in %.2fs", line.name, reason, delay)
            line.error(reason, state=RECOVERING, recovery_step=recovery.REOPEN)

    def port_lost(self, exc: PortError) -> None:
        """The device vanished: close the port and reopen it at once."""
        line = self._line
        log.error("%s: port lost: %s", line.name, exc)
        line.close()
        self._silent = False
        line.error(f"port lost: {exc}", state=RECOVERING, recovery_step=recovery.REOPEN)
        self.open_failed(f"port lost: {exc}")
        # The first reopen is immediate: a USB glitch often heals at once.
        self.reopen_at = line.clock()

    def climb(self, exc: Exception) -> None:
        """Try the in-place remedies in order; fall back to closing the port."""
        line = self._line
        log.warning("%s: modem misbehaves (%s); recovering", line.name, exc)
        line.error(_reason(exc), state=RECOVERING)
        self._bounce(f"line recovering: {exc}")
        last: BaseException = exc
        for rung in recovery.rungs(port_lost=False):
            if line.stop.is_set() or line.session is None:
                return
            line.set(recovery_step=rung)
            try:
                if rung == recovery.PING:
                    line.session.channel.abort()
                    line.session.ping()
                    self.check_health()
                    line.set(state=READY, recovery_step="")
                elif rung == recovery.REINIT:
                    self.initialise()
                else:
                    self.restart_modem()
                log.info("%s: recovered by %s", line.name, rung)
                return
            except PortError as lost:
                self.port_lost(lost)
                return
            except (ModemError, SimProblem) as again:
                last = again
                log.warning("%s: %s did not help: %s", line.name, rung, again)
        line.close()
        self._silent = _silent(last)
        self.open_failed(f"modem not answering ({exc})")

    def restart_modem(self) -> None:
        """AT+CFUN=1,1, wait for the boot banner (at most ``reset_wait`` s), initialise.

        From ``PROBE_INTERVAL`` s on, the modem is asked ``AT`` every
        ``PROBE_INTERVAL`` s: one that answers (it restarted without a banner,
        or a silent modem that never got the command speaks again) is
        initialised at once.
        """
        line = self._line
        assert line.session is not None
        try:
            line.session.reset_modem(timeout=self._liveness)
        except CommandTimeout:
            pass  # many modems reboot before they answer
        deadline = line.clock() + line.modems.reset_wait
        probe_at = line.clock() + recovery.PROBE_INTERVAL
        while True:
            line.wakeup.clear()  # requests wait in the inbox; a stop still wakes us
            now = line.clock()
            left = deadline - now
            if self._receiver.restarted or line.stop.is_set() or left <= 0:
                break
            if now >= probe_at:
                probe_at = now + recovery.PROBE_INTERVAL
                try:
                    line.session.cmd("AT", timeout=min(self._liveness, left))
                    break
                except CommandError:
                    break  # an error final is an answer too
                except CommandTimeout:
                    continue
            line.session.channel.pump(min(left, probe_at - now), line.wakeup)
            self._receiver.note_resets()
        self._receiver.restarted = False
        self.initialise()
