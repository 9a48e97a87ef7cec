"""A simulated GoIP box: N channels, each its own UDP client on 127.0.0.1, served by one thread.

``SimGoip(("127.0.0.1", 44444), 4)`` gives channels ``goip01``..``goip04``,
each with a socket bound to ``127.0.0.1:0`` (its own source port, as on a
real box) that sends keepalives and events to the server and answers
commands to their source.  One thread ('sim-goip', a
:class:`~.udp_loop.UdpLoop`) serves every socket and timer (keepalives,
sends, resends, reboots); idle, it sleeps in ``select``.

Controls (events to raise, faults to inject) may be called from any thread:
they run under the box's lock, which the thread holds while it handles a
datagram or a timer.  :meth:`SimGoip.wait_for` waits on a condition
notified after each of those.  Faults in and out (loss, duplication) draw
from one ``random.Random(seed)``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from .goip_channel import ChannelSpec, ChannelView, GoipSettings, SimChannel, channel_specs
from .ledger import Ledger
from .udp_loop import Addr, UdpLoop

_LOOPBACK = "127.0.0.1"


class NetworkSend(NamedTuple):
    """One SMS the simulated network accepted from a channel."""

    channel: str
    number: str
    text: str
    sms_no: int


class SimGoip:
    """A simulated GoIP box whose channels register with the SMS server at ``server`` (loopback only).

    ``channels`` is a list of :class:`ChannelSpec` or a count (see
    :func:`channel_specs`).  Times are seconds: ``keepalive`` between
    ``req:`` packets, ``send_delay`` the module takes per SMS,
    ``report_delay`` before the DELIVER of each sent SMS (None: none),
    ``retransmit``/``retries`` for unanswered events, ``session_idle``
    before a silent bulk session is dropped, ``reboot_time`` a module
    reboot lasts, ``ussd_delay`` before a USSD answer.  ``max_sessions``
    bulk sessions may be open per channel, or per box when ``sessions_per``
    is 'box'.  ``status_ok``: the reg statuses that register a channel
    (None: any, as the firmware ignores it).  ``ussd`` adds answers per
    code.  ``ledger`` names a JSON-lines file (see :mod:`.ledger`) that
    gets one line per SMS sent.  ``recvid_start`` (default: the Unix time)
    is the first event id less one.
    """

    def __init__(
        self,
        server: Addr,
        channels: Sequence[ChannelSpec] | int,
        *,
        keepalive: float = 30.0,
        send_delay: float = 0.0,
        report_delay: float | None = None,
        status_ok: Iterable[str] | None = None,
        retransmit: float = 3.0,
        retries: int = 3,
        session_idle: float = 90.0,
        max_sessions: int = 5,
        sessions_per: str = "channel",
        ussd: Mapping[str, str] | None = None,
        ussd_delay: float = 0.0,
        reboot_time: float = 1.0,
        seed: int = 0,
        recvid_start: int | None = None,
        ledger: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        host, port = server
        if host not in (_LOOPBACK, "localhost"):
            raise ValueError(f"the simulated GoIP talks to 127.0.0.1 only, not {host}")
        if sessions_per not in ("channel", "box"):
            raise ValueError("sessions_per is 'channel' or 'box'")
        self.server: Addr = (_LOOPBACK, int(port))
        self.settings = GoipSettings(
            keepalive=keepalive, send_delay=send_delay, report_delay=report_delay, retransmit=retransmit,
            retries=retries, session_idle=session_idle, max_sessions=max_sessions, sessions_per=sessions_per,
            status_ok=frozenset(status_ok) if status_ok is not None else None, ussd_delay=ussd_delay,
            reboot_time=reboot_time,
        )
        self.settings.ussd.update(ussd or {})
        specs = channel_specs(channels) if isinstance(channels, int) else list(channels)
        if len({s.id for s in specs}) != len(specs):
            raise ValueError("channel ids must be distinct")
        self.channels = [SimChannel(spec, self) for spec in specs]
        self._ledger_file = Ledger(ledger) if ledger else None
        self._ledger: list[NetworkSend] = []
        self._clock = clock
        self._wallclock = wallclock
        self._random = random.Random(seed)
        self._loss = (0.0, 0.0)
        self._dup = (0.0, 0.0)
        self._faults = {"dropped_in": 0, "dropped_out": 0, "duplicated_in": 0, "duplicated_out": 0}
        self._recvid = int(time.time()) if recvid_start is None else recvid_start
        self._cond = threading.Condition(threading.RLock())
        self._loop = UdpLoop("sim-goip", self._cond, clock, self._deliver)
        self._started = False

    def __enter__(self) -> SimGoip:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind one socket per channel, send every channel's first keepalive, start the thread.
        Raise OSError when a socket or the ledger cannot be opened."""
        with self._cond:
            if self._started:
                raise RuntimeError("SimGoip already started")
            self._started = True
            if self._ledger_file is not None:
                self._ledger_file.open()
            addresses = self._loop.open(list(self.channels))
            for channel in self.channels:
                channel.address = addresses[channel]
                channel.keepalive()
            self._loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the sockets; timers not yet due are dropped. Idempotent."""
        self._loop.stop(timeout)
        with self._cond:
            if self._ledger_file is not None:
                self._ledger_file.close()
            self._cond.notify_all()

    # --- what the channels use (goip_channel.Box) ------------------------------------------------

    def clock(self) -> float:
        return self._clock()

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        self._loop.schedule(delay, fn)

    def transmit(self, channel: SimChannel, data: bytes, addr: Addr, *, answer: bool) -> None:
        if answer and channel.silent:
            return
        for _ in range(self._fate(self._loss[1], self._dup[1], "out")):
            self._loop.sendto(channel, data, addr)

    def next_recvid(self) -> int:
        self._recvid += 1
        return self._recvid

    def may_open_session(self, channel: SimChannel) -> bool:
        if self.settings.sessions_per == "box":
            return sum(len(c.sessions) for c in self.channels) < self.settings.max_sessions
        return len(channel.sessions) < self.settings.max_sessions

    def record_send(self, channel: SimChannel, number: str, text: str, sms_no: int) -> None:
        self._ledger.append(NetworkSend(channel.id, number, text, sms_no))
        if self._ledger_file is not None:
            self._ledger_file.write({
                "time": self._wallclock().isoformat(), "modem": channel.id, "via": "GOIP", "index": None,
                "recipient": number, "mr": None, "sms_no": sms_no, "pdu": None, "text": text, "concat": None,
            })

    # --- records -------------------------------------------------------------------------------

    def channel(self, key: str | int) -> SimChannel:
        """The channel with id ``key``, or at 0-based position ``key``; KeyError when there is none."""
        if isinstance(key, int):
            return self.channels[key]
        for channel in self.channels:
            if channel.id == key:
                return channel
        raise KeyError(key)

    def view(self, key: str | int) -> ChannelView:
        """A copy of the state and records of channel ``key`` (see :meth:`channel`)."""
        with self._cond:
            return self.channel(key).view()

    @property
    def ledger(self) -> list[NetworkSend]:
        """Every SMS the simulated network accepted, in order."""
        with self._cond:
            return list(self._ledger)

    @property
    def faults(self) -> dict[str, int]:
        """How many datagrams the loss and dup faults dropped or duplicated, in and out."""
        with self._cond:
            return dict(self._faults)

    def wait_for(self, predicate: Callable[[SimGoip], Any], timeout: float) -> bool:
        """Wait until ``predicate(box)`` is true (re-checked after each datagram, timer and control);
        return False after ``timeout`` seconds."""
        with self._cond:
            return bool(self._cond.wait_for(lambda: predicate(self), timeout))

    def cpu_time(self) -> float:
        """CPU seconds the box's thread has used (0.0 before it starts)."""
        return self._loop.cpu_time()

    # --- controls --------------------------------------------------------------------------------

    def _control(self, fn: Callable[[], Any]) -> Any:
        with self._cond:
            if not self._loop.running:
                raise RuntimeError("SimGoip is not running")
            try:
                return fn()
            finally:
                self._cond.notify_all()
                self._loop.wake()

    def receive(self, channel: str | int, sender: str, text: str) -> list[int]:
        """An SMS from ``sender`` reaches ``channel``: RECEIVE event(s); return their recvids."""
        return self._control(lambda: self.channel(channel).receive(sender, text))

    def deliver(self, channel: str | int, sms_no: int, state: int = 0, number: str = "") -> int:
        """A DELIVER event for ``sms_no`` (``state`` 0: delivered); return its recvid."""
        return self._control(lambda: self.channel(channel).deliver(sms_no, state, number))

    def call(self, channel: str | int, number: str) -> list[int]:
        """A call from ``number`` rings on ``channel`` and ends; return the recvids of its events."""
        return self._control(lambda: self.channel(channel).call(number))

    def keepalive_now(self, channel: str | int) -> None:
        """Send ``channel``'s next keepalive now (its period restarts)."""
        self._control(lambda: self.channel(channel).keepalive())

    def loss(self, rate_in: float = 0.0, rate_out: float = 0.0) -> None:
        """Drop this share of the datagrams to the box (in) and from it (out), every channel."""
        self._control(lambda: setattr(self, "_loss", (rate_in, rate_out)))

    def dup(self, rate_in: float = 0.0, rate_out: float = 0.0) -> None:
        """Deliver this share of the datagrams to the box (in) and from it (out) twice."""
        self._control(lambda: setattr(self, "_dup", (rate_in, rate_out)))

    def logout(self, channel: str | int) -> None:
        """``channel`` loses the GSM network: a LOGOUT keepalive now; new SENDs get GSM_LOGOUT."""
        self._control(lambda: self.channel(channel).set_login(False))

    def login(self, channel: str | int) -> None:
        """``channel`` is back on the GSM network: a LOGIN keepalive now."""
        self._control(lambda: self.channel(channel).set_login(True))

    def wrong_password(self, channel: str | int, password: str | None) -> None:
        """Configure ``channel`` with ``password`` instead of its own (None: its own again): its
        keepalives and events carry it and its PASSWORD/command checks expect it."""
        def apply() -> None:
            target = self.channel(channel)
            target.password = password if password is not None else target.spec.password

        self._control(apply)

    def fail_next(self, channel: str | int, errorstatus: int = 1, count: int = 1) -> None:
        """The next ``count`` sends of ``channel`` fail with ``errorstatus`` (real ones: 1, 38, 30, 500)."""
        self._control(lambda: self.channel(channel).failures.extend([errorstatus] * count))

    def reboot(self, channel: str | int) -> None:
        """Reboot ``channel``'s module: LOGOUT now, LOGIN again after ``reboot_time``."""
        self._control(lambda: self.channel(channel).reboot())

    def set_send_delay(self, seconds: float) -> None:
        """Sends started from now on take ``seconds``."""
        self._control(lambda: setattr(self.settings, "send_delay", seconds))

    def set_ussd(self, code: str, text: str) -> None:
        """USSD ``code`` is answered ``text`` from now on."""
        self._control(lambda: self.settings.ussd.__setitem__(code, text))

    def silent(self, channel: str | int, on: bool = True) -> None:
        """``channel`` still acts on commands (it sends SMS) but answers nothing, pushes no OK or
        ERROR: its server is left in doubt.  Keepalives and events still go out."""
        self._control(lambda: setattr(self.channel(channel), "silent", on))

    # --- the thread --------------------------------------------------------------------------------

    def _fate(self, loss: float, dup: float, way: str) -> int:
        """How many copies of one datagram go through: 0 (lost), 1 or 2 (duplicated)."""
        if loss and self._random.random() < loss:
            self._faults[f"dropped_{way}"] += 1
            return 0
        if dup and self._random.random() < dup:
            self._faults[f"duplicated_{way}"] += 1
            return 2
        return 1

    def _deliver(self, key: object, data: bytes, addr: Addr) -> None:
        """A datagram reached channel ``key`` (on the thread, lock held): faults in, then the channel."""
        assert isinstance(key, SimChannel)
        for _ in range(self._fate(self._loss[0], self._dup[0], "in")):
            key.handle(data, addr)
