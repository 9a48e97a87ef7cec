"""One simulated modem as tests and the agent see it: a pty, controls, records.

A :class:`SimModem` owns its pseudo-terminal and its :class:`~.machine.Machine`.
Its controls may be called from any thread: each runs on the I/O thread of
the :class:`Driver` that drives it (the bank) and returns once applied.  Its
records (``sent``, ``commands``, ``storage``, ``calls``) are copies taken
under the modem's lock.  :meth:`wait_for` waits on a condition notified after
every event the modem handles.
"""

from __future__ import annotations

import dataclasses

import errno
import logging
import os
import threading
import tty
from collections.abc import Callable
from typing import Any, Protocol

from . import commands
from .core import Settings
from .handlers import COMMANDS
from .identity import Identity, identity_for
from .machine import Machine
from .profiles import Profile
from .replies import OFF
from .sms import SentMessage, Stored
from .voice import Call

log = logging.getLogger(__name__)

_OUT_CAP = 64 * 1024  # bytes kept for a host that does not read; older ones are dropped
_READ_SIZE = 4096


class Driver(Protocol):
    """What a modem needs of the one who drives it (the bank's I/O thread)."""

    def call(self, modem: SimModem, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the I/O thread with ``modem.cond`` held; return its result."""

    def register(self, modem: SimModem, fd: int) -> None:
        """Watch ``fd`` (the modem's pty master) for input."""

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""


def modem_name(index: int) -> str:
    """The name of the simulated modem (and of the agent's line on it) numbered ``index`` from 1."""
    return f"sim{index}"


class SimModem:
    """A simulated modem named ``sim<index>`` on a pty linked at :attr:`path`.

    ``driver`` runs its controls and watches its pty (see :class:`Driver`).
    :attr:`cond` is held while its :attr:`machine` runs and notified after
    every event; the driver calls :meth:`plug_now`, :meth:`unplug_now`,
    :meth:`read_input` and :meth:`flush` with it held.
    """

    def __init__(self, driver: Driver, index: int, profile: Profile, settings: Settings, state_dir: str) -> None:
        self.name = modem_name(index)
        self.index = index
        self.profile = profile
        self.identity: Identity = identity_for(index, profile.tac)
        self._driver = driver
        self._state_dir = state_dir
        self._link = self.name
        self._replugs = 0
        self.cond = threading.Condition(threading.RLock())
        self.machine = Machine(index, profile, self.identity, settings, COMMANDS)
        self._master: int | None = None
        self._slave: int | None = None  # kept open so the pty survives the host closing it
        self._device: str | None = None
        self._out = bytearray()

    def __repr__(self) -> str:
        return f"<SimModem {self.name} {self.profile.name} {self._device or 'unplugged'}>"

    # --- identity and records -------------------------------------------------------

    imei = property(lambda self: self.identity.imei)
    imsi = property(lambda self: self.identity.imsi)
    iccid = property(lambda self: self.identity.iccid)
    operator = property(lambda self: self.identity.operator)

    @property
    def number(self) -> str | None:
        """The SIM's own number (AT+CNUM), None when it has none."""
        with self.cond:
            return self.machine.number

    @property
    def path(self) -> str:
        """The stable path of the modem: a symlink to its current pty (absent while unplugged)."""
        with self.cond:
            return os.path.join(self._state_dir, self._link)

    @property
    def device(self) -> str | None:
        """The current /dev/pts/N, None while unplugged."""
        with self.cond:
            return self._device

    @property
    def plugged(self) -> bool:
        with self.cond:
            return self._master is not None

    @property
    def ready(self) -> bool:
        """True when powered, booted and answering."""
        with self.cond:
            return self._master is not None and self.machine.mode != OFF and not self.machine.hung

    @property
    def world(self) -> dict[str, Any]:
        """The radio world :meth:`set_state` and :meth:`hang` set: operator, signal
        (the RSSI AT+CSQ answers now), registered, hung."""
        with self.cond:
            m = self.machine
            return {"operator": m.operator, "signal": m.rssi, "registered": m.registered, "hung": m.hung}

    @property
    def sent(self) -> list[SentMessage]:
        with self.cond:
            return list(self.machine.sms.sent)

    @property
    def commands(self) -> list[str]:
        with self.cond:
            return list(self.machine.commands)

    @property
    def storage(self) -> dict[int, Stored]:
        with self.cond:
            return dict(self.machine.sms.storage)

    @property
    def calls(self) -> list[Call]:
        with self.cond:
            return list(self.machine.voice.calls)

    @property
    def echo(self) -> bool:
        with self.cond:
            return self.machine.echo

    @property
    def auto_status_reports(self) -> bool:
        with self.cond:
            return self.machine.sms.auto_status_reports

    @auto_status_reports.setter
    def auto_status_reports(self, value: bool) -> None:
        self._control(lambda: setattr(self.machine.sms, "auto_status_reports", bool(value)))

    def wait_for(self, predicate: Callable[[SimModem], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` is true (re-checked after every event); False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)

    # --- controls ----------------------------------------------------------------------

    def _control(self, fn: Callable[[], Any]) -> Any:
        return self._driver.call(self, fn)

    def deliver(self, sender: str, text: str, *, encoding: str | None = None, flash: bool = False) -> list[int]:
        """Send ``text`` from ``sender`` to this modem (in parts when long).

        Return the SIM indexes the parts were stored at now (announced by
        +CMTI).  Empty when delivered as +CMT (CNMI mt=2), or when the network
        holds them (SIM full, locked, not registered, modem off) for later.
        Raise the codec's EncodeError when the text cannot be encoded.
        """
        return self._control(lambda: self.machine.sms.deliver(sender, text, encoding=encoding, flash=flash))

    def deliver_pdu(self, hexpdu: str) -> list[int]:
        """Deliver a raw SMS-DELIVER PDU (hex, SMSC field included); see :meth:`deliver`."""
        return self._control(lambda: self.machine.sms.deliver_pdu(hexpdu))

    def status_report(self, reference: int, status: int = 0) -> None:
        """Send a status report for TP-MR ``reference`` (+CDS or +CDSI per AT+CNMI ds)."""
        self._control(lambda: self.machine.sms.status_report(reference, status))

    def ring(self, caller: str, times: int = 3, interval: float = 0.2) -> None:
        """Ring ``times`` times, ``interval`` s apart, until ATH/ATA; recorded in :attr:`calls`."""
        self._control(lambda: self.machine.voice.ring(caller, times, interval))

    def set_state(
        self,
        signal: int | None = None,
        registered: bool | None = None,
        operator: str | None = None,
        *,
        reg_status: int | None = None,
    ) -> None:
        """Change the radio world: RSSI 0..31/99, registration (False: searching;
        ``reg_status`` sets the +CREG stat 0/1/2/3/5 exactly), operator name.
        Registration URCs follow the AT+CREG/+CGREG/+CEREG settings."""

        def apply() -> None:
            m = self.machine
            before = (m.registration, m.rssi)
            if signal is not None:
                m.signal = signal
            if registered is not None:
                m.reg_stat = 1 if registered else 2
            if reg_status is not None:
                m.reg_stat = reg_status
            if operator is not None:
                m.operator = operator
            commands.network_changed(m, before)

        self._control(apply)

    def report_before_answer(self, value: bool = True) -> None:
        """Status reports (when automatic) come before the answer to the send they
        report on, as a fast network and a slow modem can make them."""
        self._control(lambda: setattr(self.machine.sms, "report_before_answer", bool(value)))

    def set_send_delay(self, seconds: float) -> None:
        """From now on, sends (AT+CMGS, AT+CMSS) of this modem take ``seconds``."""
        self._control(lambda: setattr(self.machine, "settings",
                                      dataclasses.replace(self.machine.settings, send_delay=seconds)))

    def fail_next_send(self, cms: int, count: int = 1) -> None:
        """Make the next ``count`` sends (AT+CMGS or AT+CMSS) answer '+CMS ERROR: <cms>' (after the send delay)."""
        self._control(lambda: self.machine.sms.fail_sends.extend([cms] * count))

    def hang(self) -> None:
        """Stop answering anything (input is read and dropped) until unhang(), reset() or replug()."""
        self._control(lambda: self.machine.set_hung(True))

    def unhang(self) -> None:
        self._control(lambda: self.machine.set_hung(False))

    def garbage(self, data: bytes | None = None) -> None:
        """Emit line noise: ``data``, or 8-32 reproducible random bytes."""

        def apply() -> None:
            rng = self.machine.rng
            self.machine.emit(data if data is not None else rng.randbytes(rng.randint(8, 32)))

        self._control(apply)

    def reset(self) -> None:
        """Reboot by itself: silent for the boot delay, then the profile's boot banner."""
        self._control(self.machine.reboot)

    def unplug(self) -> None:
        """Pull the USB plug: the pty closes (the host sees EIO/EOF) and the symlink goes."""
        self._control(self.unplug_now)

    def replug(self, new_path: bool = False) -> str:
        """Plug back in: a new pty, boot banner, SIM and identity kept; return the path.

        ``new_path`` links it under a new name, as if it came back as another ttyUSB.
        """

        def apply() -> str:
            self.unplug_now()
            if new_path:
                self._replugs += 1
                self._link = f"{self.name}-usb{self._replugs}"
            self.plug_now()
            self.machine.boot_now()
            return self.path

        return self._control(apply)

    def insert_sim(self, present: bool) -> None:
        """Insert (True) or remove (False) the SIM card."""

        def apply() -> None:
            m = self.machine
            before = (m.registration, m.rssi)
            m.sim_present = present
            m.pin_ok = m.pin is None
            if present and m.pin_ok:
                m.sim_unlocked()
            commands.network_changed(m, before)

        self._control(apply)

    def set_pin(self, pin: str | None) -> None:
        """Give the SIM a PIN (locked now: AT+CPIN? answers SIM PIN), or remove it."""

        def apply() -> None:
            m = self.machine
            m.pin, m.pin_ok, m.pin_tries = pin, pin is None, 3

        self._control(apply)

    def set_number(self, number: str | None) -> None:
        """Set (or remove, None) the own number the SIM reports to AT+CNUM."""
        self._control(lambda: setattr(self.machine, "number", number))

    def set_ussd_answer(self, code: str, text: str) -> None:
        """Answer USSD ``code`` (e.g. '*100#') with ``text``."""
        self._control(lambda: self.machine.ussd_answers.__setitem__(code, text))

    # --- pty plumbing: called by the driver with cond held, on its thread -------------------

    @property
    def master_fd(self) -> int | None:
        """The pty master's file descriptor, None while unplugged."""
        return self._master

    def plug_now(self) -> None:
        """Create a new pty, link :attr:`path` to it and have the driver watch it.

        The machine is not powered on here: the caller boots it.
        """
        master, slave = os.openpty()
        # Raw on both sides before anyone opens the slave: no echo, no CR/LF mapping.
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave, self._device = master, slave, os.ttyname(slave)
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self._device, tmp)
        os.replace(tmp, self.path)  # atomic: the path never dangles mid-replug
        self._driver.register(self, master)
        log.info("%s (%s) plugged at %s -> %s", self.name, self.profile.name, self.path, self._device)

    def unplug_now(self) -> None:
        """Power the machine off, drop pending output, close the pty, remove the link.

        Idempotent; :meth:`unplug` is the control for other threads.
        """
        self.machine.power_off()
        self._out.clear()
        if self._master is None:
            return
        self._driver.unregister(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = self._device = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        log.info("%s unplugged", self.name)

    def read_input(self) -> None:
        """Read what the host wrote (as much as is there) and feed it to the machine."""
        assert self._master is not None
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            log.debug("%s: read: %s", self.name, exc)
            return
        log.debug("%s <- %r", self.name, data)
        self.machine.feed(data)

    def flush(self) -> bool:
        """Write what is pending; return True when some is left (wait for writability)."""
        m = self.machine
        if m.out:
            if self._master is not None:
                self._out += m.out
                if len(self._out) > _OUT_CAP:
                    del self._out[: len(self._out) - _OUT_CAP]
            m.out.clear()
        while self._out and self._master is not None:
            try:
                written = os.write(self._master, self._out[:_READ_SIZE])
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno != errno.EIO:
                    log.debug("%s: write: %s", self.name, exc)
                self._out.clear()
                return False
            log.debug("%s -> %r", self.name, bytes(self._out[:written]))
            del self._out[:written]
        return False
