"""The line worker: one thread per modem, the only owner of its serial port.

Other threads talk to a worker through a bounded inbox and futures
(:meth:`LineWorker.submit`, :meth:`ussd`, :meth:`reset_modem`) and read its
:attr:`state` snapshot; they never touch the port.  What the modem receives
(SMS, status reports, calls) goes to a :class:`~agent.model.LineEvents`
sink, called in this thread; a received message is deleted from the modem
only after the sink returned, so nothing is lost if the box dies in between.

The loop: connect (open + initialise + read what is stored, see
:mod:`agent.modem.connection`), then serve: act on unsolicited codes (see
:mod:`agent.modem.receiver`), check health every ``health_interval`` seconds,
take one request from the inbox, else wait in ``select`` on the port and the
inbox's wake-up pipe.  When the modem misbehaves, the connection climbs the
recovery ladder of :mod:`agent.modem.recovery`.
"""

from __future__ import annotations

import logging
import queue
import select
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any, Callable

from ..config import LineConfig, ModemsConfig
from ..errors import CommandError, LineOffline, ModemError, PortError
from ..watchdog import Heartbeat
from . import recovery
from .connection import Connection, Locate
from .line import Line
from .receiver import Receiver
from .sender import Sender
from .session import SimProblem
from .stored import StoredSends
from ..model import (BUSY, DISABLED, READY, RECOVERING, RETRY, SENT, STOPPED, LineEvents, LineState, OutgoingSms,
                    SendResult, UssdReply)
from .ussd import UssdTimeout, UssdWaiter

log = logging.getLogger(__name__)

STEP_ALLOWANCE = 60.0  # seconds of work between two bounded waits of the line's thread


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
        self._line = Line(line, modems, events, stop, clock=clock, now=now)
        self._inbox: queue.Queue[_Request] = queue.Queue(maxsize=inbox_size)
        self._enabled = line.enabled
        store_mode = line.send_mode == "store"
        self._receiver = Receiver(self._line, keep_stored_submits=store_mode)
        self._stored = StoredSends(line.name, events, now=now) if store_mode else None
        self._sender = Sender(self._line)
        self._connection = Connection(self._line, self._receiver, self._stored, bounce=self._bounce_all,
                                      locate=locate)
        self._ussd = UssdWaiter()
        self.started = self._line.started  # set once the line is ready, or has given up for now
        self._thread = threading.Thread(target=self._run, name=f"modem-{line.name}", daemon=True)

    # --- the API for other threads -----------------------------------------

    @property
    def name(self) -> str:
        return self.line.name

    @property
    def state(self) -> LineState:
        """The latest snapshot (safe from any thread)."""
        return self._line.state

    @property
    def heartbeat(self) -> Heartbeat:
        """The watchdog's heartbeat of this line's thread; set it before :meth:`start`."""
        return self._line.heartbeat

    @heartbeat.setter
    def heartbeat(self, heartbeat: Heartbeat) -> None:
        self._line.heartbeat = heartbeat

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Make the thread look at its inbox and the stop event now.

        Once the shared stop event is set, this also cuts short a command
        waiting for its answer (a send in flight is then reported in doubt).
        """
        if self._line.stop.is_set():
            self._line.interrupt.set()
        self._line.wakeup.set()

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
        if self._line.stop.is_set() or not self._thread.is_alive():
            raise LineOffline(f"line {self.name} is not running", line=self.name)
        req = _Request(kind, payload)
        try:
            self._inbox.put_nowait(req)
        except queue.Full:
            raise LineOffline(f"line {self.name} inbox is full", line=self.name) from None
        self._line.wakeup.set()
        return req.future

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        line = self._line
        try:
            while True:
                # Each step's waits are bounded and tell the heartbeat their bounds
                # (the port's reads, _wait); between them a step has this long.
                line.heartbeat.beat(STEP_ALLOWANCE)
                # Clear before looking at the stop flag and the inbox, so that
                # a wake-up that comes after the look is never lost.
                line.wakeup.clear()
                if line.stop.is_set():
                    break
                if not self._enabled:
                    self._disabled()
                elif line.session is None:
                    try:
                        self._offline_step()
                    except Exception as exc:
                        # A bug, or an OS error nobody foresaw, while (re)opening:
                        # the line keeps trying, after the backoff.
                        log.exception("%s: unexpected error while opening", self.name)
                        line.close()
                        self._connection.open_failed(f"{line.state.device}: {exc}")
                else:
                    try:
                        self._serve()
                    except PortError as exc:
                        self._connection.port_lost(exc)
                    except (ModemError, SimProblem) as exc:
                        self._connection.climb(exc)
                    except Exception as exc:
                        # A bug or an answer nobody foresaw: log it with its
                        # traceback, then treat the modem as misbehaving.
                        log.exception("%s: unexpected error", self.name)
                        self._connection.climb(exc)
        except Exception:
            log.exception("%s: worker crashed", self.name)
        finally:
            line.close()
            self._bounce_all("line stopped", stopping=True)
            line.set(state=STOPPED)
            line.wakeup.close()
            line.interrupt.close()

    def _wait(self, timeout: float | None) -> None:
        """Sleep until woken (inbox, stop, enable) or ``timeout`` seconds pass."""
        if self._line.stop.is_set():
            return
        self._line.heartbeat.beat(timeout)
        select.select([self._line.wakeup.fileno()], [], [], timeout)

    def _disabled(self) -> None:
        line = self._line
        if line.session is not None:
            line.close()
        if line.state.state != DISABLED:
            line.set(state=DISABLED, recovery_step="")
        self._bounce_all("line disabled")
        self._wait(None)

    def _offline_step(self) -> None:
        """Not connected: hand back any work, wait until the next reopen time or
        the modem is back (the connection looks every few seconds), try once."""
        self._bounce_all(self._line.state.last_error or "line not connected")
        delay = self._connection.wait_to_reopen()
        if delay is None:
            self._connection.connect()
        else:
            self._wait(delay)

    def _serve(self) -> None:
        line = self._line
        assert line.session is not None
        self._receiver.handle_urcs()
        if self._receiver.restarted:
            self._receiver.restarted = False
            log.warning("%s: the modem restarted by itself; initialising again", self.name)
            self._connection.initialise()
            return
        if line.clock() >= self._connection.health_due:
            self._connection.check_health()
        try:
            req = self._inbox.get_nowait()
        except queue.Empty:
            timeout = max(0.0, min(self._connection.health_due, self._receiver.due()) - line.clock())
            line.session.channel.pump(timeout, line.wakeup)
            return
        self._execute(req)

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
                req.future.set_result(SendResult(req.payload.id, self.name, RETRY, error=reason,
                                                 at=self._line.now(), interrupted=stopping))
            else:
                req.future.set_exception(LineOffline(reason, line=self.name))

    def _execute(self, req: _Request) -> None:
        if req.future.done():  # cancelled by the caller while queued
            return
        line = self._line
        if req.kind == "send":
            line.set(state=BUSY)
            assert line.session is not None
            result, raise_after = self._sender.send(line.session, req.payload)
            if self._stored is not None:
                self._stored.sent(result)
            req.future.set_result(result)
            if raise_after is not None:
                raise raise_after
            line.set(state=READY, last_send_at=result.at if result.outcome == SENT else line.state.last_send_at)
        elif req.kind == "ussd":
            code, timeout = req.payload
            line.set(state=BUSY)
            try:
                req.future.set_result(self._ussd.run(line.session, line.urcs, code, timeout, line.clock))
            except (ValueError, CommandError, UssdTimeout) as exc:
                # A USSD the network leaves unanswered says nothing about the modem.
                req.future.set_exception(exc)
            finally:
                line.set(state=READY)
        elif req.kind == "forget":
            if self._stored is not None:
                assert line.session is not None
                self._stored.forget(line.session.storage, req.payload)
            req.future.set_result(None)
        elif req.kind == "reset":
            try:
                line.set(state=RECOVERING, recovery_step=recovery.RESET)
                self._connection.restart_modem()
                req.future.set_result(None)
            except BaseException as exc:
                req.future.set_exception(exc)
                raise
