"""The simulated modem bank: N modems on pseudo-terminals, one I/O thread.

The thread ('sim-bank') waits in ``select`` on every modem's pty master plus a
wake-up pipe, with the timeout set by the earliest timer in a heap (send
delays, status reports, ring repeats, boots, periodic URCs).  Idle, it sleeps
in ``select``: no polling.  Controls from other threads are queued, the pipe
wakes the thread, and the caller waits on a future for the result.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from typing import Any

from .core import Settings
from .ledger import Ledger
from .modem import SimModem
from .profiles import Profile, get

log = logging.getLogger(__name__)

DEFAULT_SMSC = "+8613800100500"
_CONTROL_TIMEOUT = 10.0  # seconds a control waits for the I/O thread


class SimBank:
    """A bank of simulated modems ``sim1``, ``sim2``... with stable paths in ``state_dir``.

    ``count_or_profiles`` is a number of modems of ``profile``, or a sequence
    of profile names / :class:`Profile` objects, one per modem.  Delays are in
    seconds.  ``ussd`` maps USSD codes to the answers every modem gives.
    ``sim_busy`` overrides every profile's ``sim_busy_at_boot`` (the first K
    AT+CSCA/+CPMS/+CMGF after each boot answer +CME ERROR: 14).
    ``clock`` (monotonic) and ``wallclock`` (aware datetimes for PDU
    timestamps) are injectable.  ``ledger`` names a file where every SMS part
    the simulated network accepts is appended as a JSON line (see
    :mod:`.ledger`), from start() to stop().  Use as a context manager or
    start()/stop().
    """

    def __init__(
        self,
        count_or_profiles: int | Sequence[str | Profile] = 1,
        *,
        state_dir: str,
        send_delay: float = 2.0,
        smsc: str = DEFAULT_SMSC,
        profile: str | Profile = "simcom",
        report_delay: float = 0.5,
        boot_delay: float = 0.3,
        ussd_delay: float = 0.2,
        ussd: Mapping[str, str] | None = None,
        sim_busy: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] | None = None,
        ledger: str | None = None,
    ) -> None:
        if isinstance(count_or_profiles, int):
            chosen = [get(profile)] * count_or_profiles
        else:
            chosen = [get(p) for p in count_or_profiles]
        if sim_busy is not None:
            chosen = [replace(p, sim_busy_at_boot=sim_busy) for p in chosen]
        self.ledger = Ledger(ledger) if ledger else None
        settings = Settings(
            smsc=smsc, send_delay=send_delay, report_delay=report_delay,
            boot_delay=boot_delay, ussd_delay=ussd_delay,
            ledger=self.ledger.write if self.ledger is not None else None,
            **({"wallclock": wallclock} if wallclock is not None else {}),
        )
        self.state_dir = os.path.abspath(state_dir)
        self.settings = settings
        self._clock = clock
        self._heap: list[tuple[float, int, SimModem, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._ops: list[tuple[SimModem, Callable[[], Any], Future]] = []
        self._ops_lock = threading.Lock()
        self._accepting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self.modems = [SimModem(self, i, p, settings, self.state_dir) for i, p in enumerate(chosen, 1)]
        for modem in self.modems:
            modem.machine.ussd_answers.update(ussd or {})

    # --- container -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.modems)

    def __getitem__(self, index: int) -> SimModem:
        return self.modems[index]

    def __iter__(self) -> Iterator[SimModem]:
        return iter(self.modems)

    def by_name(self, name: str) -> SimModem:
        """Return the modem called ``name`` ('sim1'...); KeyError if none."""
        for modem in self.modems:
            if modem.name == name:
                return modem
        raise KeyError(name)

    def __enter__(self) -> SimBank:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- life -------------------------------------------------------------------------

    def start(self) -> None:
        """Create the ptys and links, power every modem on, start the I/O thread.

        When this returns, every modem answers at its path.
        """
        if self._thread is not None:
            raise RuntimeError("SimBank already started")
        os.makedirs(self.state_dir, exist_ok=True)
        if self.ledger is not None:
            self.ledger.open()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for modem in self.modems:
            with modem.cond:
                modem.plug_now()
                modem.machine.boot_now()
                self._settle(modem)
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="sim-bank", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, unplug every modem (links removed). Idempotent."""
        with self._ops_lock:
            self._accepting = False
            pending, self._ops = self._ops, []
        for _, _, future in pending:
            future.set_exception(RuntimeError("SimBank stopped"))
        self._stop.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("sim-bank thread did not stop within %.1fs", timeout)
        for modem in self.modems:
            with modem.cond:
                modem.unplug_now()
                modem.cond.notify_all()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self.ledger is not None:
            self.ledger.close()

    # --- the modems' driver (see agent.sim.modem.Driver) -------------------------------------

    def call(self, modem: SimModem, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` for ``modem`` on the I/O thread (inline when not running) with
        ``modem.cond`` held; return its result.  Raise RuntimeError once stopped."""
        if threading.current_thread() is self._thread or self._thread is None:
            with modem.cond:
                try:
                    return fn()
                finally:
                    self._settle(modem)
        future: Future = Future()
        with self._ops_lock:
            if not self._accepting:
                raise RuntimeError("SimBank stopped")
            self._ops.append((modem, fn, future))
        self._wake()
        return future.result(timeout=_CONTROL_TIMEOUT)

    def register(self, modem: SimModem, fd: int) -> None:
        """Watch ``modem``'s pty master ``fd`` for input."""
        if self._selector is not None:
            self._selector.register(fd, selectors.EVENT_READ, modem)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd`` (not an error when it is not watched)."""
        if self._selector is not None:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass

    # --- the I/O thread -------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or stopped

    def _settle(self, modem: SimModem) -> None:
        """After an event: schedule the timers it asked for, write its output, wake waiters."""
        machine = modem.machine
        now = self._clock()
        for delay, fn in machine.timers:
            heapq.heappush(self._heap, (now + delay, next(self._seq), modem, fn))
        machine.timers.clear()
        blocked = modem.flush()
        if modem.master_fd is not None and self._selector is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if blocked else 0)
            try:
                if self._selector.get_key(modem.master_fd).events != events:
                    self._selector.modify(modem.master_fd, events, modem)
            except KeyError:
                pass
        modem.cond.notify_all()

    def _run(self) -> None:
        assert self._selector is not None
        while not self._stop.is_set():
            try:
                self._step(self._selector)
            except Exception:  # the bank must outlive any one modem's bug
                log.exception("sim-bank: unexpected error")

    def _step(self, selector: selectors.BaseSelector) -> None:
        timeout = max(0.0, self._heap[0][0] - self._clock()) if self._heap else None
        for key, mask in selector.select(timeout):
            modem = key.data
            if modem is None:
                while True:
                    try:
                        if not os.read(self._wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            with modem.cond:
                if modem.master_fd != key.fd:
                    continue  # unplugged by an earlier event of this round
                if mask & selectors.EVENT_READ:
                    modem.read_input()
                self._settle(modem)
        with self._ops_lock:
            ops, self._ops = self._ops, []
        for modem, fn, future in ops:
            with modem.cond:
                try:
                    future.set_result(fn())
                except Exception as exc:
                    future.set_exception(exc)
                finally:
                    self._settle(modem)
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            _, _, modem, fn = heapq.heappop(self._heap)
            with modem.cond:
                try:
                    fn()
                except Exception:
                    log.exception("sim-bank: %s timer failed", modem.name)
                finally:
                    self._settle(modem)
