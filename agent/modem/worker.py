"""The line worker: one thread per modem, the only owner of its serial port.

Other threads talk to a worker through a bounded inbox and futures
(:meth:`LineWorker.submit`, :meth:`ussd`, :meth:`reset_modem`) and read its
:attr:`state` snapshot; they never touch the port.  What the modem receives
(SMS, status reports, calls) goes to a :class:`~agent.model.LineEvents`
sink, called in this thread; a received message is deleted from the modem
only after the sink returned, so nothing is lost if the box dies in between.

The loop: connect (open + initialise + read what is stored), then serve:
act on unsolicited codes, check health every ``health_interval`` seconds,
take one request from the inbox, else wait in ``select`` on the port and the
inbox's wake-up pipe.  When the modem misbehaves, the recovery ladder in
:mod:`agent.modem.recovery` is climbed.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

from ..config import LineConfig, ModemsConfig
from ..errors import CommandError, LineOffline, ModemError, PortError
from ..watchdog import NO_BEAT, Heartbeat
from . import recovery
from .channel import Channel, Urc
from .port import Port, Wakeup
from .ladder import Ladder
from .receiver import Receiver
from .sender import Sender
from .stored import StoredSends
from .session import Identity, Session, SimProblem
from ..model import (BUSY, DISABLED, OFFLINE, READY, RECOVERING, RETRY, SENT, STARTING, STOPPED, LineEvents,
                    LineState, OutgoingSms, SendResult, UssdReply)
from .ussd import UssdTimeout, UssdWaiter

log = logging.getLogger(__name__)

STEP_ALLOWANCE = 60.0  # seconds of work between two bounded waits of the line's thread
Locate = Callable[[str, str], "str | None"]  # (imei, line name) -> path of the port where that modem is now


class _Request:
    __slots__ = ("kind", "payload", "future")

    def __init__(self, kind: str, payload: Any) -> None:
        self.kind = kind
        self.payload = payload
        self.future: Future[Any] = Future()


class LineWorker:
    """Drives one modem line.  Construct, :meth:`start`, and stop by setting the
    shared ``stop`` event then calling :meth:`wake` and :meth:`join`."""

    def __init__(
        self,
        line: LineConfig,
        modems: ModemsConfig,
        events: LineEvents,
        stop: threading.Event,
        *,
        locate: Locate | None = None,
        inbox_size: int = 16,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.line = line
        self.modems = modems
        self.events = events
        self._stop = stop
        self._locate = locate
        self._clock = clock
        self._now = now
        self._inbox: queue.Queue[_Request] = queue.Queue(maxsize=inbox_size)
        self._wakeup = Wakeup()
        self._interrupt = Wakeup()  # set only when stopping: cuts a command's wait short
        self._backoff = recovery.Backoff(modems.reopen_backoff, modems.reopen_backoff_max,
                                         modems.quarantine_after, modems.quarantine_retry)
        self._state = LineState(name=line.name, device=line.device, state=STARTING if line.enabled else DISABLED)
        self._enabled = line.enabled
        self._session: Session | None = None
        self._urcs: deque[Urc] = deque()
        self._failed_opens = 0
        self._reopen_at = 0.0
        self._health_due = 0.0
        self._reinit_needed = False
        self._known_imei = line.imei
        store_mode = line.send_mode == "store"
        self._receiver = Receiver(self, keep_stored_submits=store_mode)
        self._stored = StoredSends(line.name, events, now=now) if store_mode else None
        self._sender = Sender(self)
        self._ladder = Ladder(self)
        self._ussd = UssdWaiter()
        self.heartbeat: Heartbeat = NO_BEAT  # the watchdog's, set before start()
        self.started = threading.Event()  # set once the line is ready, or has given up for now
        if not line.enabled:
            self.started.set()
        self._thread = threading.Thread(target=self._run, name=f"modem-{line.name}", daemon=True)

    # --- the API for other threads -----------------------------------------

    @property
    def name(self) -> str:
        return self.line.name

    @property
    def state(self) -> LineState:
        """The latest snapshot (safe from any thread)."""
        return self._state

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Make the thread look at its inbox and the stop event now.

        Once the shared stop event is set, this also cuts short a command
        waiting for its answer (a send in flight is then reported in doubt).
        """
        if self._stop.is_set():
            self._interrupt.set()
        self._wakeup.set()

    @property
    def alive(self) -> bool:
        """True while the line's thread runs."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def submit(self, msg: OutgoingSms) -> Future[SendResult]:
        """Queue one message for this line; its future gets the :class:`SendResult`.

        Raise LineOffline at once when the inbox is full or the line is stopping.
        """
        return self._put("send", msg)

    def ussd(self, code: str, timeout: float = 30.0) -> Future[UssdReply]:
        """Run a USSD code (``*100#``); the future gets the network's :class:`UssdReply`."""
        return self._put("ussd", (code, timeout))

    def forget_stored(self, locations: tuple[str, ...]) -> None:
        """send_mode = store: delete these copies of a message whose outcome is on
        disk.  Raise LineOffline when the line cannot take the request now (the
        copies are then swept at its next initialisation)."""
        self._put("forget", locations)

    def reset_modem(self) -> Future[None]:
        """Restart the modem (AT+CFUN=1,1) and initialise it again."""
        return self._put("reset", None)

    def set_enabled(self, enabled: bool) -> None:
        """Enable or disable the line; a disabled line closes its port and takes no work."""
        self._enabled = enabled
        self.wake()

    def _put(self, kind: str, payload: Any) -> Future[Any]:
        if self._stop.is_set() or not self._thread.is_alive():
            raise LineOffline(f"line {self.name} is not running", line=self.name)
        req = _Request(kind, payload)
        try:
            self._inbox.put_nowait(req)
        except queue.Full:
            raise LineOffline(f"line {self.name} inbox is full", line=self.name) from None
        self._wakeup.set()
        return req.future

    # --- state ---------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        self._state = replace(self._state, updated_at=self._now(), **changes)
        if self._state.state in (READY, OFFLINE, DISABLED, STOPPED):
            self.started.set()
        try:
            self.events.on_state(self._state)
        except Exception:
            log.exception("%s: state sink failed", self.name)

    def _error(self, text: str, **changes: Any) -> None:
        self._set(last_error=text, last_error_at=self._now(), **changes)

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                # Each step's waits are bounded and tell the heartbeat their bounds
                # (the port's reads, _wait); between them a step has this long.
                self.heartbeat.beat(STEP_ALLOWANCE)
                # Clear before looking at the stop flag and the inbox, so that
                # a wake-up that comes after the look is never lost.
                self._wakeup.clear()
                if self._stop.is_set():
                    break
                if not self._enabled:
                    self._disabled()
                elif self._session is None:
                    self._offline_step()
                else:
                    try:
                        self._serve()
                    except PortError as exc:
                        self._ladder.port_lost(exc)
                    except (ModemError, SimProblem) as exc:
                        self._ladder.climb(exc)
                    except Exception as exc:
                        # A bug or an answer nobody foresaw: log it with its
                        # traceback, then treat the modem as misbehaving.
                        log.exception("%s: unexpected error", self.name)
                        self._ladder.climb(exc)
        except Exception:
            log.exception("%s: worker crashed", self.name)
        finally:
            self._close()
            self._bounce_all("line stopped", stopping=True)
            self._set(state=STOPPED)
            self._wakeup.close()
            self._interrupt.close()

    def _wait(self, timeout: float | None) -> None:
        """Sleep until woken (inbox, stop, enable) or ``timeout`` seconds pass."""
        if self._stop.is_set():
            return
        self.heartbeat.beat(timeout)
        select.select([self._wakeup.fileno()], [], [], timeout)

    def _disabled(self) -> None:
        if self._session is not None:
            self._close()
        if self._state.state != DISABLED:
            self._set(state=DISABLED, recovery_step="")
        self._bounce_all("line disabled")
        self._wait(None)

    def _offline_step(self) -> None:
        """Not connected: hand back any work, wait for the next reopen time, try once."""
        self._bounce_all(self._state.last_error or "line not connected")
        delay = self._reopen_at - self._clock()
        if delay > 0:
            self._wait(delay)
            return
        self._connect()

    def _serve(self) -> None:
        assert self._session is not None
        self._receiver.handle_urcs()
        if self._reinit_needed:
            self._reinit_needed = False
            log.warning("%s: the modem restarted by itself; initialising again", self.name)
            self._initialise()
            return
        if self._clock() >= self._health_due:
            self._check_health()
        try:
            req = self._inbox.get_nowait()
        except queue.Empty:
            timeout = max(0.0, min(self._health_due, self._receiver.due()) - self._clock())
            self._session.channel.pump(timeout, self._wakeup)
            return
        self._execute(req)

    # --- connecting ------------------------------------------------------------------

    def _port_path(self) -> str:
        path = self.line.device
        if self._locate is not None and self._known_imei and not os.path.exists(path):
            found = self._locate(self._known_imei, self.name)
            if found:
                log.info("%s: modem IMEI %s found at %s", self.name, self._known_imei, found)
                return found
        return path

    def _connect(self) -> None:
        path = self._port_path()
        self._set(state=STARTING if self._failed_opens == 0 else RECOVERING,
                  recovery_step="" if self._failed_opens == 0 else recovery.REOPEN, device=path)
        port = Port(path, baudrate=self.line.baudrate, beat=lambda within: self.heartbeat.beat(within))
        try:
            port.open()
            channel = Channel(port, on_urc=self._urcs.append, name=self.name, interrupt=self._interrupt)
            self._session = Session(channel, line=self.name, profile=self.line.profile, pin=self.line.pin,
                                    smsc=self.modems.smsc, timeout=self.modems.command_timeout,
                                    send_timeout=self.modems.send_timeout, stop=self._stop)
            self._initialise()
        except SimProblem as exc:
            hw = self._session.hardware if self._session else None
            self._close()
            self._reopen_at = self._clock() + max(self.modems.health_interval, self._backoff.delay(1))
            if hw is not None:
                self._set(manufacturer=hw.manufacturer, model=hw.model, firmware=hw.firmware, imei=hw.imei)
            self._error(str(exc), state=OFFLINE, recovery_step="", sim=str(exc), registered=False)
            log.warning("%s: %s", self.name, exc)
        except (ModemError, OSError) as exc:
            self._close()
            self._ladder.open_failed(f"{path}: {exc}")

    def _initialise(self) -> None:
        """Initialise the open modem, publish its identity and health, read what it stored."""
        assert self._session is not None
        ident: Identity = self._session.initialise()
        self._receiver.drop_resets()
        if ident.imei:
            self._known_imei = self._known_imei or ident.imei
        self._failed_opens = 0
        self._set(profile=self._session.profile.name, manufacturer=ident.manufacturer, model=ident.model,
                  firmware=ident.firmware, imei=ident.imei, imsi=ident.imsi, iccid=ident.iccid,
                  number=ident.number, sim="READY")
        self._check_health()
        if self._stored is not None:
            try:
                self._stored.settle(self._session)
            except CommandError as exc:  # a modem refusing a read: settled at its next initialisation
                log.warning("%s: stored messages not settled now: %s", self.name, exc)
        self._set(state=READY, recovery_step="")
        log.info("%s: ready (ICCID %s, signal %s dBm, %s)", self.name, ident.iccid or "?",
                 self._state.signal_dbm, self._state.operator or "no operator")

    def _check_health(self) -> None:
        assert self._session is not None
        h = self._session.health()
        self._health_due = self._clock() + self.modems.health_interval
        self._set(rssi=h.rssi, signal_dbm=h.signal_dbm, registered=h.registered,
                  registration=h.registration, operator=h.operator)
        # A sweep of the storage catches messages whose +CMTI was lost (a
        # reset, a URC dropped by the modem): nothing stays on the SIM unread.
        self._receiver.sweep()

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.channel.port.close()

    # --- requests ----------------------------------------------------------------------------

    def _bounce_all(self, reason: str, *, stopping: bool = False) -> None:
        """Answer every queued request at once: the line cannot serve it now
        (``stopping``: the agent stops; a send never started is ``interrupted``)."""
        while True:
            try:
                req = self._inbox.get_nowait()
            except queue.Empty:
                return
            if req.kind == "send":
                req.future.set_result(SendResult(req.payload.id, self.name, RETRY, error=reason, at=self._now(),
                                                 interrupted=stopping))
            else:
                req.future.set_exception(LineOffline(reason, line=self.name))

    def _execute(self, req: _Request) -> None:
        if req.future.done():  # cancelled by the caller while queued
            return
        if req.kind == "send":
            self._set(state=BUSY)
            assert self._session is not None
            result, raise_after = self._sender.send(self._session, req.payload)
            if self._stored is not None:
                self._stored.sent(result)
            req.future.set_result(result)
            if raise_after is not None:
                raise raise_after
            self._set(state=READY, last_send_at=result.at if result.outcome == SENT else self._state.last_send_at)
        elif req.kind == "ussd":
            code, timeout = req.payload
            self._set(state=BUSY)
            try:
                req.future.set_result(self._ussd.run(self._session, self._urcs, code, timeout, self._clock))
            except (ValueError, CommandError, UssdTimeout) as exc:
                # A USSD the network leaves unanswered says nothing about the modem.
                req.future.set_exception(exc)
            finally:
                self._set(state=READY)
        elif req.kind == "forget":
            if self._stored is not None:
                self._stored.forget(self._session, req.payload)
            req.future.set_result(None)
        elif req.kind == "reset":
            try:
                self._set(state=RECOVERING, recovery_step=recovery.RESET)
                self._ladder.restart_modem()
                req.future.set_result(None)
            except BaseException as exc:
                req.future.set_exception(exc)
                raise
