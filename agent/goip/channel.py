"""One channel of a GoIP box as a line of the agent (:class:`GoipLine`).

It offers what the router and the core use of any line (``submit``,
``ussd``, ``reset_modem``, ``set_enabled``, ``state``; :class:`agent.model.Line`)
and lives in the listener's thread: every method that other threads call
hands its work to that thread (:class:`Listener`), so the state needs no lock.

State.  The line is offline until its first keepalive and again when none
came for ``[goip_udp] offline_after`` seconds; a keepalive says whether the
SIM is registered (``gsm_status``), its signal (``signal`` as +CSQ, shown in
dBm), the SIM's number, IMEI, IMSI, ICCID (quotas are kept per ICCID, so a
SIM swap shows as a new SIM) and operator.  Commands go to the address of
the latest keepalive.

Sending, one message at a time, is :class:`~agent.goip.sender.Sender`'s.
A ``DELIVER`` that comes while a SEND's outcome is unknown waits for it (see
:meth:`GoipLine.event`), so that a report never overtakes the ``OK`` it names.

Receiving: events (``RECEIVE``, ``DELIVER``, ``RECORD``...) are stored, then
acknowledged (:class:`~agent.goip.events.Inbound`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..codec import goip_udp as wire
from ..config import GoipUdpConfig, LineConfig
from ..errors import LineOffline
from ..model import BUSY, DISABLED, OFFLINE, READY, LineEvents, LineState, OutgoingSms, SendResult, UssdReply
from ..watchdog import NO_BEAT
from .commands import Commands, Request
from .events import Inbound
from .listener import Listener, Timer
from .sender import Sender

log = logging.getLogger(__name__)


class GoipLine:
    """The channel ``line.goip_id`` as the line ``line.name`` (see the module doc)."""

    def __init__(self, line: LineConfig, config: GoipUdpConfig, events: LineEvents, listener: Listener) -> None:
        self.line = line
        self.name = line.name
        self.goip_id = line.goip_id
        self.password = line.goip_password
        self.config = config
        self._events = events
        self._listener = listener
        self.started = threading.Event()
        self.heartbeat = NO_BEAT  # the listener's thread beats for every line
        self._state = LineState(name=line.name, device=f"goip:{line.goip_id}", state=OFFLINE, profile="goip",
                                manufacturer="DBLTek", model="GoIP", last_error="waiting for the first keepalive")
        self._enabled = line.enabled
        self._address: tuple[str, int] | None = None
        self._last_keepalive: float | None = None
        self._offline_timer: Timer | None = None
        self.sender = Sender(self, line.goip_password, config, events, listener)
        self.commands = Commands(line.name, line.goip_password, config, listener, lambda: self._address,
                                 lambda: self._offline_timer is not None, self)
        self.inbound = Inbound(line.name, line.goip_id, events, listener, self._received)
        self._stopping = False
        if not self._enabled:
            self._state = replace(self._state, state=DISABLED, last_error="")

    # --- the API for other threads ------------------------------------------------------

    @property
    def state(self) -> LineState:
        return self._state

    @property
    def alive(self) -> bool:
        return True  # the listener's thread is watched on its own

    def start(self) -> None:
        self.started.set()  # nothing to open: the box registers when it will

    def wake(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> bool:
        return True

    def submit(self, msg: OutgoingSms) -> Future[SendResult]:
        """Queue one message; its future gets the :class:`SendResult`."""
        if self._stopping:
            raise LineOffline(f"line {self.name} is stopping", line=self.name)
        future: Future[SendResult] = Future()
        self._listener.call(lambda: self.sender.add(msg, future))
        return future

    def ussd(self, code: str, timeout: float = 30.0) -> Future[UssdReply]:
        """Run a USSD code on the channel; the future gets the network's :class:`UssdReply`,
        or ValueError for a code that is not digits, ``*``, ``#`` and ``+`` (as on a modem)."""
        future: Future[UssdReply] = Future()
        if not code or not all(ch.isdigit() and ch.isascii() or ch in "*#+" for ch in code):
            future.set_exception(ValueError(f"not a USSD code: {code[:40]!r}"))
            return future
        self._listener.call(lambda: self.commands.add(Request("ussd", future, code=code), timeout))
        return future

    def reset_modem(self) -> Future[None]:
        """Reboot the channel's GSM module (``svr_reboot_module``)."""
        future: Future[None] = Future()
        self._listener.call(lambda: self.commands.add(Request("reset", future), self.config.ussd_timeout))
        return future

    def set_enabled(self, enabled: bool) -> None:
        self._listener.call(lambda: self._set_enabled(enabled))

    def forget_stored(self, locations: tuple[str, ...]) -> None:
        """A GoIP channel keeps no copies of what it sends: nothing to forget."""

    # --- state (the listener's thread) ----------------------------------------------------

    def _publish(self, **changes: Any) -> None:
        self._state = replace(self._state, updated_at=datetime.now().astimezone(), **changes)
        try:
            self._events.on_state(self._state)
        except Exception:
            log.exception("%s: state sink failed", self.name)

    def _settle_state(self, **changes: Any) -> None:
        """Work out the state word from what is known, with ``changes``."""
        online = self._last_keepalive is not None and self._offline_timer is not None
        if not self._enabled:
            word = DISABLED
        elif not online:
            word = OFFLINE
        elif self.sender.busy:
            word = BUSY
        else:
            word = READY
        self._publish(state=word, **changes)

    def _set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self._settle_state()
        if enabled:
            self.sender.next()

    def keepalive(self, packet: wire.Keepalive, address: tuple[str, int]) -> None:
        """A keepalive of this channel came from ``address``."""
        first = self._last_keepalive is None or self._offline_timer is None
        if self._address != address:
            log.info("%s: GoIP channel %s at %s:%d", self.name, self.goip_id, *address)
        self._address = address
        self._last_keepalive = self._listener.clock()
        if self._offline_timer is not None:
            self._offline_timer.cancel()
        self._offline_timer = self._listener.later(self.config.offline_after, self._went_silent)
        rssi = packet.signal
        registered = packet.gsm_login
        changes: dict[str, Any] = dict(
            device=f"goip:{self.goip_id}@{address[0]}:{address[1]}", registered=registered,
            registration=1 if registered else 0, rssi=rssi,
            signal_dbm=None if rssi is None else -113 + 2 * rssi,
            number=packet.num, imei=packet.imei, imsi=packet.imsi, iccid=packet.iccid, operator=packet.operator,
            sim="READY" if packet.iccid or registered else "",
            last_error="" if registered else "the channel is not registered on the GSM network (gsm_status LOGOUT)")
        seen = {k: getattr(self._state, k) for k in changes}
        if first:
            log.info("%s: registered (%s, signal %s)", self.name, "GSM LOGIN" if registered else "GSM LOGOUT",
                     "?" if rssi is None else rssi)
        if first or seen != changes:
            self._settle_state(**changes)
        if registered:
            self.sender.next()

    def _went_silent(self) -> None:
        self._offline_timer = None
        log.warning("%s: no keepalive from GoIP channel %s for %.0fs: offline", self.name, self.goip_id,
                    self.config.offline_after)
        self._settle_state(last_error=f"no keepalive for {self.config.offline_after:.0f}s")

    # --- what the sender uses (sender.Host) ----------------------------------------------------

    def destination(self) -> tuple[str, int] | None:
        return self._address

    def refusal(self) -> str:
        if self._enabled and self._state.registered and self._offline_timer is not None:
            return ""
        return f"line {self.name} cannot send now ({self._state.state})"

    def changed(self, *, ended: bool = False, added: dict[str, int] | None = None, sent: bool = False) -> None:
        changes: dict[str, Any] = {k: getattr(self._state, k) + n for k, n in (added or {}).items()}
        if sent:
            changes["last_send_at"] = datetime.now().astimezone()
        self._settle_state(**changes)
        if ended:
            self.inbound.release()  # reports held while the outcome was unknown find their message now

    def note(self, **changes: Any) -> None:
        self._publish(**changes)

    def reply(self, packet: wire.Reply, address: tuple[str, int]) -> None:
        """An answer naming one of this line's session or send ids."""
        if self.commands.owns(packet.sid):
            self.commands.reply(packet)
        else:
            self.sender.reply(packet)

    def stopped(self) -> None:
        """The listener stops: a message whose SEND went out is in doubt, the others were never sent."""
        self._stopping = True
        self.sender.stopped()
        self.inbound.drop()
        self.commands.stopped()

    # --- events from the box ------------------------------------------------------------------

    def _received(self) -> None:
        self._publish(received=self._state.received + 1)

    def event(self, packet: wire.Event, address: tuple[str, int]) -> None:
        """An event of this channel: stored (when it is one to store), then acknowledged.

        A ``DELIVER`` that comes while the outcome of a SEND is unknown may report on that
        very send, whose ``OK <sms_no>`` was lost: stored now it would match no message.  It
        is held (unacknowledged) until the send ends, and the SEND is asked about at once."""
        send = self.sender.unknown_send()
        if packet.verb.upper() == "DELIVER" and send is not None:
            if self.inbound.hold(packet, address):
                self._listener.send_to(self._address, send)  # same tel id: answered from the box's memory
                return
        if self.inbound.event(packet, address) and self._address is None:
            self._address = address
