"""One line (channel) of a simulated GoIP box: keepalives, events, commands, USSD (spec §2, §3, §5, §6).

A :class:`SimChannel` is its own UDP client, as on a real box: it sends its
keepalives and events from its own socket to the server and answers every
command to the command's source address.  Its bulk-SMS sessions live in
:class:`~.goip_session.Sessions`, its events (RECEIVE, DELIVER, the call
events, resent until answered) in :class:`~.goip_events.Events`.

Everything here runs on the box's I/O thread or under the box's lock; the
:class:`Box` protocol is what the channel needs of the box.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from agent.codec import parts

from . import goip_wire as wire
from .goip_events import Event, Events
from .goip_session import Addr, Sessions
from .identity import identity_for

_FORBIDDEN = frozenset(";: \r\n\t")  # they would break the framing (spec §1)
_KEPT = 1000  # regs, USSD codes and unknown datagrams remembered per channel, oldest dropped
_GSM_STATE = "IDLE"


@dataclass(frozen=True)
class ChannelSpec:
    """Who a channel is: its client id and password as set on the box's SMS page, and its SIM."""

    id: str
    password: str
    num: str = ""
    imei: str = ""
    imsi: str = ""
    iccid: str = ""
    operator: str = "CHINA MOBILE"
    signal: int = 25  # AT+CSQ, 0..31 (99: unknown)
    gsm_login: bool = True

    def __post_init__(self) -> None:
        for name in ("id", "password"):
            value = getattr(self, name)
            if not value or _FORBIDDEN & set(value):
                raise ValueError(f"channel {name} {value!r} is empty or holds ';', ':', a blank or a newline")
        if not (0 <= self.signal <= 31 or self.signal == 99):
            raise ValueError(f"signal {self.signal} is not 0..31 or 99")


def channel_specs(count: int, password: str | None = None) -> list[ChannelSpec]:
    """Return ``count`` specs ``goip01``, ``goip02``... with deterministic SIM identities.

    Each password is ``password``, or ``pw01``, ``pw02``... when it is None.
    """
    specs = []
    for i in range(1, count + 1):
        ident = identity_for(i, "86755603")
        specs.append(ChannelSpec(
            id=f"goip{i:02d}", password=password or f"pw{i:02d}", num=ident.number or "", imei=ident.imei,
            imsi=ident.imsi, iccid=ident.iccid, operator=ident.operator, signal=20 + i % 10,
        ))
    return specs


@dataclass
class GoipSettings:
    """How every channel of a box behaves (seconds for times); changed only under the box's lock."""

    keepalive: float = 30.0
    send_delay: float = 0.0
    report_delay: float | None = None  # None: no DELIVER after an OK unless asked for
    report_state: int = 0
    retransmit: float = 3.0
    retries: int = 3
    session_idle: float = 90.0
    max_sessions: int = 5
    sessions_per: str = "channel"  # or "box": where the limit of 5 applies (spec §4 does not say)
    status_ok: frozenset[str] | None = None  # reg statuses that register; None: any (spec §2, P16)
    ussd: dict[str, str] = field(default_factory=lambda: {"*100#": "Balance 12.34@@"})
    ussd_delay: float = 0.0
    reboot_time: float = 1.0


@dataclass(frozen=True)
class ChannelView:
    """A copy of a channel's state and records, taken under the box's lock."""

    id: str
    address: Addr | None
    password: str
    count: int
    registered: bool
    regs: tuple[tuple[int, str], ...]
    online: bool
    sms_no: int
    sessions: tuple[int, ...]
    received: int
    events: tuple[Event, ...]
    ussd_network: tuple[str, ...]
    unknown: tuple[bytes, ...]


class Box(Protocol):
    """What a channel needs of its box (see :class:`~.goip_box.SimGoip`)."""

    settings: GoipSettings
    server: Addr

    def clock(self) -> float:
        """Now, in monotonic seconds."""

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the I/O thread after ``delay`` seconds."""

    def transmit(self, channel: SimChannel, data: bytes, addr: Addr, *, answer: bool) -> None:
        """Send ``data`` from ``channel``'s socket (``answer``: a reply to a command)."""

    def next_recvid(self) -> int:
        """A new event id."""

    def may_open_session(self, channel: SimChannel) -> bool:
        """True when ``channel`` may open one more bulk session."""

    def record_send(self, channel: SimChannel, number: str, text: str, sms_no: int) -> None:
        """Count one SMS the simulated network accepted."""


class SimChannel:
    """One line of the box, speaking as ``spec.id``; :attr:`address` is set once its socket is bound."""

    def __init__(self, spec: ChannelSpec, box: Box) -> None:
        self.spec = spec
        self.id = spec.id
        self.password = spec.password
        self.address: Addr | None = None
        self.gsm_login = spec.gsm_login
        self.rebooting = False
        self.silent = False
        self.count = 0
        self.registered = False
        self.regs: deque[tuple[int, str]] = deque(maxlen=_KEPT)
        self.events = Events(self)
        self.sessions = Sessions(self)
        self.sms_no = 0
        self.failures: deque[int] = deque()
        self.ussd_network: deque[str] = deque(maxlen=_KEPT)
        self.unknown: deque[bytes] = deque(maxlen=_KEPT)
        self.received = 0
        self._box = box
        self._answered = 0
        self._keepalives = 0
        self._reboots = 0
        self._ussd_last: int | None = None
        self._ussd_cached: tuple[str, str] | None = None

    def view(self) -> ChannelView:
        """A copy of the channel's state and records."""
        return ChannelView(
            self.id, self.address, self.password, self.count, self.registered, tuple(self.regs), self.online(),
            self.sms_no, tuple(self.sessions.sids), self.received, tuple(dataclasses.replace(e) for e in self.events),
            tuple(self.ussd_network), tuple(self.unknown),
        )

    # --- what the sessions use (goip_session.SessionHost) ------------------------------------------

    def clock(self) -> float:
        return self._box.clock()

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        self._box.schedule(delay, fn)

    def answer(self, data: bytes, addr: Addr) -> None:
        self._box.transmit(self, data, addr, answer=True)

    def may_open_session(self) -> bool:
        return self._box.may_open_session(self)

    def send_delay(self) -> float:
        return self._box.settings.send_delay

    def session_idle(self) -> float:
        return self._box.settings.session_idle

    def online(self) -> bool:
        return self.gsm_login and not self.rebooting

    def network_send(self, number: str, text: str) -> tuple[bool, int]:
        """The module sends one SMS: fail with a queued errorstatus, or 1 when offline; else count it."""
        if self.failures:
            return False, self.failures.popleft()
        if not self.online():
            return False, 1
        self.sms_no = self.sms_no % 65535 + 1
        sms_no = self.sms_no
        self._box.record_send(self, number, text, sms_no)
        settings = self._box.settings
        if settings.report_delay is not None:
            state = settings.report_state
            self.schedule(settings.report_delay, lambda: self.deliver(sms_no, state, number))
        return True, sms_no

    # --- what the events use (goip_events.EventHost) ---------------------------------------------

    def to_server(self, data: bytes) -> None:
        self._box.transmit(self, data, self._box.server, answer=False)

    def next_recvid(self) -> int:
        return self._box.next_recvid()

    def resending(self) -> tuple[float, int]:
        return self._box.settings.retransmit, self._box.settings.retries

    # --- keepalive -----------------------------------------------------------------------------

    def keepalive(self) -> None:
        """Send the next ``req:`` now and schedule the one after; an unanswered last one unregisters."""
        if self.count and self._answered != self.count:
            self.registered = False
        self.count += 1
        data = wire.keepalive(wire.KeepaliveFields(
            self.count, self.id, self.password, self.spec.num, self.spec.signal, self.online(), self.spec.imei,
            self.spec.imsi, self.spec.iccid, self.spec.operator, self.registered,
        ))
        self._box.transmit(self, data, self._box.server, answer=False)
        self._keepalives += 1
        generation = self._keepalives

        def again() -> None:
            if generation == self._keepalives:
                self.keepalive()

        self.schedule(self._box.settings.keepalive, again)

    def _reg(self, count: int, status: str) -> None:
        self.regs.append((count, status))
        if count == self.count:
            ok = self._box.settings.status_ok
            self._answered = count
            self.registered = ok is None or status in ok

    # --- datagrams from the server -------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr) -> None:
        """Act on one datagram from ``addr``; one the box does not understand is kept in :attr:`unknown`."""
        self.received += 1
        reg = wire.parse_reg(data)
        if reg is not None:
            self._reg(*reg)
            return
        verb = wire.words(data.split(b" ", 1)[0])[0]
        if verb in ("MSG", "PASSWORD", "SEND", "DONE"):
            understood = self.sessions.handle(verb, data, addr)
        elif verb in wire.ACKED_EVENTS:
            understood = self.events.answer(verb, wire.words(data))
        elif verb in ("USSD", "USSDEXIT"):
            understood = self._ussd(verb, data, addr)
        elif verb in _QUERIES or verb in ("GSM", "svr_reboot_module"):
            understood = self._command(verb, wire.words(data), addr)
        else:
            understood = False
        if not understood:
            self.unknown.append(data)

    def _command(self, verb: str, tokens: list[str], addr: Addr) -> bool:
        if len(tokens) != 3:
            return False
        sendid, password = tokens[1], tokens[2]
        if password != self.password:
            self.answer(wire.reply("GSMERROR" if verb == "GSM" else "ERROR", sendid, "password error"), addr)
        elif verb == "GSM":
            values = [f"GSM:{sendid}"] + [f"{name}:{_QUERIES[name](self)}" for name in _GSM_FIELDS]
            values += [f"imei:{self.spec.imei}", "out_call_interval:0", f"module_down:{0 if self.online() else 1}"]
            self.answer(";".join(values).encode(), addr)
        elif verb == "svr_reboot_module":
            self.answer(wire.reply(verb, sendid, "ok"), addr)
            self.reboot()
        else:
            self.answer(wire.reply(verb, sendid, _QUERIES[verb](self)), addr)
        return True

    def _ussd(self, verb: str, data: bytes, addr: Addr) -> bool:
        """``USSD <sendid> <pw> <code>``: the code is taken as sent, so a trailing newline makes it
        another (unknown) code, as on a real box (spec §1); a sendid up to the last one is answered
        from the cache without going to the network (spec §6)."""
        fields = data.decode("utf-8", "replace").split(" ", 3)
        try:
            sendid = int(fields[1].rstrip("\r\n\0"))
        except (IndexError, ValueError):
            return False
        if verb == "USSDEXIT":
            self.answer(wire.reply("USSDEXIT", sendid), addr)
            return True
        if len(fields) != 4:
            return False
        if fields[2] != self.password:
            self.answer(wire.reply("USSDERROR", sendid, "password error"), addr)
        elif self._ussd_last is not None and sendid <= self._ussd_last:
            if self._ussd_cached is not None:  # else the network's answer is on its way
                self.answer(wire.reply(self._ussd_cached[0], sendid, self._ussd_cached[1]), addr)
        else:
            self._ussd_last, self._ussd_cached, code = sendid, None, fields[3]
            self.ussd_network.append(code)

            def answered() -> None:
                text = self._box.settings.ussd.get(code)
                cached = ("USSD", "USSD send failed!" if text is None else text)
                if not self.online():
                    cached = ("USSDERROR", "GSM_LOGOUT")
                if self._ussd_last == sendid:
                    self._ussd_cached = cached
                self.answer(wire.reply(cached[0], sendid, cached[1]), addr)

            self.schedule(self._box.settings.ussd_delay, answered)
        return True

    # --- events from the device ----------------------------------------------------------------

    def receive(self, sender: str, text: str) -> list[int]:
        """An SMS from ``sender`` arrives: one RECEIVE per part (153 GSM / 67 UCS-2 characters), with
        no part information, as the box does not reassemble (spec §3); return the recvids."""
        return [self.events.emit("RECEIVE", [("srcnum", sender), ("msg", part)])
                for part in parts.split(text, max_parts=255)]

    def deliver(self, sms_no: int, state: int = 0, number: str = "") -> int:
        """A delivery report for ``sms_no`` (``state`` 0: delivered); return its recvid."""
        return self.events.emit("DELIVER", [("sms_no", sms_no), ("state", state), ("num", number)])

    def call(self, number: str) -> list[int]:
        """A call from ``number`` rings and ends: STATE, RECORD, HANGUP, STATE IDLE, REMAIN; the recvids."""
        return [
            self.events.emit("STATE", [("gsm_remain_state", f"INCOMING:{number}")]),
            self.events.emit("RECORD", [("dir", 1), ("num", number)]),
            self.events.emit("HANGUP", [("num", f"{number},cause:Normal call clearing")]),
            self.events.emit("STATE", [("gsm_remain_state", "IDLE")]),
            self.events.emit("REMAIN", [("gsm_remain_time", -1)]),
        ]

    # --- controls ------------------------------------------------------------------------------

    def set_login(self, login: bool) -> None:
        """Log in to or out of the GSM network and tell the server at once (a keepalive)."""
        self.gsm_login = login
        self.keepalive()

    def reboot(self) -> None:
        """Reboot the module: LOGOUT now, LOGIN (and a keepalive) after ``reboot_time``."""
        self.rebooting = True
        self._reboots += 1
        generation = self._reboots
        self.keepalive()

        def back() -> None:
            if generation == self._reboots:
                self.rebooting = False
                self.keepalive()

        self.schedule(self._box.settings.reboot_time, back)


_QUERIES: dict[str, Callable[[SimChannel], object]] = {
    "get_gsm_num": lambda ch: ch.spec.num,
    "get_exp_time": lambda ch: -1,
    "get_remain_time": lambda ch: -1,
    "get_gsm_state": lambda ch: _GSM_STATE,
    "get_imei": lambda ch: ch.spec.imei,
}
_GSM_FIELDS = ("get_gsm_num", "get_exp_time", "get_remain_time", "get_gsm_state")
